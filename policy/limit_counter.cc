#include "policy/limit_counter.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace portcullis::policy {

namespace {

constexpr std::size_t kShards = 16;

using Clock = std::chrono::system_clock;

struct Window {
  std::int64_t window_ms = 0;   // the window the counts were kept for
  std::int64_t start_ms = 0;    // start of the current fixed window
  std::uint64_t current = 0;    // events in [start, start + window)
  std::uint64_t previous = 0;   // events in the fixed window before it
  std::int64_t last_ms = 0;     // last event, for idle sweeping and LRU
};

std::int64_t millis(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

struct InMemoryLimitCounter::Shard {
  std::mutex mu;
  std::unordered_map<std::string, Window> windows;
};

InMemoryLimitCounter::InMemoryLimitCounter(std::size_t max_keys)
    : per_shard_(std::max<std::size_t>(1, max_keys / kShards)), shards_(new Shard[kShards]) {}

InMemoryLimitCounter::~InMemoryLimitCounter() = default;

bool InMemoryLimitCounter::try_acquire(const std::string& key, std::uint32_t limit,
                                       std::chrono::milliseconds window, Clock::time_point now) {
  if (limit == 0) return false;
  const std::int64_t w = std::max<std::int64_t>(1, window.count());
  const std::int64_t t = millis(now);
  Shard& shard = shards_[std::hash<std::string>{}(key) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);

  auto it = shard.windows.find(key);
  if (it == shard.windows.end()) {
    if (shard.windows.size() >= per_shard_) {
      // Sweep keys idle for two of their windows: their counts are zero.
      std::erase_if(shard.windows, [t](const auto& kv) { return t - kv.second.last_ms >= 2 * kv.second.window_ms; });
      if (shard.windows.size() >= per_shard_) {
        // Still full of live keys: evict the least recently used eighth at
        // once, so the scan is paid once per many insertions.
        std::vector<std::int64_t> ages;
        ages.reserve(shard.windows.size());
        for (const auto& kv : shard.windows) ages.push_back(kv.second.last_ms);
        const std::size_t n = std::max<std::size_t>(1, ages.size() / 8);
        std::nth_element(ages.begin(), ages.begin() + static_cast<std::ptrdiff_t>(n - 1), ages.end());
        const std::int64_t cutoff = ages[n - 1];
        std::size_t evicted = 0;
        for (auto at = shard.windows.begin(); at != shard.windows.end() && evicted < n;) {
          if (at->second.last_ms <= cutoff) {
            at = shard.windows.erase(at);
            ++evicted;
          } else {
            ++at;
          }
        }
      }
    }
    it = shard.windows.emplace(key, Window{w, t - (t % w), 0, 0, t}).first;
  }
  Window& s = it->second;
  if (s.window_ms != w) s = Window{w, t - (t % w), 0, 0, t};  // the limit changed (reload)

  const std::int64_t start = t - (t % w);
  if (start > s.start_ms) {
    s.previous = (start - s.start_ms == w) ? s.current : 0;
    s.current = 0;
    s.start_ms = start;
  }
  // A clock that steps back counts into the current window.
  s.last_ms = std::max(s.last_ms, t);
  const std::int64_t elapsed = std::clamp<std::int64_t>(t - s.start_ms, 0, w);
  // Weighted estimate of events in (t - w, t]: the part of the previous fixed
  // window still inside the sliding window, plus the current one.
  const double overlap = static_cast<double>(w - elapsed) / static_cast<double>(w);
  const double estimate = static_cast<double>(s.previous) * overlap + static_cast<double>(s.current);
  if (estimate + 1.0 > static_cast<double>(limit)) return false;
  ++s.current;
  return true;
}

std::size_t InMemoryLimitCounter::size() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    n += shards_[i].windows.size();
  }
  return n;
}

}  // namespace portcullis::policy
