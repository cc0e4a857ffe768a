// The decision engine: a pure function of an immutable PolicySnapshot and
// the facts of one call (plus the rate-limit store and the tool catalog).
//
//   Decision d = decide(*snapshot, facts, &limits, &catalog);
//   if (d.suspend_agent) kill_switch.engage(agent);
//   switch (d.effect) { case Effect::kAllow: ...; case Effect::kRequireApproval: ...; case Effect::kDeny: ... }
//
//   json visible = filter_tools_list(*snapshot, facts, "crm", upstream_result, &catalog);
//
// Order of evaluation for tools/call, resources/read and prompts/get:
//   1. unknown method, or arguments that are not an object => deny (error);
//   2. a held tool (definition changed, tool_catalog.h) => deny;
//   3. classification (classification.h): action and call sensitivity;
//   4. clearance: sensitivity above the agent's clearance (an unregistered
//      agent has the lowest level; an empty clearance means the lowest), or
//      above the user's clearance when given => deny, whatever the rules say;
//   5. rules: a rule applies when its method, upstream, tool, actions and
//      agents match and every `when` condition holds. Any applying deny =>
//      deny; else any require_approval => require_approval; else any allow =>
//      allow; else deny (default), with the failed conditions of the nearest
//      allow/approval rule (the one with the fewest failures);
//   6. limits: when the outcome is allow or require_approval, each limit of
//      each applying enforced allow/approval rule counts one event (key: rule
//      id + agent id, user or upstream/tool; per user without a user counts
//      per agent). One exceeded => deny, and on_exceed: suspend_agent sets
//      Decision::suspend_agent. Rules with limits and no LimitCounter => deny.
// Any exception or evaluation error => deny (fail closed), reason says why.
// Shadow semantics are described in decision.h; limits of shadow rules are
// not counted.
//
// Thread-safe: the snapshot is read-only; `limits` and `catalog` must be.
#pragma once

#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "policy/call_facts.h"
#include "policy/decision.h"
#include "policy/policy_snapshot.h"

namespace portcullis::policy {

class LimitCounter;
class ToolCatalog;

// `limits` and `catalog` may be null (no rate limits can pass; no pinning,
// and no annotations: unlisted tools are classified pessimistically).
Decision decide(const PolicySnapshot& snapshot, const CallFacts& facts, LimitCounter* limits,
                const ToolCatalog* catalog) noexcept;

// Could some enforced rule allow or hold tools/call of facts.name on
// facts.upstream for this agent? Ignores arguments, conditions and limits;
// honours clearance against the tool's own sensitivity, held tools (hidden)
// and unconditional deny rules (hidden). In global shadow mode every tool is
// visible. `annotations` overrides the catalog's (null: use the catalog's).
// A hidden tool is answered with JSON-RPC -32602 "Unknown tool: NAME".
bool tool_visible(const PolicySnapshot& snapshot, const CallFacts& facts, const ToolCatalog* catalog,
                  const nlohmann::json* annotations = nullptr);

// A copy of a tools/list result ({"tools": [...], ...}) keeping only the tools
// visible to the agent in `facts` (facts.upstream is set to `upstream`; name
// and arguments are ignored). Annotations come from the catalog when it knows
// the tool, else from the listed definition. Other fields are kept.
nlohmann::json filter_tools_list(const PolicySnapshot& snapshot, const CallFacts& facts, std::string_view upstream,
                                 const nlohmann::json& list_result, const ToolCatalog* catalog);

}  // namespace portcullis::policy
