#include "admin/approvals.h"

#include <algorithm>

#include "admin/util.h"

namespace portcullis::admin {
namespace {

ApprovalRecord record_of(const std::string& id, const HeldCall& c, const ApprovalOutcome& o,
                         std::chrono::system_clock::time_point now) {
  ApprovalRecord r;
  r.id = id;
  r.agent = c.agent;
  r.owner = c.owner;
  r.user = c.user;
  r.upstream = c.upstream;
  r.tool = c.tool;
  r.arguments_hash = c.arguments_hash;
  r.rule_id = c.rule_id;
  r.decision_id = c.decision_id;
  r.outcome = std::string(outcome_name(o.kind));
  r.decided_by = o.decided_by;
  r.reason = o.reason;
  r.created = c.created;
  r.decided = now;
  return r;
}

bool covers(const KillSwitch& k, const HeldCall& c) {
  switch (k.kind) {
    case KillKind::kAll: return true;
    case KillKind::kAgent: return c.agent == k.target;
    case KillKind::kOwner: return !c.owner.empty() && c.owner == k.target;
    case KillKind::kUser: return !c.user.empty() && c.user == k.target;
    case KillKind::kToken: return (!c.token_id.empty() && c.token_id == k.target) || (!c.jti.empty() && c.jti == k.target);
    case KillKind::kUpstream: return c.upstream == k.target;
    case KillKind::kTool: return c.tool == k.target || c.upstream + "/" + c.tool == k.target;
  }
  return false;
}

}  // namespace

std::string_view outcome_name(ApprovalOutcomeKind k) {
  switch (k) {
    case ApprovalOutcomeKind::kApproved: return "approved";
    case ApprovalOutcomeKind::kDenied: return "denied";
    case ApprovalOutcomeKind::kTimedOut: return "timed_out";
    case ApprovalOutcomeKind::kCancelled: return "cancelled";
    case ApprovalOutcomeKind::kKilled: return "killed";
  }
  return "denied";
}

nlohmann::json to_json(const PendingApproval& p) {
  const HeldCall& c = p.call;
  return {{"id", p.id},
          {"agent", c.agent},
          {"owner", c.owner},
          {"user", c.user},
          {"upstream", c.upstream},
          {"tool", c.tool},
          {"arguments", c.arguments_redacted},
          {"arguments_hash", c.arguments_hash},
          {"rule_id", c.rule_id},
          {"decision_id", c.decision_id},
          {"created", detail::format_time(c.created)},
          {"deadline", detail::format_time(c.deadline)}};
}

Approvals::Approvals(Options options) : options_(options) {
  if (options_.ledger) {
    for (auto& r : options_.ledger->approval_records()) {
      if (recent_.count(r.id)) continue;
      recent_order_.push_back(r.id);
      recent_.emplace(r.id, std::move(r));
    }
    while (recent_order_.size() > options_.max_recent) {
      recent_.erase(recent_order_.front());
      recent_order_.pop_front();
    }
  }
}

Result<std::string> Approvals::hold(HeldCall call, ApprovalResolver resolve) {
  std::lock_guard lock(mu_);
  if (pending_.size() >= options_.max_pending)
    return Err("too many calls awaiting approval (" + std::to_string(options_.max_pending) + ")");
  std::string id = detail::random_id("ap_", 16);
  pending_.emplace(id, Entry{std::move(call), std::move(resolve)});
  return id;
}

Approvals::Resolved Approvals::resolve_locked(std::map<std::string, Entry>::iterator it, ApprovalOutcome outcome,
                                              std::chrono::system_clock::time_point now) {
  Resolved r{record_of(it->first, it->second.call, outcome, now), std::move(it->second.resolve), std::move(outcome)};
  pending_.erase(it);
  recent_order_.push_back(r.record.id);
  recent_[r.record.id] = r.record;
  while (recent_order_.size() > options_.max_recent) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
  return r;
}

void Approvals::run(std::vector<Resolved>& done) {
  for (auto& r : done)
    if (r.resolve) r.resolve(r.outcome);
}

Result<ApprovalRecord, ApprovalError> Approvals::decide(std::string_view id, bool approve,
                                                        std::string_view approver_name,
                                                        std::string_view approver_identity, std::string_view reason,
                                                        std::optional<std::string_view> expected_hash,
                                                        std::chrono::system_clock::time_point now) {
  std::vector<Resolved> done;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(std::string(id));
    if (it == pending_.end()) {
      auto r = recent_.find(std::string(id));
      if (r != recent_.end())
        return Err(ApprovalError{ApprovalError::Code::kAlreadyResolved,
                                 "approval " + std::string(id) + " was already resolved (" + r->second.outcome + ")"});
      return Err(ApprovalError{ApprovalError::Code::kNotFound, "no held call with id " + std::string(id)});
    }
    const HeldCall& c = it->second.call;
    if (approve && !c.owner.empty() && detail::iequals(approver_identity, c.owner))
      return Err(ApprovalError{ApprovalError::Code::kSelfApproval,
                               "an approver cannot approve a call by an agent they own (" + c.agent + ")"});
    if (approve && expected_hash && *expected_hash != c.arguments_hash)
      return Err(ApprovalError{ApprovalError::Code::kHashMismatch,
                               "the call's arguments hash is not the expected one"});
    ApprovalOutcome o{approve ? ApprovalOutcomeKind::kApproved : ApprovalOutcomeKind::kDenied,
                      std::string(approver_name), std::string(reason)};
    done.push_back(resolve_locked(it, std::move(o), now));
  }
  run(done);
  ApprovalRecord rec = std::move(done.front().record);
  // Durable ledger of admin decisions. A failure here does not undo the
  // decision (the call has been answered); the audit log has it too.
  if (options_.ledger) (void)options_.ledger->record_approval(rec);
  return rec;
}

