// explain: a human-readable account of one decision: the outcome, the rules
// that decided it, and for every other rule why it did not match. Used by
// `portcullis policy explain` (policy_commands.h). Limits are not counted
// (an explanation must not use up anyone's rate).
#pragma once

#include <string>

#include "policy/call_facts.h"
#include "policy/policy_snapshot.h"

namespace portcullis::policy {

class ToolCatalog;

std::string explain_decision(const PolicySnapshot& snapshot, const CallFacts& facts, const ToolCatalog* catalog);

}  // namespace portcullis::policy
