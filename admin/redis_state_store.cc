#include "admin/redis_state_store.h"

#include <algorithm>
#include <future>
#include <set>
#include <unordered_map>

#include "admin/util.h"

namespace portcullis::admin {
namespace {

using Clock = std::chrono::system_clock;

std::int64_t millis(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
Clock::time_point from_millis(std::int64_t ms) { return Clock::time_point(std::chrono::milliseconds(ms)); }

Status reply_status(const RedisLink::Reply& r) {
  if (!r) return Err(r.error().message);
  if (r->is_error()) return Err("Redis: " + r->str);
  return {};
}

std::int64_t as_int(const RedisValue& v) {
  if (v.type == RedisValue::Type::kInteger) return v.integer;
  if (v.type == RedisValue::Type::kString) {
    try {
      return std::stoll(v.str);
    } catch (...) {
    }
  }
  return 0;
}

// KEYS[1] kills, KEYS[2] kills:lifted. ARGV id, json, channel, message.
// A lifted id is never engaged again (a late re-publish must not undo a lift).
const char* kEngage = R"(
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1)";

// Lua prelude of the scripts that keep decided entries: drops the members of
// `hash` whose time in `zset` is older than `keep` ms (100 a call), and the
// oldest beyond `max`.
const std::string kTrim = R"(
local function trim(hash, zset, now, keep, max)
  local gone = redis.call('ZRANGEBYSCORE', zset, '-inf', now - keep, 'LIMIT', 0, 100)
  local extra = redis.call('ZCARD', zset) - #gone - max
  if extra > 0 then
    for _, x in ipairs(redis.call('ZRANGE', zset, #gone, #gone + extra - 1)) do gone[#gone + 1] = x end
  end
  for _, x in ipairs(gone) do
    redis.call('HDEL', hash, x)
    redis.call('ZREM', zset, x)
  end
end
)";

// KEYS[1] kills, KEYS[2] kills:lifted, KEYS[3] kills:lifted:at. ARGV id,
// channel, message, keep ms, max tombstones. The tombstone (lift time on
// Redis's clock) is kept `keep` ms, and at most `max` of them.
const std::string kLift = kTrim + R"(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], now)
redis.call('ZADD', KEYS[3], now, ARGV[1])
trim(KEYS[2], KEYS[3], now, tonumber(ARGV[4]), tonumber(ARGV[5]))
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1)";

// KEYS[1] kills, KEYS[2] kills:lifted, KEYS[3] kills:lifted:at. ARGV keep ms.
// Drops tombstones older than `keep`, then returns {kills, tombstones}
// (HGETALL form), read together.
const char* kResync = R"(
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local lifted = redis.call('HGETALL', KEYS[2])
local kept = {}
for i = 1, #lifted, 2 do
  if (tonumber(lifted[i + 1]) or 0) < cutoff then
    redis.call('HDEL', KEYS[2], lifted[i])
    redis.call('ZREM', KEYS[3], lifted[i])
  else
    kept[#kept + 1] = lifted[i]
    kept[#kept + 1] = lifted[i + 1]
  end
end
return {redis.call('HGETALL', KEYS[1]), kept})";

// KEYS[1] approvals:held, KEYS[2] approvals:held:at. ARGV id, call json,
// deadline ms. Held calls whose holder never resolved them (it died) are
// dropped a minute after their deadline.
const char* kShareHeld = R"(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
for _, x in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - 60000, 'LIMIT', 0, 100)) do
  redis.call('HDEL', KEYS[1], x)
  redis.call('ZREM', KEYS[2], x)
end
return 1)";

// KEYS[1] approvals:held, KEYS[2] approvals:decided, KEYS[3] approvals:decided:at, KEYS[4] approvals:held:at.
// ARGV id, record json, channel, message, publish (1/0), keep ms, max records,
// only if held (1/0: a call not in KEYS[1] is then not recorded either).
// Returns {1 claimed | 0 not shared (recorded all the same), ""} or
// {2, the record of the decision that came first}. Decided records older
// than `keep` ms are dropped, and the oldest beyond `max` records.
const std::string kClaim = kTrim + R"(
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then return {2, old} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('HDEL', KEYS[1], ARGV[1])
if held == 0 and ARGV[8] == '1' then return {0, ''} end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], now, ARGV[1])
trim(KEYS[2], KEYS[3], now, tonumber(ARGV[6]), tonumber(ARGV[7]))
if held == 1 and ARGV[5] == '1' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return {held, ''})";

