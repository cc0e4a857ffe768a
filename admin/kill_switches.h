// KillSwitches: the engaged kill switches and the hot-path check.
//
// Reads are lock-free: the engaged set is an immutable Index (one hash set per
// kind) published as a shared_ptr with a version number. match() compares the
// published version (one atomic load) with the calling thread's cached copy
// and uses the cached Index when they agree, so a request costs one atomic
// load plus a few hash lookups; only the first request on each thread after a
// change reloads the pointer. When nothing is engaged, match() returns after
// the version check and one branch.
//
// Writes (engage, lift) are admin actions: serialized by a mutex, persisted
// through the StateStore synchronously (call them off the I/O threads), then
// published, then the on_change callbacks run on the writer's thread. A switch
// takes effect in memory even if persisting it fails (killing is the safe
// direction); the result says whether it was persisted.
//
// Several replicas: with a shared StateStore, engage/lift first take effect
// here, then are shared (StateStore::share_engaged/share_lifted, which may
// block for the store's command timeout: admin threads only); switches made
// on other replicas arrive through apply_remote. Nothing is ever forgotten
// while the store is unreachable: the local set stays in force.
//
// Lifetime: the StateStore passed to the constructor must outlive this object.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admin/kill_switch.h"
#include "admin/state_store.h"
#include "common/result.h"
#include "identity/principal.h"

namespace portcullis::admin {

// The immutable engaged set. A KillSwitch* from match() is valid as long as
// the KillSwitchIndex it came from is held.
class KillSwitchIndex {
 public:
  KillSwitchIndex(std::uint64_t version, std::vector<KillSwitch> switches);
  KillSwitchIndex(const KillSwitchIndex&) = delete;  // the maps point into switches_
  KillSwitchIndex& operator=(const KillSwitchIndex&) = delete;

  // The first switch that covers a call by `principal` (null on a route with
  // `auth: none`) to `tool` on `upstream`, or null. Order: all, agent, owner,
  // user, token, upstream, tool. An empty `tool` (not a tools/call) skips
  // tool switches. Owner switches match registered agents only
  // (Principal::agent->owner).
  const KillSwitch* match(const identity::Principal* principal, std::string_view upstream,
                          std::string_view tool) const;

  std::uint64_t version() const { return version_; }
  bool empty() const { return switches_.empty(); }
  const std::vector<KillSwitch>& switches() const { return switches_; }  // oldest first
  const KillSwitch* find(std::string_view id) const;
  const KillSwitch* find(KillKind kind, std::string_view target) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, const KillSwitch*, Hash, std::equal_to<>>;
  const KillSwitch* lookup(KillKind kind, std::string_view key) const;

  std::uint64_t version_;
  std::vector<KillSwitch> switches_;
  Map by_kind_[7];
  const KillSwitch* all_ = nullptr;
};

using KillSwitchIndexPtr = std::shared_ptr<const KillSwitchIndex>;

class KillSwitches {
 public:
  static constexpr std::size_t kMaxSwitches = 10000;
  static constexpr std::size_t kMaxField = 1024;  // bytes, for target and reason

  // Loads the switches persisted in `store`.
  explicit KillSwitches(StateStore& store);
  KillSwitches(const KillSwitches&) = delete;
  KillSwitches& operator=(const KillSwitches&) = delete;

  // Hot path: see KillSwitchIndex::match. The returned pointer shares
  // ownership of the Index it points into (no copy of the switch); null when
  // nothing matches.
  std::shared_ptr<const KillSwitch> match(const identity::Principal* principal, std::string_view upstream,
                                          std::string_view tool) const;
  // For open streams: does a switch cover `principal` on `upstream` at all
  // (any kind but tool), or one of `tools`, the tools the stream answers
  // calls of (none for a GET stream)? The gateway re-checks its open streams
  // after each on_change and closes those this answers for.
  std::shared_ptr<const KillSwitch> matches_stream(const identity::Principal* principal, std::string_view upstream,
                                                   std::span<const std::string> tools = {}) const;

  // The current Index (lock-free; see the header comment).
  KillSwitchIndexPtr snapshot() const;
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  struct EngageResult {
    KillSwitch kill_switch;
    bool created = false;    // false: an identical (kind, target) switch was already engaged
    bool persisted = true;   // false: in effect, but a restart would lose it (see error)
    std::string error;       // why it was not persisted
    bool shared = true;      // false: a shared backend could not be told yet (see share_error)
    std::string share_error;
  };
  // Engages a switch. Errors (nothing engaged): empty target for a kind other
  // than kAll, a target or reason over kMaxField bytes, or kMaxSwitches engaged.
  Result<EngageResult> engage(KillKind kind, std::string target, std::string reason, std::string created_by,
                              std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  // For callers on an I/O thread (policy's on_exceed: suspend_agent): the
  // switch is in effect for every new request when this returns, and nothing
  // here blocks. The rest of engage() (saving, on_change callbacks, sharing),
  // which may block, is finish_engage()'s job, to be run off the I/O thread
  // when the result says `created`.
  Result<EngageResult> engage_in_memory(KillKind kind, std::string target, std::string reason,
                                        std::string created_by,
                                        std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  EngageResult finish_engage(const KillSwitch& engaged);

  struct LiftResult {
    KillSwitch kill_switch;
    bool persisted = true;
    std::string error;
    bool shared = true;
    std::string share_error;
  };
  // Lifts the switch with `id`; nullopt when there is none.
  std::optional<LiftResult> lift(std::string_view id);

  std::vector<KillSwitch> list() const;  // oldest first

  // From a shared backend: switches engaged and ids lifted elsewhere. Saved
  // locally, published, then the on_change callbacks run (on the caller's
  // thread). Switches already known (by id) are skipped.
  void apply_remote(std::vector<KillSwitch> engaged, std::vector<std::string> lifted);

  // Registers a callback run (on the writer's thread, outside the lock) after
  // every engage or lift. Register before traffic starts; not removable.
  void on_change(std::function<void()> callback);

 private:
  Result<EngageResult> engage_impl(KillKind kind, std::string target, std::string reason, std::string created_by,
                                   std::chrono::system_clock::time_point now, bool finish);
  void publish_locked(std::vector<KillSwitch> switches);

  StateStore& store_;
  const std::uint64_t instance_;  // distinguishes instances in the per-thread cache
  std::mutex write_mu_;           // serializes engage/lift; guards callbacks_
  std::atomic<std::shared_ptr<const KillSwitchIndex>> index_;
  std::atomic<std::uint64_t> version_{0};
  std::vector<std::function<void()>> callbacks_;
};

}  // namespace portcullis::admin
