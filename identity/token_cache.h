// Verified-token cache: SHA-256(token) -> the Principal built from it, so a
// token seen again skips parsing and signature checks. Bounded (sharded
// LRU); an entry is never returned at or after its `not_after` (the token's
// exp with no clock skew, or a shorter bound). Thread-safe: one mutex per
// shard, held for a hash-map lookup and a list splice.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "identity/principal.h"

namespace portcullis::identity {

using TokenKey = std::array<std::uint8_t, 32>;

// SHA-256 of the token (a fetched digest and a per-thread context: no
// allocation, no implicit fetch).
TokenKey token_key(std::string_view token);

class TokenCache {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  struct Entry {
    PrincipalPtr principal;
    TimePoint not_after;
    std::size_t issuer_index = 0;  // which configured issuer vouched for it (or introspection)
  };

  explicit TokenCache(std::size_t capacity = 10000, std::size_t shards = 16);

  // The entry for `key` if present and now < not_after; an expired entry is
  // dropped. Refreshes the entry's LRU position.
  std::optional<Entry> get(const TokenKey& key, TimePoint now);
  // Inserts or replaces; evicts the least recently used entry of the shard
  // when full. Entries with not_after <= now are not stored.
  void put(const TokenKey& key, Entry entry, TimePoint now);
  void clear();
  std::size_t size() const;

 private:
  struct KeyHash {
    std::size_t operator()(const TokenKey& k) const;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<std::pair<TokenKey, Entry>> lru;  // front = most recent
    std::unordered_map<TokenKey, std::list<std::pair<TokenKey, Entry>>::iterator, KeyHash> index;
  };
  Shard& shard(const TokenKey& key);

  std::size_t per_shard_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace portcullis::identity
