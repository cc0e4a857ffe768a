// Approvals: calls held by a `require_approval` decision until an approver
// approves or denies them, they time out, their client goes away, or a kill
// switch covers them.
//
// Each held call has a resolve callback that runs exactly once, outside the
// lock, on the thread of whoever resolved it (an admin worker thread, the
// gateway's expiry timer, a disconnect handler). The gateway forwards the call
// when the outcome is approved and answers `isError: true` otherwise.
//
// Resolution is single use: after the first approve/deny/expiry/cancel the id
// answers kAlreadyResolved (HTTP 409) while it is among the `max_recent`
// resolved records, kNotFound (404) after that.
//
// Self-approval: approve() refuses (kSelfApproval, HTTP 403) when the
// approver's identity equals the owner of the calling agent, compared
// ASCII-case-insensitively. The admin API passes the admin token's `name` as
// the identity, so name approver tokens after the person (e.g. the owner's
// e-mail as in `agents[].owner`) for this check to bite.
//
// Several replicas (a shared StateStore as `ledger`): a held call is also
// published to the store, so every replica lists it and an approver on any
// replica can decide it: the deciding replica claims it atomically in the
// store (single use across replicas) and the holder is told through
// StateStore::sync_approvals. The holder's own timeout and the client's
// disconnect claim it the same way before anything is resolved
// (asynchronously: expire_due and cancel never wait), so when an approver
// on another replica and the deadline (or the disconnect) meet, whichever
// claim reaches the store first is the one outcome: the call is resolved
// with it, and the loser's approve/deny answers kAlreadyResolved naming it.
// A kill switch resolves the calls it covers at once, without waiting for
// the store (it wins over an approval given at the same moment), and records
// `killed` there. While the store is unreachable, hold() refuses new calls,
// approve/deny answer kUnavailable (fail closed), and a timeout or
// disconnect resolves the call here alone.
//
// Thread-safe (one mutex; approvals are not on the hot path).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admin/kill_switch.h"
#include "admin/state_store.h"
#include "common/result.h"

namespace portcullis::admin {

struct HeldCall {
  std::string agent;
  std::string owner;     // the agent's owner ("" for an unregistered agent)
  std::string user;      // the delegating user, if any
  std::string token_id;  // Principal::token_id, so token kill switches cover it
  std::string jti;
  std::string upstream;
  std::string tool;
  nlohmann::json arguments_redacted;  // shown to approvers; secrets already masked by the gateway
  std::string arguments_hash;         // hex SHA-256 of the exact (canonical) arguments
  std::string rule_id;
  std::string decision_id;
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point deadline;
};

enum class ApprovalOutcomeKind : std::uint8_t {
  kApproved,   // forward the call
  kDenied,     // an approver said no: answer isError naming the approver
  kTimedOut,   // nobody decided before the deadline: answer isError
  kCancelled,  // the client went away or the gateway is stopping: nothing to answer
  kKilled,     // a kill switch covers the call: answer 403 / isError naming the switch
};
std::string_view outcome_name(ApprovalOutcomeKind k);  // approved | denied | timed_out | cancelled | killed

struct ApprovalOutcome {
  ApprovalOutcomeKind kind = ApprovalOutcomeKind::kDenied;
  std::string decided_by;  // admin token name, or "" (timeout, cancel, kill)
  std::string reason;
  bool approved() const { return kind == ApprovalOutcomeKind::kApproved; }
};

using ApprovalResolver = std::function<void(const ApprovalOutcome&)>;

struct PendingApproval {
  std::string id;
  HeldCall call;
};
nlohmann::json to_json(const PendingApproval& p);
Result<PendingApproval> pending_approval_from_json(const nlohmann::json& j);

struct ApprovalError {
  enum class Code {
    kNotFound,         // 404: no such held call
    kAlreadyResolved,  // 409: already approved, denied, expired, cancelled or killed
    kSelfApproval,     // 403: the approver owns the agent
    kHashMismatch,     // 409: the expected arguments hash is not this call's
    kUnavailable,      // 503: the shared state (several replicas) is unreachable
  } code = Code::kNotFound;
  std::string message;
};

class Approvals {
 public:
  struct Options {
    std::size_t max_pending = 10000;  // hold() refuses beyond this (the gateway denies)
    std::size_t max_recent = 500;     // resolved records kept for listing and 409s
    // Optional durable ledger: approve/deny decisions (admin actions) are
    // recorded there and the ledger's records seed recent(). Must outlive this.
    StateStore* ledger = nullptr;
  };
  Approvals() : Approvals(Options{}) {}
  explicit Approvals(Options options);

