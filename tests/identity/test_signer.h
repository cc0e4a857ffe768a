// Test-only JWT signing: keys generated with OpenSSL, their public JWKs, and
// compact tokens signed with any algorithm (also HS256 and crafted raw
// signatures for hostile cases). Shared by tests/identity and bench/identity.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace portcullis::identity::testing {

struct TestKey {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string kind;  // RSA | P-256 | P-384 | Ed25519
};

TestKey make_rsa(int bits = 2048);
TestKey make_ec(const std::string& curve);  // P-256 | P-384
TestKey make_ed25519();

// Generated once per process (keygen is slow).
const TestKey& rsa_key();
const TestKey& rsa_key2();
const TestKey& p256_key();
const TestKey& p384_key();
const TestKey& ed25519_key();

// The public JWK of `key`; `alg` and `use` added when not empty.
nlohmann::json public_jwk(const TestKey& key, const std::string& kid, const std::string& alg = "",
                          const std::string& use = "");

// Signature bytes (raw JWS form) of `input` with `key` under JOSE `alg`.
std::string sign_bytes(const TestKey& key, std::string_view alg, std::string_view input);
std::string hmac_sha256(std::string_view secret, std::string_view input);

// header.payload.signature from raw JSON texts (so tests can write duplicate
// keys); the signature is made with `key` under `alg`.
std::string sign_raw(const TestKey& key, std::string_view alg, std::string_view header_json,
                     std::string_view payload_json);
// The same from JSON values: header gets alg (and kid when not empty).
std::string sign_jwt(const TestKey& key, std::string_view alg, const std::string& kid, nlohmann::json claims,
                     nlohmann::json header = nlohmann::json::object());

std::string b64(std::string_view bytes);  // base64url without padding

}  // namespace portcullis::identity::testing