// ARGV prefix, then per agent: id, requests, denials, first ms, last ms.
const char* kAgentCounts = R"(
local prefix = ARGV[1]
for i = 2, #ARGV, 5 do
  local id = ARGV[i]
  local k = prefix .. 'agent:' .. id
  redis.call('SADD', prefix .. 'agents', id)
  redis.call('HINCRBY', k, 'requests', ARGV[i + 1])
  redis.call('HINCRBY', k, 'denials', ARGV[i + 2])
  local f = redis.call('HGET', k, 'first_seen')
  if not f or tonumber(f) > tonumber(ARGV[i + 3]) then redis.call('HSET', k, 'first_seen', ARGV[i + 3]) end
  local l = redis.call('HGET', k, 'last_seen')
  if not l or tonumber(l) < tonumber(ARGV[i + 4]) then redis.call('HSET', k, 'last_seen', ARGV[i + 4]) end
end
return 1)";

// ARGV prefix. Returns id, requests, denials, first, last for every agent.
const char* kAgentList = R"(
local prefix = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', prefix .. 'agents')) do
  local v = redis.call('HMGET', prefix .. 'agent:' .. id, 'requests', 'denials', 'first_seen', 'last_seen')
  table.insert(out, id)
  for j = 1, 4 do table.insert(out, v[j] or '') end
end
return out)";

}  // namespace

struct RedisStateStore::Script {
  std::string text;
  std::string sha;
  explicit Script(std::string t) : text(std::move(t)), sha(detail::sha1_hex(text)) {}
};

// Scripts are process-wide constants.
static const RedisStateStore::Script* engage_script() {
  static RedisStateStore::Script s(kEngage);
  return &s;
}

RedisStateStore::RedisStateStore(RedisLink& link, std::unique_ptr<StateStore> local, Options options)
    : link_(link),
      local_(std::move(local)),
      options_(std::move(options)),
      nonce_(options_.replica + "/" + detail::random_id("", 8)),
      limits_(link, options_.prefix) {}

RedisStateStore::~RedisStateStore() = default;

void RedisStateStore::start() {
  link_.set_handlers(RedisLink::Handlers{
      .up = [this] { on_up(); },
      .down = [](const std::string&) {},
      .message = [this](const std::string& m) { on_message(m); },
  });
}

std::uint64_t RedisStateStore::resyncs() const {
  std::lock_guard lk(mu_);
  return resyncs_;
}

std::string RedisStateStore::message(const char* type, nlohmann::json body) const {
  body["from"] = nonce_;
  body["type"] = type;
  return body.dump();
}

void RedisStateStore::eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
                           RedisLink::ReplyCallback done) {
  std::vector<std::string> cmd{"EVALSHA", script.sha, std::to_string(keys.size())};
  for (auto& k : keys) cmd.push_back(std::move(k));
  for (auto& a : args) cmd.push_back(std::move(a));
  // NOSCRIPT (a fresh or flushed Redis): send the text once, which also loads it.
  link_.command(cmd, [this, cmd, &script, done = std::move(done)](RedisLink::Reply r) mutable {
    if (r && r->is_error() && r->str.rfind("NOSCRIPT", 0) == 0) {
      cmd[0] = "EVAL";
      cmd[1] = script.text;
      link_.command(std::move(cmd), std::move(done));
      return;
    }
    done(std::move(r));
  });
}

RedisLink::Reply RedisStateStore::call(std::vector<std::string> args) {
  auto p = std::make_shared<std::promise<RedisLink::Reply>>();
  auto f = p->get_future();
  link_.command(std::move(args), [p](RedisLink::Reply r) { p->set_value(std::move(r)); });
  // The link answers within its command timeout; the margin covers a link
  // that stopped (shutdown) and never answers.
  if (f.wait_for(options_.command_timeout * 2 + std::chrono::milliseconds(100)) != std::future_status::ready)
    return Err(std::string("Redis did not answer in time"));
  return f.get();
}

RedisLink::Reply RedisStateStore::call_eval(const Script& script, std::vector<std::string> keys,
                                            std::vector<std::string> args) {
  auto p = std::make_shared<std::promise<RedisLink::Reply>>();
  auto f = p->get_future();
  eval(script, std::move(keys), std::move(args), [p](RedisLink::Reply r) { p->set_value(std::move(r)); });
  if (f.wait_for(options_.command_timeout * 3 + std::chrono::milliseconds(100)) != std::future_status::ready)
    return Err(std::string("Redis did not answer in time"));
  return f.get();
}

