// RedisStateStore: the StateStore of `state: { backend: redis }`, shared by
// every replica that names the same Redis and prefix. It talks to Redis only
// through a RedisLink (common/redis_link.h; the gateway injects its
// hiredis/Asio client), so admin/ stays free of Boost and of sockets.
//
// Keys (P = state.prefix):
//   P kills            hash   id -> kill switch JSON (engaged everywhere)
//   P kills:lifted     hash   id -> lift time (ms); a lifted id is never re-published
//   P kills:lifted:at  zset   id -> lift time; tombstones are kept lifted_keep (7 days), at most lifted_max
//   P approvals:held   hash   id -> held call JSON (+ "holder"); P approvals:held:at zset id -> deadline
//                      (a call whose holder died is dropped a minute after its deadline)
//   P approvals:decided hash  id -> approval record JSON (the first decision of each held call:
//                      approve/deny anywhere, or the holder's timeout/disconnect/kill), with
//   P approvals:decided:at zset id -> decision time; kept decided_keep (24 h), at most decided_max
//   P rl:<limit key>:<window start ms>   counters (sliding window, like InMemoryLimitCounter)
//   P agents           set of agent ids; P agent:<id> hash requests, denials, first_seen, last_seen (ms)
// Channel P events: {"from":<replica nonce>,"type":"kill"|"lift"|"decided",...}.
// Every write that others must learn of is one Lua script that writes and
// PUBLISHes, so a message is never sent for a write that did not happen.
//
// Faults. While Redis is unreachable: kill switches stay in force from the
// local copy (memory and, with admin.state_file, disk), engages and lifts
// made here are queued and shared at reconnection; approvals are refused
// (Approvals checks reachable()); the gateway applies rate limits per replica
// (policy_stage); inventory counts accumulate locally. At every (re)connection
// the store resyncs: it reads P kills and P kills:lifted, applies what it
// missed, re-publishes every switch it holds that Redis lacks (a Redis that
// restarted without its data gets them all back) and replays queued lifts.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "admin/redis_limit_counter.h"
#include "admin/state_store.h"
#include "common/redis_link.h"

namespace portcullis::admin {

class RedisStateStore final : public StateStore {
 public:
  struct Options {
    std::string prefix = "portcullis:";
    std::string replica;  // this replica's name (audit instance), kept with held calls
    std::chrono::milliseconds command_timeout{500};
    // Decided approvals are kept this long (so that a late or racing
    // decision anywhere answers 409 with the real outcome), and at most
    // decided_max of them. Keep it longer than admin.approval_timeout.
    std::chrono::milliseconds decided_keep{std::chrono::hours(24)};
    std::size_t decided_max = 100000;
    // Tombstones of lifted kill switches are kept this long, and at most
    // lifted_max of them: a replica cut off from Redis (or stopped, with
    // admin.state_file) for longer than that while a switch it holds was
    // lifted elsewhere re-publishes the switch when it is back (fail
    // closed: lift it again).
    std::chrono::milliseconds lifted_keep{std::chrono::hours(24 * 7)};
    std::size_t lifted_max = 100000;
  };

  // `local` keeps this replica's copy of kill switches and the approval
  // ledger (a FileStateStore with admin.state_file, else a MemoryStateStore).
  // Call start() before the link starts (it installs the link's handlers).
  RedisStateStore(RedisLink& link, std::unique_ptr<StateStore> local, Options options);
  ~RedisStateStore() override;
  void start();

  std::vector<KillSwitch> kill_switches() const override { return local_->kill_switches(); }
  Status save_kill_switches(const std::vector<KillSwitch>& s) override { return local_->save_kill_switches(s); }
  std::vector<ApprovalRecord> approval_records() const override { return local_->approval_records(); }
  Status record_approval(const ApprovalRecord& r) override { return local_->record_approval(r); }
  policy::LimitCounter& limit_counter() override { return local_->limit_counter(); }

  bool shared() const override { return true; }
  bool reachable() const override { return link_.connected(); }

  void sync_kill_switches(KillSwitchSync sync) override;
  Status share_engaged(const KillSwitch& k) override;
  Status share_lifted(const KillSwitch& k) override;

  void sync_approvals(std::function<void(const ApprovalRecord&)> decided) override;
  void share_held(const SharedHeldCall& call) override;
  Result<HeldClaimResult> claim_held(const ApprovalRecord& record, bool only_if_held) override;
  void claim_held_async(const ApprovalRecord& record, std::function<void(Result<HeldClaimResult>)> done) override;
  Result<std::optional<SharedHeldCall>> find_held(const std::string& id) override;
  Result<std::vector<SharedHeldCall>> list_held() override;
  Result<std::optional<ApprovalRecord>> find_decided(const std::string& id) override;

  // Over this store's link (the gateway gives each worker its own instead:
  // admin/redis_limit_counter.h).
  policy::SharedLimitCounter* shared_limits() override { return &limits_; }

  void add_agent_counts(std::vector<AgentCountsDelta> deltas) override;
  Result<std::vector<AgentCounts>> agent_counts() override;

  // For tests and logs: resyncs done.
  std::uint64_t resyncs() const;
  // Called (on the link's thread) after each resync with the number of
  // switches re-published and of queued lifts replayed. Set before start().
  void on_resync(std::function<void(std::size_t republished, std::size_t lifts)> f) { on_resync_ = std::move(f); }

  struct Script;  // a Lua script and its SHA-1

 private:
  void on_up();
  void on_message(const std::string& text);
  void resync();
  // Runs a Lua script (EVALSHA, falling back to EVAL once per connection).
  void eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
            RedisLink::ReplyCallback done);
  // Blocks the calling (admin) thread for the reply; never call it on the link's thread.
  RedisLink::Reply call(std::vector<std::string> args);
  RedisLink::Reply call_eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args);
  std::string key(std::string_view name) const { return options_.prefix + std::string(name); }
  std::string message(const char* type, nlohmann::json body) const;
  std::vector<std::string> claim_args(const ApprovalRecord& record, bool publish, bool only_if_held) const;
  std::vector<std::string> lift_args(const std::string& id) const;

  RedisLink& link_;
  std::unique_ptr<StateStore> local_;
  const Options options_;
  const std::string nonce_;  // tells this process's own messages apart
  mutable std::mutex mu_;    // guards the fields below
  KillSwitchSync kill_sync_;
  std::function<void(const ApprovalRecord&)> decided_;
  std::vector<KillSwitch> pending_lifts_;  // lifted here while Redis was unreachable
  std::uint64_t resyncs_ = 0;
  std::function<void(std::size_t, std::size_t)> on_resync_;
  RedisLimitCounter limits_;
};

}  // namespace portcullis::admin
