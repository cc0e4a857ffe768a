#include "identity/auth_error.h"

#include <doctest/doctest.h>

using namespace portcullis::identity;

TEST_CASE("a missing token gets a bare challenge with resource_metadata") {
  CHECK(www_authenticate(AuthError::missing(), "https://gw/.well-known/oauth-protected-resource/mcp") ==
        R"(Bearer resource_metadata="https://gw/.well-known/oauth-protected-resource/mcp")");
  CHECK(http_status(AuthError::missing()) == 401);
}

TEST_CASE("an invalid token gets error and description") {
  CHECK(www_authenticate(AuthError::invalid("token expired"), "https://gw/m") ==
        R"(Bearer error="invalid_token", error_description="token expired", resource_metadata="https://gw/m")");
  CHECK(http_status(AuthError::invalid("x")) == 401);
}

TEST_CASE("unavailable gets 503 and no error code: the token was not judged invalid") {
  auto e = AuthError::unavailable("signing keys not loaded yet");
  CHECK(http_status(e) == 503);
  CHECK(www_authenticate(e, "https://gw/m") ==
        R"(Bearer error_description="signing keys not loaded yet", resource_metadata="https://gw/m")");
  CHECK(www_authenticate(e, "").find("invalid_token") == std::string::npos);
}

TEST_CASE("insufficient scope gets 403 and the scopes") {
  auto e = AuthError::insufficient_scope({"mcp.read", "mcp.write"});
  CHECK(www_authenticate(e, "") == R"(Bearer error="insufficient_scope", scope="mcp.read mcp.write")");
  CHECK(http_status(e) == 403);
}

TEST_CASE("quoted values cannot break out of the header") {
  auto h = www_authenticate(AuthError::invalid("a\"b\\c\r\nd"), "");
  CHECK(h == R"(Bearer error="invalid_token", error_description="a?b?c??d")");
}

TEST_CASE("the bearer token is read from the Authorization header") {
  CHECK(bearer_token("Bearer abc.def.ghi").value() == "abc.def.ghi");
  CHECK(bearer_token("bearer abc").value() == "abc");
  CHECK(bearer_token("").error().kind == AuthError::Kind::kMissingToken);
  CHECK(bearer_token("Basic dXNlcjpwYXNz").error().kind == AuthError::Kind::kMissingToken);
  CHECK(bearer_token("Bearer ").error().kind == AuthError::Kind::kInvalidToken);
  CHECK(bearer_token("Bearer a b").error().kind == AuthError::Kind::kInvalidToken);
  CHECK(bearer_token("Bearer a\"b").error().kind == AuthError::Kind::kInvalidToken);
}
