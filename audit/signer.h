// Ed25519 keys for signed checkpoints and key rotation records.
//
// A Signer holds one private key (from a 32-byte raw seed or a PKCS#8 PEM, as
// read from the vault or a key file by the caller, or freshly generated). It
// is immutable after construction; sign() may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace portcullis::audit {

class Signer {
 public:
  // `key` is either exactly 32 raw bytes (the Ed25519 seed) or a PEM
  // "PRIVATE KEY" block holding an Ed25519 key.
  static Result<std::unique_ptr<Signer>> from_bytes(std::string_view key);
  static std::unique_ptr<Signer> generate();
  ~Signer();

  // 64-byte signature over `message`.
  std::string sign(std::string_view message) const;
  const std::string& public_key() const { return public_raw_; }  // 32 raw bytes
  const std::string& key_id() const { return key_id_; }          // "ed25519:<16 hex>"
  std::string public_pem() const;

 private:
  struct Impl;
  explicit Signer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string public_raw_;
  std::string key_id_;
};

// "ed25519:" + first 16 hex digits of SHA-256(raw public key).
std::string ed25519_key_id(std::string_view public_raw);
// True when `signature` is a valid Ed25519 signature of `message` by the raw
// 32-byte `public_raw`.
bool ed25519_verify(std::string_view public_raw, std::string_view message, std::string_view signature);
// Reads a PEM "PUBLIC KEY" (Ed25519) or 32 raw bytes; returns the raw key.
Result<std::string> ed25519_public_from_bytes(std::string_view key);
std::string ed25519_public_pem(std::string_view public_raw);

}  // namespace portcullis::audit
