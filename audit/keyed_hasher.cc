#include "audit/keyed_hasher.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <atomic>
#include <cstdlib>

#include "common/encoding.h"
#include "common/sha256.h"

namespace portcullis::audit {

Result<std::unique_ptr<KeyedHasher>> KeyedHasher::create(std::string key) {
  if (key.size() < 16) return Err("audit HMAC key: at least 16 bytes required");
  std::string id = sha256_hex(key).substr(0, 8);
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  EVP_MAC_free(mac);  // the context keeps its own reference
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  bool ok = ctx && EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1;
  OPENSSL_cleanse(key.data(), key.size());
  if (!ok) {
    EVP_MAC_CTX_free(ctx);
    return Err("audit HMAC key: OpenSSL cannot set up HMAC-SHA256");
  }
  return std::unique_ptr<KeyedHasher>(new KeyedHasher(std::move(id), ctx));
}

namespace {

std::atomic<std::uint64_t> next_instance{1};

// This thread's copy of one hasher's keyed context. A thread hashes for one
// log at a time; a hasher replaced (key rotation, reload, tests) just costs
// the next call a fresh copy.
struct ThreadContext {
  std::uint64_t instance = 0;
  EVP_MAC_CTX* ctx = nullptr;
  ~ThreadContext() { EVP_MAC_CTX_free(ctx); }  // frees and wipes the key material
};

}  // namespace

KeyedHasher::KeyedHasher(std::string key_id, evp_mac_ctx_st* keyed)
    : key_id_(std::move(key_id)), keyed_(keyed), instance_(next_instance.fetch_add(1)) {}

KeyedHasher::~KeyedHasher() { EVP_MAC_CTX_free(keyed_); }

std::string KeyedHasher::hash(std::string_view data) const {
  thread_local ThreadContext mine;
  if (mine.instance != instance_) {
    EVP_MAC_CTX_free(mine.ctx);
    mine.ctx = EVP_MAC_CTX_dup(keyed_);
    mine.instance = mine.ctx ? instance_ : 0;
  }
  unsigned char mac[32];
  std::size_t len = 0;
  // A null key re-initialises with the key already set (OpenSSL's HMAC
  // keeps the inner and outer pads).
  bool ok = mine.ctx && EVP_MAC_init(mine.ctx, nullptr, 0, nullptr) == 1 &&
            EVP_MAC_update(mine.ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
            EVP_MAC_final(mine.ctx, mac, &len, sizeof mac) == 1;
  if (!ok) std::abort();  // allocation failure: nothing sensible to record
  return "hmac-sha256:" + key_id_ + ":" + encoding::hex_encode(std::string_view(reinterpret_cast<char*>(mac), len));
}

}  // namespace portcullis::audit
