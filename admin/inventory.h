// Inventory: the agents Portcullis knows about: those registered in config
// `agents:` and those seen with a valid token but not registered. Feeds
// GET /admin/v1/agents.
//
// record_request() is on the hot path: 16 shards by agent id hash, one mutex
// each, held for a hash lookup and a few increments. Unregistered agents are
// bounded (max_unregistered); beyond it new ones are counted in
// dropped_unregistered() instead of being listed.
//
// Several replicas (set_shared): each replica counts locally and flush()
// (the gateway calls it every 250 ms, off the I/O threads) adds the counts
// since the last flush to the shared store in one batch; list() shows the
// shared totals (plus what is not flushed yet), or the local ones while the
// store is unreachable.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admin/kill_switches.h"
#include "config/config.h"
#include "identity/principal.h"

namespace portcullis::admin {

struct AgentInfo {
  std::string id;
  std::string owner;  // "" for an unregistered agent
  bool registered = false;
  std::optional<std::chrono::system_clock::time_point> first_seen;
  std::optional<std::chrono::system_clock::time_point> last_seen;
  std::uint64_t requests = 0;
  std::uint64_t denials = 0;
  std::string status;  // active | killed | unregistered (killed wins)
  std::string killed_by;  // the kill switch id when killed
};
nlohmann::json to_json(const AgentInfo& a);

class Inventory {
 public:
  explicit Inventory(const std::vector<config::AgentConfig>& registered, std::size_t max_unregistered = 10000);
  Inventory(const Inventory&) = delete;
  Inventory& operator=(const Inventory&) = delete;

  // Counts one request by `principal` (ignored when null or without an agent
  // id); `denied` when the gateway refused it (policy, kill switch, limit).
  void record_request(const identity::Principal& principal, bool denied,
                      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  // Config reload: the new registry. Counters of known agents are kept; an
  // agent no longer registered becomes unregistered (listed while seen).
  void set_registered(const std::vector<config::AgentConfig>& registered);

  // Every agent, sorted by id. With `kill_switches`, status says "killed" for
  // agents covered by an agent, owner or all switch.
  std::vector<AgentInfo> list(const KillSwitches* kill_switches = nullptr) const;
  std::uint64_t dropped_unregistered() const { return dropped_.load(std::memory_order_relaxed); }

  // Shares counts through `store` (must outlive this); call before traffic.
  void set_shared(StateStore* store) { shared_ = store; }
  void flush();

 private:
  struct Entry {
    std::string owner;
    bool registered = false;
    std::optional<std::chrono::system_clock::time_point> first_seen, last_seen;
    std::uint64_t requests = 0, denials = 0;
    // Not yet flushed to the shared store.
    std::uint64_t new_requests = 0, new_denials = 0;
    std::optional<std::chrono::system_clock::time_point> new_first, new_last;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry> agents;
  };
  static constexpr std::size_t kShards = 16;
  Shard& shard_for(std::string_view id) const;

  const std::size_t max_unregistered_;
  std::atomic<std::size_t> unregistered_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::unique_ptr<Shard[]> shards_;
  StateStore* shared_ = nullptr;
};

}  // namespace portcullis::admin
