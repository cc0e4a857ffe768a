// KeyedHasher: HMAC-SHA256 under the log's per-log key, used to store token
// ids and call arguments in a form that can be matched ("is this the same
// token?") but not reversed. Immutable; hash() may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

struct evp_mac_ctx_st;

namespace portcullis::audit {

class KeyedHasher {
 public:
  // `key` must be at least 16 bytes.
  static Result<std::unique_ptr<KeyedHasher>> create(std::string key);
  ~KeyedHasher();
  KeyedHasher(const KeyedHasher&) = delete;
  KeyedHasher& operator=(const KeyedHasher&) = delete;

  // "hmac-sha256:<key id>:<64 hex>". The key id (first 8 hex digits of the
  // SHA-256 of the key) tells which key to use when the key is rotated.
  std::string hash(std::string_view data) const;
  const std::string& key_id() const { return key_id_; }

 private:
  KeyedHasher(std::string key_id, evp_mac_ctx_st* keyed);
  std::string key_id_;
  // HMAC keyed once. Each thread hashes on its own copy, made on the
  // thread's first hash() and re-initialised (keeping the key's precomputed
  // pads) for every later one: half the cost of a copy per call.
  // EVP_MAC_CTX_dup takes a const context, so concurrent copies are safe.
  evp_mac_ctx_st* keyed_;
  std::uint64_t instance_;  // names this hasher in the per-thread copies (addresses get reused)
};

}  // namespace portcullis::audit