// ---- kill switches ----

void RedisStateStore::sync_kill_switches(KillSwitchSync sync) {
  std::lock_guard lk(mu_);
  kill_sync_ = std::move(sync);
}

Status RedisStateStore::share_engaged(const KillSwitch& k) {
  if (!link_.connected()) return Err("Redis is unreachable; shared when it is back");
  auto j = to_json(k);
  auto r = call_eval(*engage_script(), {key("kills"), key("kills:lifted")},
                     {k.id, j.dump(), link_.channel(), message("kill", {{"switch", j}})});
  return reply_status(r);
}

static const RedisStateStore::Script* lift_script() {
  static RedisStateStore::Script s(kLift);
  return &s;
}

static const RedisStateStore::Script* resync_script() {
  static RedisStateStore::Script s(kResync);
  return &s;
}

std::vector<std::string> RedisStateStore::lift_args(const std::string& id) const {
  return {id, link_.channel(), message("lift", {{"id", id}}), std::to_string(options_.lifted_keep.count()),
          std::to_string(options_.lifted_max)};
}

Status RedisStateStore::share_lifted(const KillSwitch& k) {
  auto queue = [&] {
    std::lock_guard lk(mu_);
    pending_lifts_.push_back(k);
  };
  if (!link_.connected()) {
    queue();
    return Err("Redis is unreachable; the lift is shared when it is back");
  }
  auto r = call_eval(*lift_script(), {key("kills"), key("kills:lifted"), key("kills:lifted:at")}, lift_args(k.id));
  auto st = reply_status(r);
  if (!st) queue();
  return st;
}

void RedisStateStore::on_up() { resync(); }

// On the link's thread: read the switches and the tombstones (one script,
// which also trims old tombstones), then merge.
void RedisStateStore::resync() {
  eval(*resync_script(), {key("kills"), key("kills:lifted"), key("kills:lifted:at")},
       {std::to_string(options_.lifted_keep.count())}, [this](RedisLink::Reply r) {
    // On error the link reconnects, and resyncs again.
    if (!r || r->is_error() || r->type != RedisValue::Type::kArray || r->elements.size() != 2) return;
    const RedisValue* kills = &r->elements[0];
    const RedisValue* lifted = &r->elements[1];
    std::set<std::string> tomb;
    for (std::size_t i = 0; i + 1 < lifted->elements.size(); i += 2) tomb.insert(lifted->elements[i].str);
    std::unordered_map<std::string, KillSwitch> remote;
    for (std::size_t i = 0; i + 1 < kills->elements.size(); i += 2) {
      auto j = nlohmann::json::parse(kills->elements[i + 1].str, nullptr, false);
      auto k = kill_switch_from_json(j);
      if (k && !tomb.count(k->id)) remote.emplace(k->id, std::move(*k));
    }
    KillSwitchSync sync;
    std::vector<KillSwitch> lifts;
    {
      std::lock_guard lk(mu_);
      sync = kill_sync_;
      lifts = std::move(pending_lifts_);
      pending_lifts_.clear();
    }
    std::vector<KillSwitch> held = sync.held ? sync.held() : std::vector<KillSwitch>{};
    // Lifts made here while Redis was away: tombstone them everywhere.
    for (const auto& k : lifts) {
      tomb.insert(k.id);
      remote.erase(k.id);
      eval(*lift_script(), {key("kills"), key("kills:lifted"), key("kills:lifted:at")}, lift_args(k.id),
           [](RedisLink::Reply) {});
    }
    std::vector<KillSwitch> engaged;
    std::vector<std::string> lifted_here;
    std::set<std::string> held_ids;
    std::size_t republished = 0;
    for (const auto& k : held) {
      held_ids.insert(k.id);
      if (tomb.count(k.id)) {
        lifted_here.push_back(k.id);
      } else if (!remote.count(k.id)) {
        // Redis lacks it (it restarted empty, or it was engaged here while
        // Redis was away): publish it again.
        ++republished;
        auto j = to_json(k);
        // 0: lifted elsewhere between the read above and now: lift it here.
        eval(*engage_script(), {key("kills"), key("kills:lifted")},
             {k.id, j.dump(), link_.channel(), message("kill", {{"switch", j}})},
             [apply = sync.apply, id = k.id](RedisLink::Reply r) {
               if (r && r->type == RedisValue::Type::kInteger && r->integer == 0 && apply) apply({}, {id});
             });
      }
    }
    for (auto& [id, k] : remote)
      if (!held_ids.count(id)) engaged.push_back(std::move(k));
    if (sync.apply && (!engaged.empty() || !lifted_here.empty())) sync.apply(std::move(engaged), std::move(lifted_here));
    {
      std::lock_guard lk(mu_);
      ++resyncs_;  // after apply: a replica waiting for its first sync now knows every switch
    }
    if (on_resync_) on_resync_(republished, lifts.size());
  });
}

