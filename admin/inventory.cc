#include "admin/inventory.h"

#include <algorithm>
#include <functional>

#include "admin/util.h"

namespace portcullis::admin {

nlohmann::json to_json(const AgentInfo& a) {
  auto t = [](const std::optional<std::chrono::system_clock::time_point>& tp) -> nlohmann::json {
    return tp ? nlohmann::json(detail::format_time(*tp)) : nlohmann::json(nullptr);
  };
  nlohmann::json j = {{"id", a.id},
                      {"owner", a.owner},
                      {"registered", a.registered},
                      {"first_seen", t(a.first_seen)},
                      {"last_seen", t(a.last_seen)},
                      {"requests", a.requests},
                      {"denials", a.denials},
                      {"status", a.status}};
  if (!a.killed_by.empty()) j["killed_by"] = a.killed_by;
  return j;
}

Inventory::Inventory(const std::vector<config::AgentConfig>& registered, std::size_t max_unregistered)
    : max_unregistered_(max_unregistered), shards_(new Shard[kShards]) {
  set_registered(registered);
}

Inventory::Shard& Inventory::shard_for(std::string_view id) const {
  return shards_[std::hash<std::string_view>{}(id) % kShards];
}

void Inventory::record_request(const identity::Principal& p, bool denied, std::chrono::system_clock::time_point now) {
  if (p.agent_id.empty()) return;
  Shard& s = shard_for(p.agent_id);
  std::lock_guard lock(s.mu);
  auto it = s.agents.find(p.agent_id);
  if (it == s.agents.end()) {
    // Registered agents are inserted up front, so this one is unregistered
    // (or the Principal predates a reload; the registry decides, not it).
    if (unregistered_.fetch_add(1, std::memory_order_relaxed) >= max_unregistered_) {
      unregistered_.fetch_sub(1, std::memory_order_relaxed);
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    it = s.agents.emplace(p.agent_id, Entry{}).first;
  }
  Entry& e = it->second;
  if (!e.first_seen) e.first_seen = now;
  if (!e.last_seen || *e.last_seen < now) e.last_seen = now;
  ++e.requests;
  if (denied) ++e.denials;
  if (shared_) {
    ++e.new_requests;
    if (denied) ++e.new_denials;
    if (!e.new_first) e.new_first = now;
    if (!e.new_last || *e.new_last < now) e.new_last = now;
  }
}

void Inventory::flush() {
  if (!shared_) return;
  std::vector<AgentCountsDelta> out;
  for (std::size_t i = 0; i < kShards; ++i) {
    Shard& s = shards_[i];
    std::lock_guard lock(s.mu);
    for (auto& [id, e] : s.agents) {
      if (e.new_requests == 0) continue;
      out.push_back(AgentCountsDelta{id, e.new_requests, e.new_denials, *e.new_first, *e.new_last});
      e.new_requests = e.new_denials = 0;
      e.new_first.reset();
      e.new_last.reset();
    }
  }
  if (!out.empty()) shared_->add_agent_counts(std::move(out));
}

void Inventory::set_registered(const std::vector<config::AgentConfig>& registered) {
  std::unordered_map<std::string, const config::AgentConfig*> by_id;
  for (const auto& a : registered) by_id.emplace(a.id, &a);
  for (std::size_t i = 0; i < kShards; ++i) {
    Shard& s = shards_[i];
    std::lock_guard lock(s.mu);
    for (auto it = s.agents.begin(); it != s.agents.end();) {
      auto reg = by_id.find(it->first);
      Entry& e = it->second;
      if (reg != by_id.end()) {
        if (!e.registered) unregistered_.fetch_sub(1, std::memory_order_relaxed);
        e.registered = true;
        e.owner = reg->second->owner;
      } else if (e.registered) {
        if (!e.first_seen) {  // never seen: nothing to list any more
          it = s.agents.erase(it);
          continue;
        }
        e.registered = false;
        e.owner.clear();
        unregistered_.fetch_add(1, std::memory_order_relaxed);
      }
      ++it;
    }
  }
  for (const auto& a : registered) {
    Shard& s = shard_for(a.id);
    std::lock_guard lock(s.mu);
    auto [it, inserted] = s.agents.try_emplace(a.id);
    if (inserted) {
      it->second.registered = true;
      it->second.owner = a.owner;
    }
  }
}

std::vector<AgentInfo> Inventory::list(const KillSwitches* kill_switches) const {
  std::vector<AgentInfo> out;
  for (std::size_t i = 0; i < kShards; ++i) {
    const Shard& s = shards_[i];
    std::lock_guard lock(s.mu);
    for (const auto& [id, e] : s.agents) {
      AgentInfo a;
      a.id = id;
      a.owner = e.owner;
      a.registered = e.registered;
      a.first_seen = e.first_seen;
      a.last_seen = e.last_seen;
      a.requests = e.requests;
      a.denials = e.denials;
      out.push_back(std::move(a));
    }
  }
  if (shared_ && shared_->reachable()) {
    // Shared totals, plus what this replica has not flushed yet.
    if (auto counts = shared_->agent_counts()) {
      std::unordered_map<std::string, std::size_t> at;
      for (std::size_t i = 0; i < out.size(); ++i) at.emplace(out[i].id, i);
      for (const auto& c : *counts) {
        auto it = at.find(c.id);
        if (it == at.end()) {
          AgentInfo a;
          a.id = c.id;
          out.push_back(std::move(a));
          it = at.emplace(c.id, out.size() - 1).first;
        }
        AgentInfo& a = out[it->second];
        std::uint64_t new_req = 0, new_den = 0;
        {
          const Shard& s = shard_for(c.id);
          std::lock_guard lock(s.mu);
          if (auto e = s.agents.find(c.id); e != s.agents.end()) {
            new_req = e->second.new_requests;
            new_den = e->second.new_denials;
          }
        }
        a.requests = c.requests + new_req;
        a.denials = c.denials + new_den;
        if (c.first_seen && (!a.first_seen || *c.first_seen < *a.first_seen)) a.first_seen = c.first_seen;
        if (c.last_seen && (!a.last_seen || *c.last_seen > *a.last_seen)) a.last_seen = c.last_seen;
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const AgentInfo& x, const AgentInfo& y) { return x.id < y.id; });
  KillSwitchIndexPtr idx = kill_switches ? kill_switches->snapshot() : nullptr;
  for (auto& a : out) {
    const KillSwitch* k = nullptr;
    if (idx) {
      k = idx->find(KillKind::kAll, "");
      if (!k) k = idx->find(KillKind::kAgent, a.id);
      if (!k && !a.owner.empty()) k = idx->find(KillKind::kOwner, a.owner);
    }
    if (k) {
      a.status = "killed";
      a.killed_by = k->id;
    } else {
      a.status = a.registered ? "active" : "unregistered";
    }
  }
  return out;
}

}  // namespace portcullis::admin
