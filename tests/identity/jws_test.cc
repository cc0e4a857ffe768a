#include "identity/jws.h"

#include <doctest/doctest.h>

#include "identity/jwk.h"
#include "tests/identity/test_signer.h"

using namespace portcullis::identity;
using namespace portcullis::identity::testing;

namespace {

std::shared_ptr<EVP_PKEY> pub(const TestKey& k) { return parse_jwk(public_jwk(k, "k")).value().key; }

}  // namespace

TEST_CASE("every supported algorithm verifies its own signature") {
  struct Case { const char* alg; const TestKey* key; };
  for (auto c : {Case{"RS256", &rsa_key()}, Case{"RS384", &rsa_key()}, Case{"RS512", &rsa_key()},
                 Case{"PS256", &rsa_key()}, Case{"PS384", &rsa_key()}, Case{"PS512", &rsa_key()},
                 Case{"ES256", &p256_key()}, Case{"ES384", &p384_key()}, Case{"EdDSA", &ed25519_key()}}) {
    auto alg = parse_alg(c.alg);
    REQUIRE(alg);
    const std::string input = "header.payload";
    const auto sig = sign_bytes(*c.key, c.alg, input);
    CHECK_MESSAGE(verify_signature(*alg, pub(*c.key).get(), input, sig), c.alg);
    CHECK_FALSE_MESSAGE(verify_signature(*alg, pub(*c.key).get(), "header.payloaX", sig), c.alg);
  }
}

TEST_CASE("alg names are exact and none and HS are unknown") {
  for (const char* bad : {"none", "None", "NONE", "nOnE", "HS256", "HS384", "HS512", "rs256", "ES512", ""})
    CHECK_FALSE(parse_alg(bad));
}

TEST_CASE("an ECDSA signature with r or s zero is refused (CVE-2022-21449)") {
  auto key = pub(p256_key());
  const std::string zero(64, '\0');
  CHECK_FALSE(verify_signature(Alg::kES256, key.get(), "x", zero));
  auto good = sign_bytes(p256_key(), "ES256", "x");
  std::string r_zero = std::string(32, '\0') + good.substr(32);
  std::string s_zero = good.substr(0, 32) + std::string(32, '\0');
  CHECK_FALSE(verify_signature(Alg::kES256, key.get(), "x", r_zero));
  CHECK_FALSE(verify_signature(Alg::kES256, key.get(), "x", s_zero));
}

TEST_CASE("an ECDSA signature with r or s at or above the curve order is refused") {
  auto key = pub(p256_key());
  const std::string ff(32, '\xff');
  auto good = sign_bytes(p256_key(), "ES256", "x");
  CHECK_FALSE(verify_signature(Alg::kES256, key.get(), "x", ff + good.substr(32)));
  CHECK_FALSE(verify_signature(Alg::kES256, key.get(), "x", good.substr(0, 32) + ff));
}

TEST_CASE("an ECDSA signature in DER form or of the wrong length is refused") {
  auto key = pub(p256_key());
  auto good = sign_bytes(p256_key(), "ES256", "x");
  CHECK(verify_signature(Alg::kES256, key.get(), "x", good));
  CHECK_FALSE(verify_signature(Alg::kES256, key.get(), "x", good.substr(1)));
  CHECK_FALSE(verify_signature(Alg::kES256, key.get(), "x", good + std::string(1, '\0')));
}

TEST_CASE("a key of the wrong type never verifies") {
  auto sig = sign_bytes(p256_key(), "ES256", "x");
  CHECK_FALSE(verify_signature(Alg::kES384, pub(p256_key()).get(), "x", sig));
  CHECK_FALSE(verify_signature(Alg::kRS256, pub(p256_key()).get(), "x", sig));
  CHECK_FALSE(verify_signature(Alg::kEdDSA, pub(rsa_key()).get(), "x", sign_bytes(ed25519_key(), "EdDSA", "x")));
}

TEST_CASE("a PKCS#1 signature does not pass as PSS and the reverse") {
  auto key = pub(rsa_key());
  CHECK_FALSE(verify_signature(Alg::kPS256, key.get(), "x", sign_bytes(rsa_key(), "RS256", "x")));
  CHECK_FALSE(verify_signature(Alg::kRS256, key.get(), "x", sign_bytes(rsa_key(), "PS256", "x")));
}
