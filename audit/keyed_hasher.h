// KeyedHasher: HMAC-SHA256 under the log's per-log key, used to store token
// ids and call arguments in a form that can be matched ("is this the same
// token?") but not reversed. Immutable; hash() may be called from any thread.
#pragma once

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
  // HMAC keyed once; each hash() works on a copy (EVP_MAC_CTX_dup takes a
  // const context, so concurrent copies are safe). Keying and fetching HMAC
  // on every call cost twice as much.
  evp_mac_ctx_st* keyed_;
};

}  // namespace portcullis::audit