  // Holds a call; returns its id ("ap_" + 32 hex digits). Errors (resolve is
  // not called): too many pending calls.
  Result<std::string> hold(HeldCall call, ApprovalResolver resolve);

  // Approves a held call. `approver_name` is recorded; `approver_identity` is
  // compared with the agent's owner. With `expected_hash`, the call's
  // arguments_hash must equal it (the approver approved what they saw).
  Result<ApprovalRecord, ApprovalError> approve(
      std::string_view id, std::string_view approver_name, std::string_view approver_identity,
      std::optional<std::string_view> expected_hash = std::nullopt,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  Result<ApprovalRecord, ApprovalError> deny(std::string_view id, std::string_view approver_name,
                                             std::string_view reason = {},
                                             std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  // Resolves every held call whose deadline is <= now as timed_out; returns
  // how many. The gateway calls it from a timer (e.g. every 250 ms, or at
  // next_deadline()).
  std::size_t expire_due(std::chrono::system_clock::time_point now);
  // The client went away: resolves as cancelled. False if not pending.
  bool cancel(std::string_view id, std::string_view reason = "client disconnected");
  // Resolves every held call of `agent` as killed; returns how many.
  std::size_t deny_for_agent(std::string_view agent, std::string_view reason = "agent killed");
  // Resolves every held call covered by `kill_switch` as killed.
  std::size_t kill_matching(const KillSwitch& kill_switch);
  // Shutdown: resolves everything as cancelled.
  std::size_t cancel_all(std::string_view reason = "gateway stopping");

  std::vector<PendingApproval> list() const;       // pending, oldest first
  std::vector<ApprovalRecord> recent() const;      // resolved, oldest first
  std::optional<std::chrono::system_clock::time_point> next_deadline() const;
  std::size_t pending_count() const;

  // A decision made on another replica about a call held here.
  void apply_remote_decision(const ApprovalRecord& record);

 private:
  struct Entry {
    HeldCall call;
    ApprovalResolver resolve;
    bool claiming = false;  // a timeout/disconnect claim is out to the shared store
  };
  struct Resolved {
    ApprovalRecord record;
    ApprovalResolver resolve;
    ApprovalOutcome outcome;
  };
  // Moves pending[id] to the recent records; caller holds mu_.
  Resolved resolve_locked(std::map<std::string, Entry>::iterator it, ApprovalOutcome outcome,
                          std::chrono::system_clock::time_point now);
  std::size_t resolve_where(const std::function<bool(const HeldCall&)>& pred, ApprovalOutcomeKind kind,
                            std::string_view reason, std::chrono::system_clock::time_point now);
  static void run(std::vector<Resolved>& done);
  Result<ApprovalRecord, ApprovalError> decide_remote(std::string_view id, bool approve,
                                                      std::string_view approver_name,
                                                      std::string_view approver_identity, std::string_view reason,
                                                      std::optional<std::string_view> expected_hash,
                                                      std::chrono::system_clock::time_point now);
  void record_in_store(const std::vector<Resolved>& done);
  // Shared store: claims `id` for `proposed` (timeout, disconnect) and then
  // resolves it with whichever decision came first.
  void claim_then_resolve(const std::string& id, const ApprovalRecord& proposed);
  void resolve_with(const std::string& id, const ApprovalOutcome& outcome,
                    std::chrono::system_clock::time_point decided);
  StateStore* shared() const { return options_.ledger && options_.ledger->shared() ? options_.ledger : nullptr; }
  Result<ApprovalRecord, ApprovalError> decide(std::string_view id, bool approve, std::string_view approver_name,
                                               std::string_view approver_identity, std::string_view reason,
                                               std::optional<std::string_view> expected_hash,
                                               std::chrono::system_clock::time_point now);

  const Options options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> pending_;  // by id
  std::deque<std::string> recent_order_;  // ids, oldest first
  std::unordered_map<std::string, ApprovalRecord> recent_;
};

}  // namespace portcullis::admin
