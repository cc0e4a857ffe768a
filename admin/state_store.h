// StateStore: where the admin state that must outlive one process lives:
// engaged kill switches, the ledger of approval decisions, and the rate-limit
// counters behind policy `limits:`. One small interface so that a shared
// backend (Redis, `state: { backend: redis }`) can replace the embedded file
// backend (file_state_store.h) without touching KillSwitches or Approvals.
//
// Threads: every method is thread-safe. The save/record methods are
// synchronous and may block on disk (fsync) or network: call them off the I/O
// threads (the gateway runs admin actions on a worker thread). limit_counter()
// is on the hot path and must not block on I/O in the file backend.
//
// Sharing between replicas (redis_state_store.h): the methods under "shared
// state" have do-nothing defaults, which are the file backend's behaviour.
// What a shared backend must do off the hot path is asynchronous: a kill
// switch or a decision made on another replica arrives through the sync
// callbacks (on the backend's own thread), rate limits through
// shared_limits() (callback-based), inventory counts are flushed in batches.
// Only admin actions (share_*, claim_held, find_held, list_held,
// agent_counts) block, for at most the backend's command timeout, on the
// admin worker thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "admin/kill_switch.h"
#include "common/result.h"
#include "policy/limit_counter.h"

namespace portcullis::admin {

// One decided approval, as kept in the durable ledger (no arguments: only
// their hash, so the ledger never holds call data).
struct ApprovalRecord {
  std::string id;
  std::string agent;
  std::string owner;
  std::string user;
  std::string upstream;
  std::string tool;
  std::string arguments_hash;  // hex SHA-256 of the canonical arguments
  std::string rule_id;
  std::string decision_id;
  std::string outcome;     // approved | denied | timed_out | cancelled | killed
  std::string decided_by;  // admin token name; empty when no admin decided
  std::string reason;
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point decided;
};

nlohmann::json to_json(const ApprovalRecord& r);
Result<ApprovalRecord> approval_record_from_json(const nlohmann::json& j);

// How a shared backend hands kill switches made elsewhere to KillSwitches.
struct KillSwitchSync {
  // The switches this replica enforces now (re-published after a reconnect).
  std::function<std::vector<KillSwitch>()> held;
  // Switches engaged and ids lifted on other replicas (or found at a resync).
  std::function<void(std::vector<KillSwitch> engaged, std::vector<std::string> lifted)> apply;
};

// A held call as the shared store keeps it (json: PendingApproval's form plus
// "holder"), so that any replica can list it and decide it.
struct SharedHeldCall {
  std::string id;
  nlohmann::json call;  // to_json(PendingApproval)
};

// Outcome of claiming a held call for a decision.
enum class HeldClaim : std::uint8_t {
  kClaimed,         // this replica decides it; the holder is told
  kNotShared,       // the shared store does not know it (never shared, or expired); the decision is recorded
  kAlreadyDecided,  // another decision came first (`winner`)
};
struct HeldClaimResult {
  HeldClaim claim = HeldClaim::kNotShared;
  std::optional<ApprovalRecord> winner;  // kAlreadyDecided: the decision that came first (when readable)
};

// Counts of one agent since the last flush (Inventory -> shared store).
struct AgentCountsDelta {
  std::string id;
  std::uint64_t requests = 0;
  std::uint64_t denials = 0;
  std::chrono::system_clock::time_point first_seen;
  std::chrono::system_clock::time_point last_seen;
};
struct AgentCounts {
  std::string id;
  std::uint64_t requests = 0;
  std::uint64_t denials = 0;
  std::optional<std::chrono::system_clock::time_point> first_seen, last_seen;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // The kill switches as last saved, oldest first (empty on a fresh store).
  virtual std::vector<KillSwitch> kill_switches() const = 0;
  // Replaces the persisted set. Returns once it is durable; on error the
  // previously persisted set is still the one a restart loads.
  virtual Status save_kill_switches(const std::vector<KillSwitch>& switches) = 0;

  // The most recent approval decisions, oldest first (bounded by the backend).
  virtual std::vector<ApprovalRecord> approval_records() const = 0;
  // Appends one decision to the ledger; returns once it is durable.
  virtual Status record_approval(const ApprovalRecord& record) = 0;

  // The rate-limit store for policy::Engine. Lives as long as the store.
  virtual policy::LimitCounter& limit_counter() = 0;

  // ---- shared state (several replicas); the defaults share nothing ----

  virtual bool shared() const { return false; }
  // False while a shared backend cannot be reached (each replica then runs
  // on what it knows; see redis_state_store.h).
  virtual bool reachable() const { return true; }

  // Kill switches. sync_kill_switches is called once, by KillSwitches.
  virtual void sync_kill_switches(KillSwitchSync) {}
  // Tell the other replicas (after the switch is in force here). Err: not
  // shared now; it is re-published when the backend is back.
  virtual Status share_engaged(const KillSwitch&) { return {}; }
  virtual Status share_lifted(const KillSwitch&) { return {}; }

  // Held approvals. sync_approvals is called once, by Approvals: `decided`
  // gets decisions that other replicas made on calls held here.
  virtual void sync_approvals(std::function<void(const ApprovalRecord& decided)>) {}
  // Asynchronous: publishes a call held here.
  virtual void share_held(const SharedHeldCall&) {}
  // Claims a held call for `record`'s decision, atomically across replicas:
  // the first claim of an id wins and every later one gets kAlreadyDecided
  // with the winner. claim_held (an approver's decision; blocks, admin
  // threads only) tells the holder; claim_held_async (the holder's own
  // resolutions: timeout, disconnect, kill) tells nobody, and `done` runs on
  // the store's thread (or at once).
  // `only_if_held`: a call the store does not hold (kNotShared) is not
  // recorded as decided either (an approver deciding a call held elsewhere).
  virtual Result<HeldClaimResult> claim_held(const ApprovalRecord&, bool /*only_if_held*/) { return HeldClaimResult{}; }
  virtual void claim_held_async(const ApprovalRecord&, std::function<void(Result<HeldClaimResult>)> done) {
    done(HeldClaimResult{});
  }
  virtual Result<std::optional<SharedHeldCall>> find_held(const std::string&) {
    return std::optional<SharedHeldCall>();
  }
  virtual Result<std::vector<SharedHeldCall>> list_held() { return std::vector<SharedHeldCall>(); }
  virtual Result<std::optional<ApprovalRecord>> find_decided(const std::string&) {
    return std::optional<ApprovalRecord>();
  }

  // Rate limits across replicas; null: limits are this process's
  // (limit_counter()).
  virtual policy::SharedLimitCounter* shared_limits() { return nullptr; }

  // Agent inventory: asynchronous add, blocking read.
  virtual void add_agent_counts(std::vector<AgentCountsDelta>) {}
  virtual Result<std::vector<AgentCounts>> agent_counts() { return std::vector<AgentCounts>(); }
};

}  // namespace portcullis::admin
