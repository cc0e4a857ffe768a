// LimitCounter: the rate-limit store behind rule `limits:`. The engine calls
// try_acquire() once per limit of each rule that would let a call through.
// InMemoryLimitCounter serves one process; the gateway may plug a shared
// (e.g. Redis) implementation behind the same interface.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

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

// ---- limits shared by several replicas ----
//
// A shared store (Redis) cannot answer try_acquire() without waiting, and the
// engine is synchronous. So a request is decided twice when it meets limits:
// first with a RecordingLimitCounter (grants everything, writes down what the
// engine asked), then the store answers all the asks at once, atomically
// (SharedLimitCounter::acquire), then the engine decides again with a
// ReplayLimitCounter that gives those answers. decide() is a pure function of
// the facts and the answers, so the second pass asks the same questions in
// the same order up to the first refusal of each group, after which the
// engine asks nothing more in that group (a group = one call of the engine:
// one decision).

struct LimitRequest {
  std::string key;
  std::uint32_t limit = 0;
  std::chrono::milliseconds window{0};
  std::uint32_t group = 0;
};

class SharedLimitCounter {
 public:
  virtual ~SharedLimitCounter() = default;
  // Counts the requests, in order, as one atomic step: within a group, the
  // first refused request stops counting for the rest of that group. The
  // answer (one bool per request) or an Err (store unreachable, timed out)
  // comes on the store's thread. The store's clock is the window clock.
  virtual void acquire(std::vector<LimitRequest> requests,
                       std::function<void(Result<std::vector<bool>>)> done) = 0;
};

class RecordingLimitCounter final : public LimitCounter {
 public:
  void set_group(std::uint32_t g) { group_ = g; }
  bool try_acquire(const std::string& key, std::uint32_t limit, std::chrono::milliseconds window,
                   std::chrono::system_clock::time_point) override {
    requests_.push_back({key, limit, window, group_});
    return true;
  }
  std::vector<LimitRequest>& requests() { return requests_; }

 private:
  std::uint32_t group_ = 0;
  std::vector<LimitRequest> requests_;
};

// Answers the engine's second pass from the store's answers, matched by
// group and position within the group. An ask the first pass did not make
// (cannot happen with a pure engine) is refused: fail closed.
class ReplayLimitCounter final : public LimitCounter {
 public:
  ReplayLimitCounter(const std::vector<LimitRequest>& requests, const std::vector<bool>& granted)
      : requests_(requests), granted_(granted) {}
  void set_group(std::uint32_t g) {
    group_ = g;
    pos_ = 0;
  }
  bool try_acquire(const std::string& key, std::uint32_t, std::chrono::milliseconds,
                   std::chrono::system_clock::time_point) override {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < requests_.size(); ++i) {
      if (requests_[i].group != group_) continue;
      if (seen++ == pos_) {
        ++pos_;
        return requests_[i].key == key && i < granted_.size() && granted_[i];
      }
    }
    return false;
  }

 private:
  const std::vector<LimitRequest>& requests_;
  const std::vector<bool>& granted_;
  std::uint32_t group_ = 0;
  std::size_t pos_ = 0;
};

}  // namespace portcullis::policy
