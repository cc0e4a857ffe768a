#include "policy/rule_eval.h"

#include <re2/re2.h>

#include <algorithm>

namespace portcullis::policy {

namespace {

bool contains(const std::vector<std::string>& list, std::string_view v) {
  for (const std::string& s : list) {
    if (s == v) return true;
  }
  return false;
}

// Compares two JSON numbers exactly where both are integers.
int compare_numbers(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    // Signed vs unsigned: nlohmann keeps values >= 2^63 unsigned.
    if (a.is_number_unsigned() || b.is_number_unsigned()) {
      if (a.is_number_unsigned() && b.is_number_unsigned()) {
        auto x = a.get<std::uint64_t>(), y = b.get<std::uint64_t>();
        return x < y ? -1 : x > y;
      }
      if (a.is_number_unsigned()) return b.get<std::int64_t>() < 0 ? 1 : compare_numbers(a, nlohmann::json(b.get<std::uint64_t>()));
      return a.get<std::int64_t>() < 0 ? -1 : compare_numbers(nlohmann::json(a.get<std::uint64_t>()), b);
    }
    auto x = a.get<std::int64_t>(), y = b.get<std::int64_t>();
    return x < y ? -1 : x > y;
  }
  double x = a.get<double>(), y = b.get<double>();
  return x < y ? -1 : x > y;
}

// JSON equality with types: numbers equal by value (10 == 10.0, since JSON
// does not tell them apart), everything else must have the same type.
bool same_value(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.type() != b.type()) return false;
  return a == b;
}

std::string type_name(const nlohmann::json& v) {
  if (v.is_string()) return "a string";
  if (v.is_number()) return "a number";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  if (v.is_array()) return "an array";
  return "an object";
}

std::string shown(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 64) s = s.substr(0, 61) + "...";
  return s;
}

}  // namespace

std::uint8_t method_bit(std::string_view method) {
  if (method == kToolsCall) return kMethodToolsCall;
  if (method == kResourcesRead) return kMethodResourcesRead;
  if (method == kPromptsGet) return kMethodPromptsGet;
  return 0;
}

bool agent_matches(const AgentMatch& m, const CallFacts& f) {
  if (m.any) return true;
  if (contains(m.ids, f.agent_id)) return true;
  if (!f.agent_registered) return false;  // owners and groups come from the registry
  if (!f.agent_owner.empty() && contains(m.owners, f.agent_owner)) return true;
  for (const std::string& g : m.groups) {
    for (const std::string& mine : f.agent_groups) {
      if (g == mine) return true;
    }
  }
  return false;
}

Miss match_target(const Rule& r, const CallContext& c) {
  if ((r.methods & c.method_bit) == 0) return Miss::kMethod;
  if (r.tools.upstream && !r.tools.upstream->matches(c.facts.upstream)) return Miss::kUpstream;
  if (r.tools.tool && !r.tools.tool->matches(c.facts.name)) return Miss::kTool;
  if (!r.actions.empty() && std::find(r.actions.begin(), r.actions.end(), c.action) == r.actions.end()) {
    return Miss::kAction;
  }
  if (!agent_matches(r.agents, c.facts)) return Miss::kAgent;
  return Miss::kNone;
}

std::string describe_miss(Miss miss, const Rule& r, const CallContext& c) {
  switch (miss) {
    case Miss::kNone: return "matches";
    case Miss::kMethod: return "does not apply to " + std::string(c.facts.method);
    case Miss::kUpstream:
      return "upstream '" + std::string(c.facts.upstream) + "' does not match '" + r.tools.upstream->pattern() + "'";
    case Miss::kTool: return "tool '" + std::string(c.facts.name) + "' does not match '" + r.tools.tool->pattern() + "'";
    case Miss::kAction: {
      std::string list;
      for (ActionId a : r.actions) list += (list.empty() ? "" : ", ") + c.snapshot.actions[a];
      return "action '" + c.snapshot.actions[c.action] + "' is not one of [" + list + "]";
    }
    case Miss::kAgent: return "agent '" + std::string(c.facts.agent_id) + "' is not among its agents";
  }
  return "does not match";
}

bool condition_holds(const Condition& cond, const nlohmann::json& arguments, std::string* detail) {
  const nlohmann::json* v = cond.argument.find(arguments);
  if (v == nullptr) {
    if (cond.optional) return true;
    if (detail) *detail = "field missing";
    return false;
  }
  auto fail = [&](std::string why) {
    if (detail) *detail = std::move(why);
    return false;
  };
  if (cond.max || cond.min) {
    // Only JSON numbers are compared: "10" is a string and fails.
    if (!v->is_number()) return fail(shown(*v) + " is " + type_name(*v) + ", not a number");
    if (cond.max && compare_numbers(*v, *cond.max) > 0) return fail(shown(*v) + " is above " + shown(*cond.max));
    if (cond.min && compare_numbers(*v, *cond.min) < 0) return fail(shown(*v) + " is below " + shown(*cond.min));
  }
  if (cond.in) {
    bool found = std::any_of(cond.in->begin(), cond.in->end(), [&](const nlohmann::json& x) { return same_value(*v, x); });
    if (!found) return fail(shown(*v) + " is not in the list");
  }
  if (cond.pattern) {
    if (!v->is_string()) return fail(shown(*v) + " is " + type_name(*v) + ", not a string");
    if (!RE2::FullMatch(v->get_ref<const std::string&>(), *cond.pattern)) return fail(shown(*v) + " does not match the pattern");
  }
  return true;
}

}  // namespace portcullis::policy
