#include "admin/kill_switches.h"

#include <algorithm>

#include "admin/util.h"

namespace portcullis::admin {
namespace {

std::atomic<std::uint64_t> g_next_instance{1};

// Per-thread copy of the last Index seen, so that the hot path does not touch
// the shared atomic<shared_ptr> (and its reference count) while nothing
// changes. Keyed by instance id (never reused) and version.
struct ThreadCache {
  std::uint64_t instance = 0;
  std::uint64_t version = 0;
  KillSwitchIndexPtr index;
};
thread_local ThreadCache t_cache;

std::string tool_key(std::string_view upstream, std::string_view tool) {
  std::string k;
  k.reserve(upstream.size() + 1 + tool.size());
  k.append(upstream).push_back('/');
  k.append(tool);
  return k;
}

}  // namespace

KillSwitchIndex::KillSwitchIndex(std::uint64_t version, std::vector<KillSwitch> switches)
    : version_(version), switches_(std::move(switches)) {
  for (const KillSwitch& k : switches_) {
    if (k.kind == KillKind::kAll) {
      if (!all_) all_ = &k;
      continue;
    }
    by_kind_[static_cast<int>(k.kind)].emplace(k.target, &k);
  }
}

const KillSwitch* KillSwitchIndex::lookup(KillKind kind, std::string_view key) const {
  const Map& m = by_kind_[static_cast<int>(kind)];
  if (m.empty() || key.empty()) return nullptr;
  auto it = m.find(key);
  return it == m.end() ? nullptr : it->second;
}

const KillSwitch* KillSwitchIndex::match(const identity::Principal* p, std::string_view upstream,
                                         std::string_view tool) const {
  if (switches_.empty()) return nullptr;
  if (all_) return all_;
  if (p) {
    if (auto* k = lookup(KillKind::kAgent, p->agent_id)) return k;
    if (p->agent) {
      if (auto* k = lookup(KillKind::kOwner, p->agent->owner)) return k;
    }
    if (auto* k = lookup(KillKind::kUser, p->user)) return k;
    if (auto* k = lookup(KillKind::kToken, p->jti)) return k;
    if (auto* k = lookup(KillKind::kToken, p->token_id)) return k;
  }
  if (auto* k = lookup(KillKind::kUpstream, upstream)) return k;
  if (!tool.empty() && !by_kind_[static_cast<int>(KillKind::kTool)].empty()) {
    if (auto* k = lookup(KillKind::kTool, tool)) return k;
    if (auto* k = lookup(KillKind::kTool, tool_key(upstream, tool))) return k;
  }
  return nullptr;
}

const KillSwitch* KillSwitchIndex::find(std::string_view id) const {
  for (const auto& k : switches_)
    if (k.id == id) return &k;
  return nullptr;
}

const KillSwitch* KillSwitchIndex::find(KillKind kind, std::string_view target) const {
  if (kind == KillKind::kAll) return all_;
  return lookup(kind, target);
}

KillSwitches::KillSwitches(StateStore& store)
    : store_(store), instance_(g_next_instance.fetch_add(1, std::memory_order_relaxed)) {
  {
    std::lock_guard lock(write_mu_);
    publish_locked(store_.kill_switches());
  }
  store_.sync_kill_switches(KillSwitchSync{
      .held = [this] { return list(); },
      .apply = [this](std::vector<KillSwitch> engaged,
                      std::vector<std::string> lifted) { apply_remote(std::move(engaged), std::move(lifted)); },
  });
}

void KillSwitches::apply_remote(std::vector<KillSwitch> engaged, std::vector<std::string> lifted) {
  {
    std::lock_guard lock(write_mu_);
    KillSwitchIndexPtr cur = index_.load(std::memory_order_acquire);
    std::vector<KillSwitch> next;
    bool changed = false;
    for (const auto& s : cur->switches()) {
      if (std::find(lifted.begin(), lifted.end(), s.id) != lifted.end()) {
        changed = true;
        continue;
      }
      next.push_back(s);
    }
    for (auto& k : engaged) {
      if (cur->find(k.id) || std::find(lifted.begin(), lifted.end(), k.id) != lifted.end()) continue;
      if (next.size() >= kMaxSwitches) break;
      next.push_back(std::move(k));
      changed = true;
    }
    if (!changed) return;
    (void)store_.save_kill_switches(next);  // local copy; the shared store has them already
    publish_locked(std::move(next));
  }
  for (const auto& cb : callbacks_) cb();
}

void KillSwitches::publish_locked(std::vector<KillSwitch> switches) {
  std::uint64_t v = version_.load(std::memory_order_relaxed) + 1;
  index_.store(std::make_shared<const KillSwitchIndex>(v, std::move(switches)), std::memory_order_release);
  // Published after the pointer: a reader that sees version v finds an Index
  // of version >= v behind index_.
  version_.store(v, std::memory_order_release);
}

KillSwitchIndexPtr KillSwitches::snapshot() const {
  std::uint64_t v = version_.load(std::memory_order_acquire);
  ThreadCache& c = t_cache;
  if (c.instance == instance_ && c.version == v && c.index) return c.index;
  KillSwitchIndexPtr idx = index_.load(std::memory_order_acquire);
  c.instance = instance_;
  c.version = idx->version();
  c.index = idx;
  return idx;
}

std::shared_ptr<const KillSwitch> KillSwitches::match(const identity::Principal* principal, std::string_view upstream,
                                                      std::string_view tool) const {
  std::uint64_t v = version_.load(std::memory_order_acquire);
  ThreadCache& c = t_cache;
  if (c.instance != instance_ || c.version != v || !c.index) {
    KillSwitchIndexPtr idx = index_.load(std::memory_order_acquire);
    c.instance = instance_;
    c.version = idx->version();
    c.index = std::move(idx);
  }
  const KillSwitch* k = c.index->match(principal, upstream, tool);
  if (!k) return nullptr;
  return std::shared_ptr<const KillSwitch>(c.index, k);  // aliasing: keeps the Index alive
}

std::shared_ptr<const KillSwitch> KillSwitches::matches_stream(const identity::Principal* principal,
                                                               std::string_view upstream,
                                                               std::span<const std::string> tools) const {
  if (auto k = match(principal, upstream, {})) return k;
  for (const auto& tool : tools)
    if (auto k = match(principal, upstream, tool)) return k;
  return nullptr;
}

Result<KillSwitches::EngageResult> KillSwitches::engage(KillKind kind, std::string target, std::string reason,
                                                        std::string created_by,
                                                        std::chrono::system_clock::time_point now) {
  return engage_impl(kind, std::move(target), std::move(reason), std::move(created_by), now, true);
}

Result<KillSwitches::EngageResult> KillSwitches::engage_in_memory(KillKind kind, std::string target, std::string reason,
                                                                  std::string created_by,
                                                                  std::chrono::system_clock::time_point now) {
  return engage_impl(kind, std::move(target), std::move(reason), std::move(created_by), now, false);
}

Result<KillSwitches::EngageResult> KillSwitches::engage_impl(KillKind kind, std::string target, std::string reason,
                                                             std::string created_by,
                                                             std::chrono::system_clock::time_point now,
                                                             bool finish) {
  if (kind == KillKind::kAll) target.clear();
  else if (target.empty()) return Err("a " + std::string(kill_kind_name(kind)) + " kill switch needs a target");
  if (target.size() > kMaxField) return Err("target is longer than 1024 bytes");
  if (reason.size() > kMaxField) return Err("reason is longer than 1024 bytes");

  EngageResult out;
  {
    std::lock_guard lock(write_mu_);
    KillSwitchIndexPtr cur = index_.load(std::memory_order_acquire);
    if (const KillSwitch* existing = cur->find(kind, target)) {
      out.kill_switch = *existing;
      out.created = false;
      return out;
    }
    if (cur->switches().size() >= kMaxSwitches) return Err("too many kill switches engaged (10000)");
    KillSwitch k;
    k.id = detail::random_id("ks_", 8);
    k.kind = kind;
    k.target = std::move(target);
    k.reason = std::move(reason);
    k.created_by = std::move(created_by);
    k.created_at = now;
    std::vector<KillSwitch> next = cur->switches();
    next.push_back(k);
    // Persist first so that the file never lags behind what callers were told
    // is persisted; publish whatever the outcome (fail safe).
    if (finish) {
      if (auto s = store_.save_kill_switches(next); !s) {
        out.persisted = false;
        out.error = s.error().message;
      }
    } else {
      out.persisted = false;
      out.error = "not saved yet (finish_engage)";
    }
    publish_locked(std::move(next));
    out.kill_switch = std::move(k);
    out.created = true;
  }
  if (!finish) return out;
  for (const auto& cb : callbacks_) cb();
  if (auto s = store_.share_engaged(out.kill_switch); !s) {
    out.shared = false;
    out.share_error = s.error().message;
  }
  return out;
}

KillSwitches::EngageResult KillSwitches::finish_engage(const KillSwitch& engaged) {
  EngageResult out;
  out.kill_switch = engaged;
  out.created = true;
  bool still_engaged = false;
  {
    std::lock_guard lock(write_mu_);
    // Whatever is engaged now (later changes included) is what must be on disk.
    const auto& now_engaged = index_.load(std::memory_order_acquire)->switches();
    for (const auto& k : now_engaged) still_engaged = still_engaged || k.id == engaged.id;
    if (auto s = store_.save_kill_switches(now_engaged); !s) {
      out.persisted = false;
      out.error = s.error().message;
    }
  }
  for (const auto& cb : callbacks_) cb();
  if (!still_engaged) return out;  // lifted meanwhile: nothing to tell other replicas
  if (auto s = store_.share_engaged(engaged); !s) {
    out.shared = false;
    out.share_error = s.error().message;
  }
  return out;
}

std::optional<KillSwitches::LiftResult> KillSwitches::lift(std::string_view id) {
  LiftResult out;
  {
    std::lock_guard lock(write_mu_);
    KillSwitchIndexPtr cur = index_.load(std::memory_order_acquire);
    const KillSwitch* k = cur->find(id);
    if (!k) return std::nullopt;
    out.kill_switch = *k;
    std::vector<KillSwitch> next;
    next.reserve(cur->switches().size());
    for (const auto& s : cur->switches())
      if (s.id != id) next.push_back(s);
    if (auto s = store_.save_kill_switches(next); !s) {
      out.persisted = false;
      out.error = s.error().message;
    }
    publish_locked(std::move(next));
  }
  for (const auto& cb : callbacks_) cb();
  if (auto s = store_.share_lifted(out.kill_switch); !s) {
    out.shared = false;
    out.share_error = s.error().message;
  }
  return out;
}

std::vector<KillSwitch> KillSwitches::list() const { return snapshot()->switches(); }

void KillSwitches::on_change(std::function<void()> callback) {
  std::lock_guard lock(write_mu_);
  callbacks_.push_back(std::move(callback));
}

}  // namespace portcullis::admin
