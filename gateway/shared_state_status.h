// Internal: what /readyz says about the state shared by replicas (both the
// agents' listener and the admin listener answer it).
#pragma once

#include <nlohmann/json.hpp>

#include "admin/kill_switches.h"
#include "admin/state_store.h"

namespace portcullis::gateway {

// {"backend":"redis","reachable":bool, and while unreachable what this
// replica still does and what it cannot}.
inline nlohmann::json shared_state_status(const admin::StateStore& store, const admin::KillSwitches& kills) {
  nlohmann::json j = {{"backend", "redis"}, {"reachable", store.reachable()}};
  if (!store.reachable()) {
    j["kill_switches"] = "enforcing the " + std::to_string(kills.list().size()) +
                         " known to this replica; new ones reach the others when Redis is back";
    j["approvals"] = "refused (no replica could release a call held here)";
    j["rate_limits"] = "counted by this replica alone: up to N per window per replica";
  }
  return j;
}

}  // namespace portcullis::gateway