void RedisStateStore::on_message(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || j.value("from", "") == nonce_) return;
  std::string type = j.value("type", "");
  if (type == "kill" || type == "lift") {
    KillSwitchSync sync;
    {
      std::lock_guard lk(mu_);
      sync = kill_sync_;
    }
    if (!sync.apply) return;
    if (type == "kill") {
      auto k = kill_switch_from_json(j.value("switch", nlohmann::json()));
      if (k) sync.apply({std::move(*k)}, {});
    } else if (j.contains("id") && j["id"].is_string()) {
      sync.apply({}, {j["id"].get<std::string>()});
    }
  } else if (type == "decided") {
    std::function<void(const ApprovalRecord&)> decided;
    {
      std::lock_guard lk(mu_);
      decided = decided_;
    }
    auto r = approval_record_from_json(j.value("record", nlohmann::json()));
    if (decided && r) decided(*r);
  }
}

// ---- approvals ----

void RedisStateStore::sync_approvals(std::function<void(const ApprovalRecord&)> decided) {
  std::lock_guard lk(mu_);
  decided_ = std::move(decided);
}

static const RedisStateStore::Script* share_held_script() {
  static RedisStateStore::Script s(kShareHeld);
  return &s;
}

void RedisStateStore::share_held(const SharedHeldCall& call) {
  nlohmann::json j = call.call;
  j["holder"] = options_.replica;
  auto deadline = detail::parse_time(j.value("deadline", ""));
  auto ms = deadline ? millis(*deadline) : millis(Clock::now());
  eval(*share_held_script(), {key("approvals:held"), key("approvals:held:at")}, {call.id, j.dump(), std::to_string(ms)},
       [](RedisLink::Reply) {});
}

static const RedisStateStore::Script* claim_script() {
  static RedisStateStore::Script s(kClaim);
  return &s;
}

std::vector<std::string> RedisStateStore::claim_args(const ApprovalRecord& record, bool publish,
                                                     bool only_if_held) const {
  auto j = to_json(record);
  return {record.id,
          j.dump(),
          link_.channel(),
          publish ? message("decided", {{"record", j}}) : std::string(),
          publish ? "1" : "0",
          std::to_string(options_.decided_keep.count()),
          std::to_string(options_.decided_max),
          only_if_held ? "1" : "0"};
}

namespace {
Result<HeldClaimResult> claim_result(const RedisLink::Reply& r) {
  if (auto st = reply_status(r); !st) return Err(st.error());
  if (r->type != RedisValue::Type::kArray || r->elements.size() != 2)
    return Err(std::string("Redis: unexpected answer to the claim script"));
  HeldClaimResult out;
  switch (as_int(r->elements[0])) {
    case 1: out.claim = HeldClaim::kClaimed; break;
    case 2: {
      out.claim = HeldClaim::kAlreadyDecided;
      auto rec = approval_record_from_json(nlohmann::json::parse(r->elements[1].str, nullptr, false));
      if (rec) out.winner = std::move(*rec);
      break;
    }
    default: out.claim = HeldClaim::kNotShared; break;
  }
  return out;
}
}  // namespace

void RedisStateStore::claim_held_async(const ApprovalRecord& record,
                                       std::function<void(Result<HeldClaimResult>)> done) {
  if (!link_.connected()) {
    done(Err(std::string("Redis is unreachable")));
    return;
  }
  eval(*claim_script(), {key("approvals:held"), key("approvals:decided"), key("approvals:decided:at"), key("approvals:held:at")},
       claim_args(record, false, false), [done = std::move(done)](RedisLink::Reply r) { done(claim_result(r)); });
}

