// Decision: the engine's answer for one call, and what the audit trail
// records. Self-contained (owns its strings), so it may outlive the snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::policy {

// What the gateway does next.
enum class Effect : std::uint8_t {
  kAllow,            // forward the call
  kRequireApproval,  // hold it until an approver decides
  kDeny,             // answer isError / Unknown tool; do not forward
};
std::string_view effect_name(Effect e);  // "allow" | "require_approval" | "deny"
// Parses effect_name() output; nullopt for anything else.
std::optional<Effect> parse_effect(std::string_view name);
// The stricter of two effects: deny > require_approval > allow.
inline Effect stricter(Effect a, Effect b) { return a > b ? a : b; }

// One condition that failed for the nearest allow (or approval) rule.
struct FailedCondition {
  std::string rule_id;
  std::string condition;  // e.g. "/limit max 10"
  std::string detail;     // e.g. "value 11 is above 10", "field missing"
};

struct Decision {
  // Shadow semantics. `effect` is what the gateway enforces. `computed_effect`
  // is what the enforced rules decided. In global shadow mode (`shadow` true)
  // `effect` is always allow and suspend_agent is never set; the computed
  // outcome is only recorded. Rules with `mode: shadow` never contribute to
  // computed_effect; `shadow_effect` is what the decision would have been had
  // they been enforced (set only when one of them applied).
  Effect effect = Effect::kDeny;
  Effect computed_effect = Effect::kDeny;
  bool shadow = false;
  std::optional<Effect> shadow_effect;
  std::vector<std::string> shadow_rules;  // ids of shadow rules that applied

  std::vector<std::string> rules;  // ids of the rules that decided computed_effect
  std::string reason;              // one human-readable line
  std::vector<FailedCondition> failed_conditions;

  bool suspend_agent = false;  // a limit with on_exceed: suspend_agent was exceeded:
                               // the caller engages the agent's kill switch

  std::string action;       // the tool's action class, e.g. "read"
  std::string sensitivity;  // the call's sensitivity level

  std::string policy_version;
  std::string policy_revision;
  std::uint64_t eval_ns = 0;
};

}  // namespace portcullis::policy
