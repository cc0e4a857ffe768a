// The decide stage: asks the policy engine about each tools/call,
// resources/read and prompts/get in a request, and turns refusals into what
// the agent sees (a hidden tool is "Unknown tool"; a denied call is an
// isError result naming the rule and the decision id). Pure: no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gateway/request_context.h"
#include "policy/decision.h"
#include "policy/limit_counter.h"
#include "policy/pin_file.h"
#include "policy/policy_snapshot.h"
#include "policy/tool_catalog.h"

namespace portcullis::gateway {

// State the engine needs that outlives a configuration generation.
struct PolicyState {
  policy::ToolCatalog catalog;
  policy::InMemoryLimitCounter limits;  // this replica's (and the fallback while shared limits are unreachable)
  policy::SharedLimitCounter* shared_limits = nullptr;  // several replicas (state: redis); null: `limits`
  std::unique_ptr<policy::PinFile> pins;  // null: pins last as long as the process (policy.pins_file unset)
};

struct DecideResult {
  std::vector<CallDecision> decisions;
  bool forward = true;  // false: answer locally with `reply` (HTTP 200, application/json)
  bool hold = false;    // the single refused call needs approval: hold it instead of `reply`
  std::string reply;
};

DecideResult decide_request(const policy::PolicySnapshot& snapshot, PolicyState& state, const RequestContext& ctx,
                            std::chrono::system_clock::time_point now);

// The same with a given rate-limit store; `on_message(g)` runs before each
// engine call, g counting them (the RecordingLimitCounter/ReplayLimitCounter
// group: one per call, since one message can need several, e.g. each URI of
// a 2026-07-28 subscriptions/listen).
DecideResult decide_request_with(const policy::PolicySnapshot& snapshot, PolicyState& state, const RequestContext& ctx,
                                 std::chrono::system_clock::time_point now, policy::LimitCounter& limits,
                                 const std::function<void(std::uint32_t)>& on_message);

// Without a policy every call is forwarded, but each tools/call,
// resources/read and prompts/get still gets an allow decision, so the audit
// log holds one record per forwarded call whatever the configuration.
std::vector<CallDecision> unpoliced_decisions(const RequestContext& ctx);

// Filters a tools/list result in place for the request's agent (and records
// the definitions in the catalog, which pins them on first sight).
void filter_tools_list(const policy::PolicySnapshot& snapshot, PolicyState& state, const RequestContext& ctx,
                       nlohmann::json& result);

// 32 hex digits from the system CSPRNG.
std::string new_decision_id();

}  // namespace portcullis::gateway