Result<HeldClaimResult> RedisStateStore::claim_held(const ApprovalRecord& record, bool only_if_held) {
  return claim_result(call_eval(*claim_script(),
                                {key("approvals:held"), key("approvals:decided"), key("approvals:decided:at"), key("approvals:held:at")},
                                claim_args(record, true, only_if_held)));
}

Result<std::optional<SharedHeldCall>> RedisStateStore::find_held(const std::string& id) {
  auto r = call({"HGET", key("approvals:held"), id});
  if (auto st = reply_status(r); !st) return Err(st.error());
  if (r->is_nil()) return std::optional<SharedHeldCall>();
  auto j = nlohmann::json::parse(r->str, nullptr, false);
  if (!j.is_object()) return std::optional<SharedHeldCall>();
  return std::optional<SharedHeldCall>(SharedHeldCall{id, std::move(j)});
}

Result<std::vector<SharedHeldCall>> RedisStateStore::list_held() {
  auto r = call({"HGETALL", key("approvals:held")});
  if (auto st = reply_status(r); !st) return Err(st.error());
  std::vector<SharedHeldCall> out;
  std::vector<std::string> stale;
  auto now = Clock::now();
  for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2) {
    auto j = nlohmann::json::parse(r->elements[i + 1].str, nullptr, false);
    if (!j.is_object()) continue;
    // A holder that died leaves its calls behind: drop them after their deadline.
    auto dl = detail::parse_time(j.value("deadline", ""));
    if (dl && *dl + std::chrono::minutes(1) < now) {
      stale.push_back(r->elements[i].str);
      continue;
    }
    out.push_back(SharedHeldCall{r->elements[i].str, std::move(j)});
  }
  if (!stale.empty()) {
    std::vector<std::string> del{"HDEL", key("approvals:held")};
    for (auto& s : stale) del.push_back(std::move(s));
    link_.command(std::move(del), [](RedisLink::Reply) {});
  }
  return out;
}

Result<std::optional<ApprovalRecord>> RedisStateStore::find_decided(const std::string& id) {
  auto r = call({"HGET", key("approvals:decided"), id});
  if (auto st = reply_status(r); !st) return Err(st.error());
  if (r->is_nil()) return std::optional<ApprovalRecord>();
  auto rec = approval_record_from_json(nlohmann::json::parse(r->str, nullptr, false));
  if (!rec) return std::optional<ApprovalRecord>();
  return std::optional<ApprovalRecord>(std::move(*rec));
}

// ---- inventory ----

static const RedisStateStore::Script* agent_counts_script() {
  static RedisStateStore::Script s(kAgentCounts);
  return &s;
}
static const RedisStateStore::Script* agent_list_script() {
  static RedisStateStore::Script s(kAgentList);
  return &s;
}

void RedisStateStore::add_agent_counts(std::vector<AgentCountsDelta> deltas) {
  // Counts that cannot be written now are lost to the shared totals (this
  // replica's own counters still have them): inventory is not enforcement.
  if (!link_.connected() || deltas.empty()) return;
  std::vector<std::string> args{options_.prefix};
  for (const auto& d : deltas) {
    args.push_back(d.id);
    args.push_back(std::to_string(d.requests));
    args.push_back(std::to_string(d.denials));
    args.push_back(std::to_string(millis(d.first_seen)));
    args.push_back(std::to_string(millis(d.last_seen)));
  }
  eval(*agent_counts_script(), {}, std::move(args), [](RedisLink::Reply) {});
}

Result<std::vector<AgentCounts>> RedisStateStore::agent_counts() {
  auto r = call_eval(*agent_list_script(), {}, {options_.prefix});
  if (auto st = reply_status(r); !st) return Err(st.error());
  std::vector<AgentCounts> out;
  for (std::size_t i = 0; i + 4 < r->elements.size(); i += 5) {
    AgentCounts c;
    c.id = r->elements[i].str;
    c.requests = static_cast<std::uint64_t>(as_int(r->elements[i + 1]));
    c.denials = static_cast<std::uint64_t>(as_int(r->elements[i + 2]));
    if (!r->elements[i + 3].str.empty()) c.first_seen = from_millis(as_int(r->elements[i + 3]));
    if (!r->elements[i + 4].str.empty()) c.last_seen = from_millis(as_int(r->elements[i + 4]));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace portcullis::admin
