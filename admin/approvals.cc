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
          {"rule", c.rule_id},  // the contract's name for it; rule_id kept for existing clients
          {"decision_id", c.decision_id},
          {"created", detail::format_time(c.created)},
          {"deadline", detail::format_time(c.deadline)}};
}

Result<PendingApproval> pending_approval_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return Err("held call: expected an object");
  PendingApproval p;
  HeldCall& c = p.call;
  std::string created, deadline;
  std::pair<const char*, std::string*> fields[] = {
      {"id", &p.id},         {"agent", &c.agent},       {"owner", &c.owner},
      {"user", &c.user},     {"upstream", &c.upstream}, {"tool", &c.tool},
      {"arguments_hash", &c.arguments_hash}, {"rule_id", &c.rule_id},
      {"decision_id", &c.decision_id},       {"created", &created},
      {"deadline", &deadline},
  };
  for (auto& [key, out] : fields) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_string()) return Err(std::string("held call: \"") + key + "\" must be a string");
    *out = it->get<std::string>();
  }
  if (p.id.empty()) return Err("held call: missing id");
  if (auto it = j.find("arguments"); it != j.end()) c.arguments_redacted = *it;
  auto cr = detail::parse_time(created);
  auto dl = detail::parse_time(deadline);
  if (!cr || !dl) return Err("held call " + p.id + ": bad time");
  c.created = *cr;
  c.deadline = *dl;
  return p;
}

namespace {

std::optional<ApprovalOutcomeKind> outcome_kind(std::string_view name) {
  for (auto k : {ApprovalOutcomeKind::kApproved, ApprovalOutcomeKind::kDenied, ApprovalOutcomeKind::kTimedOut,
                 ApprovalOutcomeKind::kCancelled, ApprovalOutcomeKind::kKilled})
    if (outcome_name(k) == name) return k;
  return std::nullopt;
}

ApprovalError unavailable(const std::string& why) {
  return ApprovalError{ApprovalError::Code::kUnavailable,
                       "approvals are unavailable: the shared state cannot be reached (" + why + ")"};
}

}  // namespace

Approvals::Approvals(Options options) : options_(options) {
  if (options_.ledger && options_.ledger->shared())
    options_.ledger->sync_approvals([this](const ApprovalRecord& r) { apply_remote_decision(r); });
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
  StateStore* shared = this->shared();
  // Fail closed: a call held where no approver on another replica can see it
  // would only time out.
  if (shared && !shared->reachable())
    return Err("approvals are unavailable: the shared state (Redis) cannot be reached");
  std::string id = detail::random_id("ap_", 16);
  nlohmann::json j;
  {
    std::lock_guard lock(mu_);
    if (pending_.size() >= options_.max_pending)
      return Err("too many calls awaiting approval (" + std::to_string(options_.max_pending) + ")");
    if (shared) j = to_json(PendingApproval{id, call});
    pending_.emplace(id, Entry{std::move(call), std::move(resolve)});
  }
  if (shared) shared->share_held(SharedHeldCall{id, std::move(j)});
  return id;
}

void Approvals::record_in_store(const std::vector<Resolved>& done) {
  // Resolved here at once (kill, shutdown): the store records the outcome,
  // so that a late approver anywhere gets 409 naming it.
  if (StateStore* store = shared())
    for (const auto& r : done) store->claim_held_async(r.record, [](Result<HeldClaimResult>) {});
}

void Approvals::claim_then_resolve(const std::string& id, const ApprovalRecord& proposed) {
  shared()->claim_held_async(proposed, [this, id, proposed](Result<HeldClaimResult> r) {
    ApprovalOutcome o{outcome_kind(proposed.outcome).value_or(ApprovalOutcomeKind::kCancelled), proposed.decided_by,
                      proposed.reason};
    auto when = proposed.decided;
    // Another decision came first (an approver elsewhere, or a kill): that
    // is the outcome. Otherwise (claimed, or the store could not be asked:
    // fail closed) the proposed timeout/disconnect is.
    if (r && r->claim == HeldClaim::kAlreadyDecided && r->winner) {
      if (auto k = outcome_kind(r->winner->outcome)) {
        o = ApprovalOutcome{*k, r->winner->decided_by, r->winner->reason};
        when = r->winner->decided;
      }
    }
    resolve_with(id, o, when);
  });
}

