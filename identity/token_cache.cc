#include "identity/token_cache.h"

#include <cstring>

#include "common/sha256.h"

namespace portcullis::identity {

TokenKey token_key(std::string_view token) { return sha256(token); }

std::size_t TokenCache::KeyHash::operator()(const TokenKey& k) const {
  std::size_t h;
  std::memcpy(&h, k.data() + 8, sizeof h);  // a uniform digest: any 8 bytes will do
  return h;
}

TokenCache::TokenCache(std::size_t capacity, std::size_t shards) {
  if (shards == 0) shards = 1;
  per_shard_ = std::max<std::size_t>(1, (capacity + shards - 1) / shards);
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

TokenCache::Shard& TokenCache::shard(const TokenKey& key) { return *shards_[key[0] % shards_.size()]; }

std::optional<TokenCache::Entry> TokenCache::get(const TokenKey& key, TimePoint now) {
  Shard& s = shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.index.find(key);
  if (it == s.index.end()) return std::nullopt;
  if (now >= it->second->second.not_after) {
    s.lru.erase(it->second);
    s.index.erase(it);
    return std::nullopt;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  return it->second->second;
}

void TokenCache::put(const TokenKey& key, Entry entry, TimePoint now) {
  if (entry.not_after <= now) return;
  Shard& s = shard(key);
  std::lock_guard lock(s.mu);
  if (auto it = s.index.find(key); it != s.index.end()) {
    it->second->second = std::move(entry);
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return;
  }
  if (s.index.size() >= per_shard_) {
    s.index.erase(s.lru.back().first);
    s.lru.pop_back();
  }
  s.lru.emplace_front(key, std::move(entry));
  s.index.emplace(key, s.lru.begin());
}

void TokenCache::clear() {
  for (auto& s : shards_) {
    std::lock_guard lock(s->mu);
    s->index.clear();
    s->lru.clear();
  }
}

std::size_t TokenCache::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    n += s->index.size();
  }
  return n;
}

}  // namespace portcullis::identity
