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
#pragma once

#include <chrono>
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
};

}  // namespace portcullis::admin
