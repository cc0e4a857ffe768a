#include "identity/jwk.h"

// GCC 12 reports bogus -Wrestrict on inlined std::string copies (GCC bug 105651).
#pragma GCC diagnostic ignored "-Wrestrict"

#include <doctest/doctest.h>

#include "common/encoding.h"
#include "tests/identity/test_signer.h"

using namespace portcullis::identity;
namespace encoding = portcullis::encoding;
using namespace portcullis::identity::testing;

TEST_CASE("a JWK of each supported key type builds a public key") {
  for (const TestKey* k : {&rsa_key(), &p256_key(), &p384_key(), &ed25519_key()}) {
    auto jwk = parse_jwk(public_jwk(*k, "k1"));
    REQUIRE_MESSAGE(jwk.ok(), k->kind);
    CHECK(jwk->kid == "k1");
    CHECK(jwk->key != nullptr);
  }
}

TEST_CASE("an RSA JWK shorter than 2048 bits is refused") {
  auto small = make_rsa(1024);
  CHECK_FALSE(parse_jwk(public_jwk(small, "small")).ok());
}

TEST_CASE("a JWK whose use is not sig is refused") {
  CHECK_FALSE(parse_jwk(public_jwk(rsa_key(), "k", "", "enc")).ok());
  CHECK(parse_jwk(public_jwk(rsa_key(), "k", "", "sig")).ok());
}

TEST_CASE("a JWK with key_ops lacking verify is refused") {
  auto j = public_jwk(rsa_key(), "k");
  j["key_ops"] = {"encrypt"};
  CHECK_FALSE(parse_jwk(j).ok());
  j["key_ops"] = {"verify"};
  CHECK(parse_jwk(j).ok());
}

TEST_CASE("a JWK carrying private or symmetric material is refused") {
  auto j = public_jwk(p256_key(), "k");
  j["d"] = "AAAA";
  CHECK_FALSE(parse_jwk(j).ok());
  CHECK_FALSE(parse_jwk({{"kty", "oct"}, {"k", "c2VjcmV0"}}).ok());
}

TEST_CASE("an EC JWK whose point is not on the curve is refused") {
  auto j = public_jwk(p256_key(), "k");
  auto y = encoding::base64_decode(j["y"].get<std::string>(), {encoding::Base64Alphabet::kUrl, encoding::Base64Padding::kForbidden});
  (*y)[31] ^= 1;
  j["y"] = encoding::base64url_encode(*y);
  CHECK_FALSE(parse_jwk(j).ok());
}

TEST_CASE("an EC JWK whose crv does not match its coordinates is refused") {
  auto j = public_jwk(p256_key(), "k");
  j["crv"] = "P-384";
  CHECK_FALSE(parse_jwk(j).ok());
}

TEST_CASE("a JWK whose alg does not fit its key type is refused") {
  CHECK_FALSE(parse_jwk(public_jwk(rsa_key(), "k", "ES256")).ok());
  CHECK_FALSE(parse_jwk(public_jwk(p256_key(), "k", "ES384")).ok());
  CHECK_FALSE(parse_jwk(public_jwk(rsa_key(), "k", "HS256")).ok());
}

TEST_CASE("a JWK with alg is usable only for that alg") {
  auto jwk = parse_jwk(public_jwk(rsa_key(), "k", "RS256"));
  REQUIRE(jwk.ok());
  CHECK(jwk->usable_for(Alg::kRS256));
  CHECK_FALSE(jwk->usable_for(Alg::kPS256));
  CHECK_FALSE(jwk->usable_for(Alg::kES256));
}

TEST_CASE("a JWKS skips bad keys and keeps good ones") {
  nlohmann::json doc = {{"keys", {public_jwk(rsa_key(), "a"), public_jwk(make_rsa(1024), "b"), {{"kty", "oct"}}}}};
  auto set = parse_jwks(doc.dump());
  REQUIRE(set.ok());
  CHECK(set->keys.size() == 1);
  CHECK(set->skipped == 2);
}

TEST_CASE("a JWKS that is not a key set is an error") {
  CHECK_FALSE(parse_jwks("[]").ok());
  CHECK_FALSE(parse_jwks(R"({"keys":{}})").ok());
  CHECK_FALSE(parse_jwks(R"({"keys":[],"keys":[]})").ok());
}

TEST_CASE("a JWKS takes at most max_keys keys") {
  nlohmann::json keys = nlohmann::json::array();
  for (int i = 0; i < 5; ++i) keys.push_back(public_jwk(ed25519_key(), std::to_string(i).insert(0, "k")));
  auto set = parse_jwks(nlohmann::json{{"keys", keys}}.dump(), 3);
  REQUIRE(set.ok());
  CHECK(set->keys.size() == 3);
}
