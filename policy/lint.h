// Lint: warnings about a loaded policy that are not errors. Run by the
// loader (LoadOptions) and again by the gateway once upstream tools are known.
//
//   - a rule, tools: or resources: entry naming an upstream nobody knows;
//   - a rule whose tool glob matches none of its upstreams' tools (once the
//     catalog has seen them);
//   - a condition's argument pointer outside the inputSchema of every tool
//     the rule matches;
//   - a rule action no tools: entry declares (and not read/write/delete);
//   - a shadowed rule: an unconditional stricter rule covers it, so it never
//     decides; a redundant rule: an unconditional rule of the same effect
//     covers it;
//   - an allow rule broader than the deny rule next to it in the file.
#pragma once

#include <string>
#include <vector>

#include "config/config_error.h"
#include "policy/policy_snapshot.h"

namespace portcullis::policy {

class ToolCatalog;

struct LintContext {
  std::vector<std::string> known_upstreams;  // empty: not checked
  const ToolCatalog* catalog = nullptr;      // null: tool checks skipped
};

// Warnings as `file:line:col: key: message` values, in rule order.
std::vector<config::ConfigError> lint_policy(const PolicySnapshot& snapshot, const LintContext& context);

// Does rule
// `a` match every (agent, tool) that rule `b` matches? Conservative: false
// when unsure. Ignores conditions and limits.
bool rule_covers(const Rule& a, const Rule& b);

}  // namespace portcullis::policy
