// Test-only JWS verification with OpenSSL, independent of SigningKey: builds a
// public key from a JWK and checks a compact JWS against it.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/encoding.h"

namespace portcullis::credentials::testing {

// RFC 7515 §2: base64url without padding.
inline constexpr encoding::Base64Rules kJwsBase64{encoding::Base64Alphabet::kUrl, encoding::Base64Padding::kForbidden};

inline EVP_PKEY* pkey_from_jwk(const nlohmann::json& jwk) {
  if (jwk.at("kty") == "OKP" && jwk.at("crv") == "Ed25519") {
    auto x = encoding::base64_decode(jwk.at("x").get<std::string>(), kJwsBase64);
    if (!x) return nullptr;
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()),
                                       x->size());
  }
  if (jwk.at("kty") == "EC" && jwk.at("crv") == "P-256") {
    auto x = encoding::base64_decode(jwk.at("x").get<std::string>(), kJwsBase64);
    auto y = encoding::base64_decode(jwk.at("y").get<std::string>(), kJwsBase64);
    if (!x || !y || x->size() != 32 || y->size() != 32) return nullptr;
    std::string point = "\x04" + *x + *y;
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
      key = nullptr;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return key;
  }
  return nullptr;
}

// Verifies `jws` against the JWKS whose key has the header's kid; returns the
// payload JSON on success.
inline std::optional<nlohmann::json> verify_jws(const std::string& jws, const nlohmann::json& jwks) {
  auto d1 = jws.find('.'), d2 = jws.rfind('.');
  if (d1 == std::string::npos || d1 == d2) return std::nullopt;
  auto header = encoding::base64_decode(jws.substr(0, d1), kJwsBase64);
  auto payload = encoding::base64_decode(jws.substr(d1 + 1, d2 - d1 - 1), kJwsBase64);
  auto sig = encoding::base64_decode(jws.substr(d2 + 1), kJwsBase64);
  if (!header || !payload || !sig) return std::nullopt;
  auto h = nlohmann::json::parse(*header);
  const nlohmann::json* jwk = nullptr;
  for (const auto& k : jwks.at("keys"))
    if (k.at("kid") == h.at("kid")) jwk = &k;
  if (!jwk || (*jwk).at("alg") != h.at("alg")) return std::nullopt;
  EVP_PKEY* key = pkey_from_jwk(*jwk);
  if (!key) return std::nullopt;
  std::string input = jws.substr(0, d2);
  std::string der_or_raw = *sig;
  bool ec = h.at("alg") == "ES256";
  if (ec) {  // r||s -> DER
    if (sig->size() != 64) return std::nullopt;
    ECDSA_SIG* es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()) + 32, 32, nullptr));
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(es, &der);
    der_or_raw.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, ec ? EVP_sha256() : nullptr, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der_or_raw.data()), der_or_raw.size(),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) return std::nullopt;
  return nlohmann::json::parse(*payload);
}

}  // namespace portcullis::credentials::testing
