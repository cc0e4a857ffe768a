#include "identity/introspection.h"

#include <doctest/doctest.h>

#include "common/encoding.h"
#include "tests/identity/fakes.h"

using namespace portcullis::identity;
namespace encoding = portcullis::encoding;
using namespace portcullis::identity::testing;
using nlohmann::json;
using portcullis::Result;

namespace {

const std::string kUrl = "https://as.example/introspect";

portcullis::config::IntrospectionConfig config() {
  portcullis::config::IntrospectionConfig c;
  c.url = kUrl;
  c.client_id = "portcullis";
  return c;
}

}  // namespace

TEST_CASE("introspection posts the token with HTTP Basic client authentication") {
  FakeHttp http;
  http.routes[kUrl] = {200, R"({"active":true,"sub":"u"})"};
  auto in = Introspector::create(config(), "s3cr:t", http);
  std::optional<Result<json, AuthError>> answer;
  in->introspect("tok en+/=", [&](Result<json, AuthError> r) { answer = std::move(r); });
  REQUIRE(answer);
  REQUIRE(answer->ok());
  CHECK((**answer)["sub"] == "u");
  REQUIRE(http.requests.size() == 1);
  const auto& req = http.requests[0];
  CHECK(req.method == "POST");
  CHECK(req.body == "token=tok+en%2B%2F%3D&token_type_hint=access_token");
  bool basic = false, form = false;
  for (const auto& [k, v] : req.headers) {
    basic = basic || (k == "Authorization" && v == "Basic " + encoding::base64_encode("portcullis:s3cr%3At"));
    form = form || (k == "Content-Type" && v == "application/x-www-form-urlencoded");
  }
  CHECK(basic);
  CHECK(form);
  CHECK(in->stats().active == 1);
}

TEST_CASE("an inactive token is invalid") {
  FakeHttp http;
  http.routes[kUrl] = {200, R"({"active":false})"};
  auto in = Introspector::create(config(), "s", http);
  std::optional<Result<json, AuthError>> answer;
  in->introspect("t", [&](Result<json, AuthError> r) { answer = std::move(r); });
  CHECK(answer->error().kind == AuthError::Kind::kInvalidToken);
  CHECK(in->stats().inactive == 1);
}

TEST_CASE("active must be the JSON boolean true") {
  FakeHttp http;
  auto in = Introspector::create(config(), "s", http);
  for (const char* body : {R"({"active":"true"})", R"({"active":1})", R"({"sub":"u"})", R"({"active":true,"active":false})"}) {
    http.routes[kUrl] = {200, body};
    std::optional<Result<json, AuthError>> answer;
    in->introspect("t", [&](Result<json, AuthError> r) { answer = std::move(r); });
    CHECK_FALSE_MESSAGE(answer->ok(), body);
  }
}

TEST_CASE("an unreachable or failing endpoint makes the token unjudgeable") {
  FakeHttp http;
  auto in = Introspector::create(config(), "s", http);
  for (auto canned : {FakeHttp::Canned{500, "{}"}, FakeHttp::Canned{200, "not json"}, FakeHttp::Canned{200, "", {}, true}}) {
    http.routes[kUrl] = canned;
    std::optional<Result<json, AuthError>> answer;
    in->introspect("t", [&](Result<json, AuthError> r) { answer = std::move(r); });
    CHECK(answer->error().kind == AuthError::Kind::kUnavailable);
  }
  CHECK(in->stats().failures == 3);
}