void Approvals::resolve_with(const std::string& id, const ApprovalOutcome& outcome,
                             std::chrono::system_clock::time_point decided) {
  std::vector<Resolved> done;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;  // resolved meanwhile (by the same winning decision)
    done.push_back(resolve_locked(it, outcome, decided));
  }
  run(done);
}

void Approvals::apply_remote_decision(const ApprovalRecord& record) {
  auto kind = outcome_kind(record.outcome);
  if (!kind) return;
  std::vector<Resolved> done;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(record.id);
    if (it == pending_.end()) return;
    done.push_back(resolve_locked(it, ApprovalOutcome{*kind, record.decided_by, record.reason}, record.decided));
  }
  run(done);
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
  StateStore* shared = this->shared();
  if (shared) {
    if (!shared->reachable()) return Err(unavailable("not connected"));
    bool local = false;
    ApprovalRecord claim;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(std::string(id));
      if (it != pending_.end()) {
        const HeldCall& c = it->second.call;
        if (approve && !c.owner.empty() && detail::iequals(approver_identity, c.owner))
          return Err(ApprovalError{ApprovalError::Code::kSelfApproval,
                                   "an approver cannot approve a call by an agent they own (" + c.agent + ")"});
        if (approve && expected_hash && *expected_hash != c.arguments_hash)
          return Err(ApprovalError{ApprovalError::Code::kHashMismatch,
                                   "the call's arguments hash is not the expected one"});
        local = true;
        claim = record_of(it->first, c,
                          ApprovalOutcome{approve ? ApprovalOutcomeKind::kApproved : ApprovalOutcomeKind::kDenied,
                                          std::string(approver_name), std::string(reason)},
                          now);
      }
    }
    if (!local)
      return decide_remote(id, approve, approver_name, approver_identity, reason, expected_hash, now);
    // Held here: claim it in the shared store first, so that no other
    // replica decides it too. A call the store does not know (its share was
    // lost) is decided here alone.
    auto claimed = shared->claim_held(claim, false);
    if (!claimed) return Err(unavailable(claimed.error().message));
    if (claimed->claim == HeldClaim::kAlreadyDecided) {
      // The decision that came first (this replica's own timeout or
      // disconnect, or an approver elsewhere) is the call's outcome.
      if (claimed->winner) apply_remote_decision(*claimed->winner);
      return Err(ApprovalError{ApprovalError::Code::kAlreadyResolved,
                               "approval " + std::string(id) + " was already decided: " +
                                   (claimed->winner ? claimed->winner->outcome : std::string("on another replica"))});
    }
  }
  std::vector<Resolved> done;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(std::string(id));
    if (it == pending_.end()) {
      auto r = recent_.find(std::string(id));
      if (r != recent_.end())
        return Err(ApprovalError{ApprovalError::Code::kAlreadyResolved,
                                 "approval " + std::string(id) + " was already decided: " + r->second.outcome});
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

Result<ApprovalRecord, ApprovalError> Approvals::decide_remote(std::string_view id, bool approve,
                                                               std::string_view approver_name,
                                                               std::string_view approver_identity,
                                                               std::string_view reason,
                                                               std::optional<std::string_view> expected_hash,
                                                               std::chrono::system_clock::time_point now) {
  StateStore& shared = *options_.ledger;
  {
    std::lock_guard lock(mu_);
    if (auto r = recent_.find(std::string(id)); r != recent_.end())
      return Err(ApprovalError{ApprovalError::Code::kAlreadyResolved,
                               "approval " + std::string(id) + " was already decided: " + r->second.outcome});
  }
  auto found = shared.find_held(std::string(id));
  if (!found) return Err(unavailable(found.error().message));
  if (!*found) {
    auto decided = shared.find_decided(std::string(id));
    if (!decided) return Err(unavailable(decided.error().message));
    if (*decided)
      return Err(ApprovalError{ApprovalError::Code::kAlreadyResolved, "approval " + std::string(id) +
                                                                          " was already decided: " +
                                                                          (*decided)->outcome});
    return Err(ApprovalError{ApprovalError::Code::kNotFound, "no held call with id " + std::string(id)});
  }
  auto p = pending_approval_from_json((*found)->call);
  if (!p) return Err(ApprovalError{ApprovalError::Code::kNotFound, "held call " + std::string(id) + " is unreadable"});
  const HeldCall& c = p->call;
  if (c.deadline <= now)
    return Err(ApprovalError{ApprovalError::Code::kAlreadyResolved,
                             "approval " + std::string(id) + " was already decided: timed_out"});
  if (approve && !c.owner.empty() && detail::iequals(approver_identity, c.owner))
    return Err(ApprovalError{ApprovalError::Code::kSelfApproval,
                             "an approver cannot approve a call by an agent they own (" + c.agent + ")"});
  if (approve && expected_hash && *expected_hash != c.arguments_hash)
    return Err(ApprovalError{ApprovalError::Code::kHashMismatch, "the call's arguments hash is not the expected one"});
  ApprovalRecord rec = record_of(p->id, c,
                                 ApprovalOutcome{approve ? ApprovalOutcomeKind::kApproved : ApprovalOutcomeKind::kDenied,
                                                 std::string(approver_name), std::string(reason)},
                                 now);
  // The claim publishes the decision; the holding replica answers the call.
  // Only if the store still holds it: a call it dropped (its holder gone
  // for a minute past the deadline) must not get a decision nobody acts on.
  auto claimed = shared.claim_held(rec, true);
  if (!claimed) return Err(unavailable(claimed.error().message));
  if (claimed->claim == HeldClaim::kAlreadyDecided)
    return Err(ApprovalError{ApprovalError::Code::kAlreadyResolved,
                             "approval " + std::string(id) + " was already decided: " +
                                 (claimed->winner ? claimed->winner->outcome : std::string("on another replica"))});
  if (claimed->claim == HeldClaim::kNotShared)
    return Err(ApprovalError{ApprovalError::Code::kNotFound, "no held call with id " + std::string(id)});
  {
    std::lock_guard lock(mu_);
    recent_order_.push_back(rec.id);
    recent_[rec.id] = rec;
    while (recent_order_.size() > options_.max_recent) {
      recent_.erase(recent_order_.front());
      recent_order_.pop_front();
    }
  }
  (void)shared.record_approval(rec);
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
  record_in_store(done);
  return done.size();
}

std::size_t Approvals::expire_due(std::chrono::system_clock::time_point now) {
  static constexpr std::string_view kWhy = "no approver decided before the deadline";
  if (!shared())
    return resolve_where([now](const HeldCall& c) { return c.deadline <= now; }, ApprovalOutcomeKind::kTimedOut,
                         kWhy, now);
  // Shared: an approver on another replica may be deciding this call right
  // now. Claim first; the call is resolved when the store answers.
  std::vector<ApprovalRecord> claims;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : pending_) {
      if (e.call.deadline > now || e.claiming) continue;
      e.claiming = true;
      claims.push_back(record_of(id, e.call, ApprovalOutcome{ApprovalOutcomeKind::kTimedOut, "", std::string(kWhy)}, now));
    }
  }
  for (const auto& r : claims) claim_then_resolve(r.id, r);
  return claims.size();
}

bool Approvals::cancel(std::string_view id, std::string_view reason) {
  auto now = std::chrono::system_clock::now();
  std::vector<Resolved> done;
  ApprovalRecord claim;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(std::string(id));
    if (it == pending_.end()) return false;
    ApprovalOutcome o{ApprovalOutcomeKind::kCancelled, "", std::string(reason)};
    if (shared()) {
      if (it->second.claiming) return true;  // already on its way out
      it->second.claiming = true;
      claim = record_of(it->first, it->second.call, o, now);
    } else {
      done.push_back(resolve_locked(it, std::move(o), now));
    }
  }
  if (!claim.id.empty()) {
    claim_then_resolve(claim.id, claim);
    return true;
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
  // Calls held on other replicas (admin thread: may wait for the store).
  if (options_.ledger && options_.ledger->shared() && options_.ledger->reachable()) {
    if (auto remote = options_.ledger->list_held()) {
      auto now = std::chrono::system_clock::now();
      for (const auto& h : *remote) {
        bool known = false;
        for (const auto& p : out) known = known || p.id == h.id;
        if (known) continue;
        auto p = pending_approval_from_json(h.call);
        if (p && p->call.deadline > now) out.push_back(std::move(*p));
      }
    }
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
