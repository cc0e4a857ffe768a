// Classification: a call's action class and sensitivity.
//
// Action. For tools/call, the first `tools:` entry matching (upstream, tool)
// gives the operator's class. MCP annotations are untrusted hints and may
// only make a tool stricter (read < write < delete):
//   - unlisted tool: readOnlyHint true => read; otherwise destructiveHint
//     (default true) => delete, false => write. No annotations => delete.
//   - listed with a built-in class: the stricter of the operator's class and
//     what the annotations that are *present* imply (readOnlyHint: false =>
//     at least write; destructiveHint: true without readOnlyHint: true =>
//     delete). Missing annotations do not override the operator.
//   - listed with an operator-defined class (financial, admin...): as declared.
//   A hint that is not a JSON boolean counts as missing.
// For resources/read and prompts/get (the "tool" is the resource URI or the
// prompt name) annotations do not exist: a listed entry gives its class, an
// unlisted one is read.
//
// Sensitivity. The tool's is its `tools:` entry's, else default_sensitivity.
// Each `resources:` entry matching (upstream, tool) reads its argument (for
// resources/read, use /uri); a string value, a number (as decimal text) or
// each such element of an array is matched against the levels' globs, and
// every match raises the call's sensitivity. Call sensitivity = the highest.
#pragma once

#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "policy/policy_snapshot.h"

namespace portcullis::policy {

struct ToolClassification {
  ActionId action = kActionDelete;
  Level sensitivity = 0;            // the tool's own, before resources
  const ToolClass* entry = nullptr;  // the operator's entry, if any
};

// `annotations`: the tool's MCP annotations object, or null if unknown.
ToolClassification classify_tool(const PolicySnapshot& snapshot, std::string_view method, std::string_view upstream,
                                 std::string_view name, const nlohmann::json* annotations);

// The call's sensitivity: `tool_level` raised by every matching resource level.
Level call_sensitivity(const PolicySnapshot& snapshot, std::string_view upstream, std::string_view name,
                       const nlohmann::json& arguments, Level tool_level);

}  // namespace portcullis::policy
