#include "identity/jwt.h"

#include <doctest/doctest.h>

#include "tests/identity/test_signer.h"

using namespace portcullis::identity;
using namespace portcullis::identity::testing;
using nlohmann::json;

namespace {

const json kClaims = {{"iss", "https://as"}, {"aud", "https://gw/mcp"}, {"exp", 2'000'000'000}, {"sub", "u"}};

std::string token_with_header(const json& header) { return sign_raw(rsa_key(), "RS256", header.dump(), kClaims.dump()); }

ClaimRules rules(const std::vector<std::string>& aud, std::int64_t now_s = 1'800'000'000) {
  ClaimRules r;
  r.issuer = "https://as";
  r.audiences = &aud;
  r.now = TimePoint(std::chrono::seconds(now_s));
  return r;
}

}  // namespace

TEST_CASE("a token is treated as a JWT when it has three parts") {
  CHECK(looks_like_jwt("a.b.c"));
  CHECK_FALSE(looks_like_jwt("opaque-token"));
  CHECK_FALSE(looks_like_jwt("a.b"));
  CHECK_FALSE(looks_like_jwt("a.b.c.d.e"));
}

TEST_CASE("a well-formed token decodes with its alg and kid") {
  auto jwt = decode_jwt(token_with_header({{"alg", "RS256"}, {"kid", "k1"}, {"typ", "at+jwt"}}));
  REQUIRE(jwt.ok());
  CHECK(jwt->alg == Alg::kRS256);
  CHECK(jwt->kid == "k1");
  CHECK(jwt->claims["sub"] == "u");
}

TEST_CASE("typ at+jwt, application/at+jwt and JWT are accepted in any case") {
  for (const char* typ : {"at+jwt", "AT+JWT", "application/at+jwt", "JWT", "jwt"})
    CHECK_MESSAGE(decode_jwt(token_with_header({{"alg", "RS256"}, {"typ", typ}})).ok(), typ);
}

TEST_CASE("other typ values are refused, and a missing typ when required") {
  for (const char* typ : {"dpop+jwt", "id_token+jwt", "secevent+jwt", ""})
    CHECK_FALSE(decode_jwt(token_with_header({{"alg", "RS256"}, {"typ", typ}})).ok());
  CHECK_FALSE(decode_jwt(token_with_header({{"alg", "RS256"}, {"typ", 1}})).ok());
  DecodeLimits strict;
  strict.require_typ = true;
  CHECK(decode_jwt(token_with_header({{"alg", "RS256"}})).ok());
  CHECK_FALSE(decode_jwt(token_with_header({{"alg", "RS256"}}), strict).ok());
}

TEST_CASE("a crit header is refused") {
  CHECK_FALSE(decode_jwt(token_with_header({{"alg", "RS256"}, {"crit", {"exp"}}, {"exp", 1}})).ok());
}

TEST_CASE("nested and encrypted token headers are refused") {
  CHECK_FALSE(decode_jwt(token_with_header({{"alg", "RS256"}, {"cty", "JWT"}})).ok());
  CHECK_FALSE(decode_jwt(token_with_header({{"alg", "RS256"}, {"enc", "A256GCM"}})).ok());
}

TEST_CASE("a token over the size limit is refused before parsing") {
  json big = kClaims;
  big["pad"] = std::string(9000, 'x');
  auto r = decode_jwt(sign_raw(rsa_key(), "RS256", R"({"alg":"RS256"})", big.dump()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().description == "token too large");
}

TEST_CASE("empty parts and unsigned tokens are refused") {
  CHECK_FALSE(decode_jwt("..").ok());
  CHECK_FALSE(decode_jwt(b64(R"({"alg":"RS256"})") + "." + b64(kClaims.dump()) + ".").ok());
}

TEST_CASE("numeric dates must be finite non-negative numbers") {
  CHECK(numeric_date(json(5)) == 5);
  CHECK(numeric_date(json(5.9)) == 5);
  CHECK_FALSE(numeric_date(json("5")));
  CHECK_FALSE(numeric_date(json(-1)));
  CHECK_FALSE(numeric_date(json(1e300)));
}

TEST_CASE("claims pass with the right issuer, audience and times") {
  std::vector<std::string> aud{"https://gw/mcp"};
  CHECK(validate_claims(kClaims, rules(aud)).ok());
  json arr = kClaims;
  arr["aud"] = {"other", "https://gw/mcp"};
  CHECK(validate_claims(arr, rules(aud)).ok());
}

TEST_CASE("claims fail on issuer, audience or expiry problems") {
  std::vector<std::string> aud{"https://gw/mcp"};
  auto bad = [&](json c) { return !validate_claims(c, rules(aud)).ok(); };
  json c = kClaims;
  c["iss"] = "https://evil";
  CHECK(bad(c));
  c = kClaims;
  c["aud"] = "https://other";
  CHECK(bad(c));
  c = kClaims;
  c.erase("aud");
  CHECK(bad(c));
  c = kClaims;
  c["aud"] = {1, "https://gw/mcp"};
  CHECK(bad(c));
  c = kClaims;
  c.erase("exp");
  CHECK(bad(c));
  c = kClaims;
  c["exp"] = "2000000000";
  CHECK(bad(c));
}

TEST_CASE("times are checked with the clock skew") {
  std::vector<std::string> aud{"https://gw/mcp"};
  json c = kClaims;
  c["exp"] = 1'800'000'000 - 30;  // expired 30 s ago: inside 60 s skew
  CHECK(validate_claims(c, rules(aud)).ok());
  c["exp"] = 1'800'000'000 - 61;
  CHECK_FALSE(validate_claims(c, rules(aud)).ok());
  c = kClaims;
  c["nbf"] = 1'800'000'000 + 30;
  CHECK(validate_claims(c, rules(aud)).ok());
  c["nbf"] = 1'800'000'000 + 120;
  CHECK_FALSE(validate_claims(c, rules(aud)).ok());
  c = kClaims;
  c["iat"] = 1'800'000'000 + 120;
  CHECK_FALSE(validate_claims(c, rules(aud)).ok());
}

TEST_CASE("introspection answers are checked only as far as fields are present") {
  std::vector<std::string> aud{"https://gw/mcp"};
  auto r = rules(aud);
  r.require_exp_and_aud = false;
  CHECK(validate_claims(json::object(), r).ok());
  CHECK_FALSE(validate_claims(json{{"exp", 1}}, r).ok());
  CHECK_FALSE(validate_claims(json{{"aud", "x"}}, r).ok());
}
