// LimitCounter: the rate-limit store behind rule `limits:`. The engine calls
// try_acquire() once per limit of each rule that would let a call through.
// InMemoryLimitCounter serves one process; the gateway may plug a shared
// (e.g. Redis) implementation behind the same interface.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace portcullis::policy {

class LimitCounter {
 public:
  virtual ~LimitCounter() = default;
  // Counts one event for `key` at `now` and returns true if, counting it,
  // at most `limit` events fall in the `window` ending at `now`. Returns false
  // (and does not count it) otherwise. Must be thread-safe. May throw on a
  // store failure; the engine then denies (fail closed).
  virtual bool try_acquire(const std::string& key, std::uint32_t limit, std::chrono::milliseconds window,
                           std::chrono::system_clock::time_point now) = 0;
};

// Sliding-window counter (two fixed windows, the previous one weighted by its
// overlap with the sliding window), sharded by key hash, one mutex per shard.
// Memory is bounded: at most `max_keys` keys; when a shard is full, keys idle
// for two windows are dropped and, failing that, the least recently used
// eighth of the shard (whose callers then start afresh). Both are O(shard)
// scans paid once per many insertions.
class InMemoryLimitCounter final : public LimitCounter {
 public:
  explicit InMemoryLimitCounter(std::size_t max_keys = 100000);
  ~InMemoryLimitCounter() override;

  bool try_acquire(const std::string& key, std::uint32_t limit, std::chrono::milliseconds window,
                   std::chrono::system_clock::time_point now) override;

  std::size_t size() const;  // keys currently held

 private:
  struct Shard;
  std::size_t per_shard_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace portcullis::policy
