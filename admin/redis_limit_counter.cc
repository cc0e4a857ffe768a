#include "admin/redis_limit_counter.h"

#include <algorithm>
#include <charconv>
#include <memory>

#include "admin/util.h"

namespace portcullis::admin {
namespace {

// Sliding-window counters, the same estimate as InMemoryLimitCounter, on
// Redis's clock. ARGV: prefix, the number of distinct counters K, K x (limit
// key, window ms, limit), then per request: counter index (1-based), group.
// Returns one '1' (granted, counted) or '0' (refused, not counted) per
// request; within a group, nothing is counted after the first refusal.
// Each counter is read once per script and written once (INCRBY) at the end:
// under load a batch holds many calls on a few keys, and a redis.call costs
// far more than the arithmetic. (A limit key names its window, so one
// counter key never serves two windows.)
const char* kLimits = R"(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = ARGV[1]
local k = tonumber(ARGV[2])
local keys, est, add, win, lim = {}, {}, {}, {}, {}
for j = 1, k do
  local w = tonumber(ARGV[3 * j + 1])
  local start = now - (now % w)
  local key = prefix .. ARGV[3 * j] .. ':'
  keys[j] = key .. start
  local cur = tonumber(redis.call('GET', keys[j]) or '0')
  local prev = tonumber(redis.call('GET', key .. (start - w)) or '0')
  est[j] = prev * (w - (now - start)) / w + cur
  add[j] = 0
  win[j] = w
  lim[j] = tonumber(ARGV[3 * j + 2])
end
local out = {}
local stopped = {}
for i = 3 + 3 * k, #ARGV, 2 do
  local g = ARGV[i + 1]
  if stopped[g] then
    out[#out + 1] = '0'
  else
    local j = tonumber(ARGV[i])
    if est[j] + add[j] + 1 > lim[j] then
      out[#out + 1] = '0'
      stopped[g] = true
    else
      add[j] = add[j] + 1
      out[#out + 1] = '1'
    end
  end
end
for j = 1, k do
  -- The expiry is set once, when the window's key is created: it then
  -- outlives the next window, where it is the "previous" count.
  if add[j] > 0 and redis.call('INCRBY', keys[j], add[j]) == add[j] then
    redis.call('PEXPIRE', keys[j], 2 * win[j] + 1000)
  end
end
return table.concat(out))";

// RESP: one bulk string.
void append_bulk(std::string& out, std::string_view arg) {
  char len[24];
  auto [end, ec] = std::to_chars(len, len + sizeof len, arg.size());
  (void)ec;
  out.push_back('$');
  out.append(len, end);
  out.append("\r\n");
  out.append(arg);
  out.append("\r\n");
}

void append_bulk(std::string& out, std::uint64_t n) {
  char num[24];
  auto [end, ec] = std::to_chars(num, num + sizeof num, n);
  (void)ec;
  append_bulk(out, std::string_view(num, static_cast<std::size_t>(end - num)));
}

}  // namespace

const std::string& RedisLimitCounter::script_text() {
  static const std::string text(kLimits);
  return text;
}

const std::string& RedisLimitCounter::script_sha() {
  static const std::string sha = detail::sha1_hex(script_text());
  return sha;
}

RedisLimitCounter::RedisLimitCounter(RedisLink& link, std::string prefix, policy::SharedLimitCounter* fallback)
    : link_(link), key_prefix_(std::move(prefix) + "rl:"), fallback_(fallback) {}

void RedisLimitCounter::acquire(std::vector<policy::LimitRequest> requests,
                                std::function<void(Result<std::vector<bool>>)> done) {
  if (!link_.connected()) {
    if (fallback_) fallback_->acquire(std::move(requests), std::move(done));
    else done(Err("Redis is unreachable"));
    return;
  }
  {
    std::lock_guard lk(mu_);
    queue_.push_back(Entry{std::move(requests), std::move(done)});
    if (busy_) return;  // goes with the next script
    busy_ = true;
  }
  // Two posts: the flush runs after the link's loop has handled the events
  // that were ready with this one (on a worker: the other connections'
  // requests read in the same turn), so those join this script.
  link_.post([this] { link_.post([this] { flush(); }); });
}

void RedisLimitCounter::flush() {
  auto batch = std::make_shared<Batch>();
  {
    std::lock_guard lk(mu_);
    batch->swap(queue_);
    if (batch->empty()) {
      busy_ = false;
      return;
    }
  }
  std::size_t n = 0;
  for (const auto& e : *batch) n += e.requests.size();
  send(std::move(batch), n, false);
}

void RedisLimitCounter::send(std::shared_ptr<Batch> batch, std::size_t n, bool with_text) {
  // The distinct counters first (a batch under load holds many calls on a
  // few keys), then each request as (counter index, group). Built as RESP in
  // a buffer kept across batches: no allocation per argument.
  counters_.clear();
  request_args_.clear();
  std::uint64_t group_base = 0;
  for (const auto& e : *batch) {
    std::uint64_t groups = 0;
    for (const auto& q : e.requests) {
      std::size_t j = 0;
      while (j < counters_.size() && (counters_[j]->key != q.key || counters_[j]->window != q.window ||
                                      counters_[j]->limit != q.limit))
        ++j;
      if (j == counters_.size()) counters_.push_back(&q);
      // Groups are per call: each call's groups get numbers of their own.
      request_args_.push_back({j + 1, group_base + q.group});
      groups = std::max<std::uint64_t>(groups, q.group + 1);
    }
    group_base += groups;
  }
  resp_.clear();
  resp_.push_back('*');
  resp_.append(std::to_string(5 + 3 * counters_.size() + 2 * request_args_.size()));
  resp_.append("\r\n");
  append_bulk(resp_, with_text ? std::string_view("EVAL") : std::string_view("EVALSHA"));
  append_bulk(resp_, with_text ? script_text() : script_sha());
  append_bulk(resp_, std::string_view("0"));
  append_bulk(resp_, key_prefix_);
  append_bulk(resp_, counters_.size());
  for (const auto* q : counters_) {
    append_bulk(resp_, q->key);
    append_bulk(resp_, static_cast<std::uint64_t>(std::max<std::int64_t>(1, q->window.count())));
    append_bulk(resp_, q->limit);
  }
  for (const auto& [j, g] : request_args_) {
    append_bulk(resp_, j);
    append_bulk(resp_, g);
  }
  link_.command_resp(resp_, [this, batch = std::move(batch), n, with_text](RedisLink::Reply r) mutable {
    // A fresh or flushed Redis does not know the script yet: send its text
    // once (which also loads it for the next EVALSHA).
    if (!with_text && r && r->is_error() && r->str.rfind("NOSCRIPT", 0) == 0) {
      send(std::move(batch), n, true);
      return;
    }
    answer(batch, n, std::move(r));
    flush();  // what queued meanwhile goes now
  });
}

void RedisLimitCounter::answer(const std::shared_ptr<Batch>& batch, std::size_t n, RedisLink::Reply r) {
  std::optional<std::string> error;
  if (!r) error = r.error().message;
  else if (r->is_error()) error = "Redis: the rate-limit script failed: " + r->str;
  else if (r->type != RedisValue::Type::kString || r->str.size() != n)
    error = "Redis: unexpected answer to the rate-limit script";
  std::size_t at = 0;
  for (auto& e : *batch) {
    if (error) {
      e.done(Err(*error));
      continue;
    }
    std::vector<bool> out(e.requests.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = r->str[at + i] == '1';
    at += out.size();
    e.done(std::move(out));
  }
}

}  // namespace portcullis::admin
