// RedisLimitCounter: rate-limit counters shared by every replica on one
// Redis (`state: { backend: redis }`), over one RedisLink. The gateway gives
// each worker its own, on a link driven by that worker's event loop, so a
// call that meets a limit costs no thread hop.
//
// Atomic and exact: the counts of a batch are checked and taken by one Lua
// script on Redis's clock (sliding window: two fixed windows, the previous
// one weighted by its overlap, like policy::InMemoryLimitCounter). A limit
// of N per window allows N calls in total across the replicas.
//
// Cheap: calls that arrive while a script is out, or in the same turn of the
// link's event loop, go together in the next script (one write, one read and
// one script run for many calls under load); the answer is one string of
// '1'/'0', one per request. The script is sent by SHA-1 (EVALSHA); its text
// goes only after a NOSCRIPT (a fresh or flushed Redis).
#pragma once

#include <functional>
#include <cstdint>
#include <mutex>
#include <utility>
#include <string>
#include <vector>

#include "common/redis_link.h"
#include "policy/limit_counter.h"

namespace portcullis::admin {

class RedisLimitCounter final : public policy::SharedLimitCounter {
 public:
  // Keys are prefix + "rl:" + limit key + ":" + window start (ms). While
  // `link` is down (e.g. a worker's link not connected yet), requests go to
  // `fallback` (the shared link's counter) when there is one.
  RedisLimitCounter(RedisLink& link, std::string prefix, policy::SharedLimitCounter* fallback = nullptr);

  // From any thread; `done` runs on the link's thread (or the fallback's).
  // Err at once when no link is up (the gateway then counts locally).
  void acquire(std::vector<policy::LimitRequest> requests,
               std::function<void(Result<std::vector<bool>>)> done) override;

  static const std::string& script_text();
  static const std::string& script_sha();

 private:
  struct Entry {
    std::vector<policy::LimitRequest> requests;
    std::function<void(Result<std::vector<bool>>)> done;
  };
  using Batch = std::vector<Entry>;
  void flush();  // on the link's thread
  void send(std::shared_ptr<Batch> batch, std::size_t n, bool with_text);
  void answer(const std::shared_ptr<Batch>& batch, std::size_t n, RedisLink::Reply r);

  RedisLink& link_;
  const std::string key_prefix_;
  policy::SharedLimitCounter* const fallback_;
  std::mutex mu_;
  Batch queue_;
  bool busy_ = false;  // a flush is scheduled or a script is out
  // On the link's thread only (send): kept across batches.
  std::string resp_;
  std::vector<const policy::LimitRequest*> counters_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> request_args_;
};

}  // namespace portcullis::admin
