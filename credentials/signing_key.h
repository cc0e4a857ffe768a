// SigningKey: an asymmetric key for JWS signatures, ES256 (P-256) or EdDSA
// (Ed25519), over OpenSSL 3 EVP. Kept in the vault as PKCS#8 PEM.
//
// Thread: a SigningKey is immutable after construction; sign() may be called
// from several threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "credentials/secret.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace portcullis::credentials {

class SigningKey {
 public:
  enum class Algorithm { kES256, kEdDSA };

  static Result<SigningKey> generate(Algorithm alg);
  // A PKCS#8 (or traditional EC) private key in PEM. The algorithm follows the
  // key type; other key types are refused.
  static Result<SigningKey> from_pem(const Secret& pem);
  static Result<Algorithm> parse_algorithm(std::string_view name);  // "ES256" | "EdDSA"

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  Algorithm algorithm() const { return alg_; }
  const char* jws_alg() const { return alg_ == Algorithm::kES256 ? "ES256" : "EdDSA"; }
  // The private key as PKCS#8 PEM (for the vault).
  Result<Secret> to_pem() const;
  // The public key as a JWK object (JSON text) with "kid", "alg" and "use":"sig".
  std::string public_jwk() const;
  // RFC 7638 JWK thumbprint (SHA-256, base64url); also used as the kid.
  const std::string& thumbprint() const { return thumbprint_; }
  // The JWS signature of `data` (for ES256, the 64-byte r||s form, RFC 7518 §3.4).
  Result<std::string> sign(std::string_view data) const;
  // Compact JWS: base64url(header).base64url(payload).base64url(signature),
  // header = {"alg","kid","typ":typ}.
  Result<std::string> sign_jwt(std::string_view payload_json, std::string_view typ = "JWT") const;

 private:
  SigningKey(EVP_PKEY* key, Algorithm alg);
  // The required JWK members in lexicographic order (RFC 7638 §3.2 input).
  std::string jwk_members() const;

  EVP_PKEY* key_ = nullptr;
  Algorithm alg_ = Algorithm::kES256;
  std::string thumbprint_;
};

}  // namespace portcullis::credentials