Result<ApprovalRecord, ApprovalError> Approvals::approve(std::string_view id, std::string_view approver_name,
                                                         std::string_view approver_identity,
                                                         std::optional<std::string_view> expected_hash,
                                                         std::chrono::system_clock::time_point now) {
  return decide(id, true, approver_name, approver_identity, {}, expected_hash, now);
}

Result<ApprovalRecord, ApprovalError> Approvals::deny(std::string_view id, std::string_view approver_name,
                                                      std::string_view reason,
                                                      std::chrono::system_clock::time_point now) {
  return decide(id, false, approver_name, approver_name, reason, std::nullopt, now);
}

std::size_t Approvals::resolve_where(const std::function<bool(const HeldCall&)>& pred, ApprovalOutcomeKind kind,
                                     std::string_view reason, std::chrono::system_clock::time_point now) {
  std::vector<Resolved> done;
  {
    std::lock_guard lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      auto next = std::next(it);
      if (pred(it->second.call)) done.push_back(resolve_locked(it, ApprovalOutcome{kind, "", std::string(reason)}, now));
      it = next;
    }
  }
  run(done);
  return done.size();
}

std::size_t Approvals::expire_due(std::chrono::system_clock::time_point now) {
  return resolve_where([now](const HeldCall& c) { return c.deadline <= now; }, ApprovalOutcomeKind::kTimedOut,
                       "no approver decided before the deadline", now);
}

bool Approvals::cancel(std::string_view id, std::string_view reason) {
  std::vector<Resolved> done;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(std::string(id));
    if (it == pending_.end()) return false;
    done.push_back(resolve_locked(it, ApprovalOutcome{ApprovalOutcomeKind::kCancelled, "", std::string(reason)},
                                  std::chrono::system_clock::now()));
  }
  run(done);
  return true;
}

std::size_t Approvals::deny_for_agent(std::string_view agent, std::string_view reason) {
  return resolve_where([agent](const HeldCall& c) { return c.agent == agent; }, ApprovalOutcomeKind::kKilled, reason,
                       std::chrono::system_clock::now());
}

std::size_t Approvals::kill_matching(const KillSwitch& k) {
  return resolve_where([&k](const HeldCall& c) { return covers(k, c); }, ApprovalOutcomeKind::kKilled,
                       "kill switch " + k.id, std::chrono::system_clock::now());
}

std::size_t Approvals::cancel_all(std::string_view reason) {
  return resolve_where([](const HeldCall&) { return true; }, ApprovalOutcomeKind::kCancelled, reason,
                       std::chrono::system_clock::now());
}

std::vector<PendingApproval> Approvals::list() const {
  std::vector<PendingApproval> out;
  {
    std::lock_guard lock(mu_);
    out.reserve(pending_.size());
    for (const auto& [id, e] : pending_) out.push_back({id, e.call});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const PendingApproval& a, const PendingApproval& b) { return a.call.created < b.call.created; });
  return out;
}

std::vector<ApprovalRecord> Approvals::recent() const {
  std::lock_guard lock(mu_);
  std::vector<ApprovalRecord> out;
  out.reserve(recent_order_.size());
  for (const auto& id : recent_order_) out.push_back(recent_.at(id));
  return out;
}

std::optional<std::chrono::system_clock::time_point> Approvals::next_deadline() const {
  std::lock_guard lock(mu_);
  std::optional<std::chrono::system_clock::time_point> out;
  for (const auto& [id, e] : pending_)
    if (!out || e.call.deadline < *out) out = e.call.deadline;
  return out;
}

std::size_t Approvals::pending_count() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace portcullis::admin
