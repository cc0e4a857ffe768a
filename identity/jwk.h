// JSON Web Keys (RFC 7517) to OpenSSL EVP_PKEY public keys, with the
// constraints Portcullis places on keys it trusts. Pure functions; a Jwk is
// immutable once built and safe to share between threads.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "identity/jws.h"

namespace portcullis::identity {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

struct Jwk {
  std::string kid;  // may be empty
  std::string kty;  // RSA | EC | OKP
  std::string crv;  // EC and OKP
  std::string alg;  // optional: when set, the only alg this key verifies
  std::shared_ptr<EVP_PKEY> key;

  // True when this key may verify a token signed with `alg`: kty and curve
  // fit, and the JWK's own `alg` (if any) names exactly `alg`.
  bool usable_for(Alg alg) const;
};

// Builds one public key. Refused: private members (d, p, q, ...: a leaked
// private key is not a verification key), `use` other than "sig",
// `key_ops` without "verify", RSA under 2048 or over 8192 bits, even or tiny
// exponents, EC curves other than P-256/P-384, points not on the curve,
// OKP other than Ed25519, `oct` keys.
Result<Jwk> parse_jwk(const nlohmann::json& jwk);

// A JWK Set document (strict JSON). Keys that fail parse_jwk are skipped and
// counted in `skipped`; at most `max_keys` keys are taken. An error when the
// document is not a JWK Set at all.
struct JwkSet {
  std::vector<Jwk> keys;
  std::size_t skipped = 0;
};
Result<JwkSet> parse_jwks(std::string_view document, std::size_t max_keys = 32);

}  // namespace portcullis::identity
