// Symmetric primitives over OpenSSL 3 EVP, for the vault and the providers.
// All functions are thread-safe. Errors never contain key or plaintext bytes.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "credentials/secret.h"

namespace portcullis::credentials::crypto {

inline constexpr std::size_t kAesKeyBytes = 32;
inline constexpr std::size_t kGcmNonceBytes = 12;
inline constexpr std::size_t kGcmTagBytes = 16;

// Cryptographically random bytes (RAND_bytes). Aborts if the CSPRNG fails:
// continuing with weak keys would be worse.
Secret random_secret(std::size_t n);
std::string random_bytes(std::size_t n);  // for public values: nonces, jti

std::string sha256(std::string_view data);  // raw 32 bytes
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
// HKDF-SHA256 (RFC 5869) of `key` with `info`, no salt.
Secret hkdf_sha256(const Secret& key, std::string_view info, std::size_t length);

// AES-256-GCM with a fresh random 96-bit nonce. Output: nonce || ciphertext ||
// 16-byte tag. `aad` is authenticated, not encrypted.
Result<std::string> aes_gcm_seal(const Secret& key, std::string_view plaintext, std::string_view aad);
// Inverse of aes_gcm_seal. Fails (without detail, by design) when the key,
// the aad or any byte of `sealed` differs.
Result<Secret> aes_gcm_open(const Secret& key, std::string_view sealed, std::string_view aad);

}  // namespace portcullis::credentials::crypto
