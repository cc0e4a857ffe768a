// Matching one rule against one call: shared by decide(), tools/list
// filtering and explain, so all three apply the same code. Internal to
// policy/.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "policy/call_facts.h"
#include "policy/policy_snapshot.h"

namespace portcullis::policy {

// The facts of one call after classification.
struct CallContext {
  const PolicySnapshot& snapshot;
  const CallFacts& facts;
  std::uint8_t method_bit = kMethodToolsCall;
  ActionId action = kActionDelete;
  Level sensitivity = 0;
  const nlohmann::json& arguments;  // an object
};

// Why a rule's target does not match the call (conditions aside).
enum class Miss : std::uint8_t { kNone, kMethod, kUpstream, kTool, kAction, kAgent };

// 0 for an unknown method name.
std::uint8_t method_bit(std::string_view method);

bool agent_matches(const AgentMatch& m, const CallFacts& f);
Miss match_target(const Rule& r, const CallContext& c);
std::string describe_miss(Miss miss, const Rule& r, const CallContext& c);

// Does the condition hold for `arguments`? On failure, if `detail` is not
// null, says why ("field missing", "\"10\" is a string, not a number"...).
bool condition_holds(const Condition& cond, const nlohmann::json& arguments, std::string* detail);

}  // namespace portcullis::policy
