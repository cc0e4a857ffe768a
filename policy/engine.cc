#include "policy/engine.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include <nlohmann/json.hpp>

#include "policy/classification.h"
#include "policy/limit_counter.h"
#include "policy/rule_eval.h"
#include "policy/tool_catalog.h"

namespace portcullis::policy {

namespace {

const nlohmann::json& empty_object() {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  return kEmpty;
}

std::string in_quotes(std::string_view s) {
  std::string out;  // appended, not `"'" + ... + "'"`, which trips GCC 12's -Wrestrict
  out.reserve(s.size() + 2);
  out.push_back('\'');
  out.append(s);
  out.push_back('\'');
  return out;
}

// Per-thread scratch space, so a decision allocates little.
struct Scratch {
  std::vector<std::uint32_t> candidates;
  AgentIndex::Bits agent_rules;
  std::vector<const Rule*> applied[3];  // enforced rules that applied, by Effect
  std::vector<const Rule*> shadow_applied;
  void clear() {
    for (auto& a : applied) a.clear();
    shadow_applied.clear();
  }
};
thread_local Scratch t_scratch;

std::size_t slot(Effect e) { return static_cast<std::size_t>(e); }

// Resolves a clearance name; nullopt when it is not a level.
std::optional<Level> clearance_level(const PolicySnapshot& s, std::string_view name) {
  if (name.empty()) return 0;
  return s.level(name);
}

// Steps 3-4 of engine.h: empty string if the clearances allow `level`, else
// the reason to deny.
std::string check_clearance(const PolicySnapshot& s, const CallFacts& f, Level level) {
  auto agent = f.agent_registered ? clearance_level(s, f.agent_clearance) : std::optional<Level>(0);
  if (!agent) return "evaluation error: agent clearance " + in_quotes(f.agent_clearance) + " is not a sensitivity level";
  if (level > *agent) {
    return "call sensitivity " + in_quotes(s.levels[level]) + " is above the agent's clearance " +
           in_quotes(s.levels[*agent]);
  }
  if (f.user_clearance) {
    auto user = clearance_level(s, *f.user_clearance);
    if (!user) return "evaluation error: user clearance " + in_quotes(*f.user_clearance) + " is not a sensitivity level";
    if (level > *user) {
      return "call sensitivity " + in_quotes(s.levels[level]) + " is above the user's clearance " +
             in_quotes(s.levels[*user]);
    }
  }
  return {};
}

// Rule id and window first: two limits of one rule (say 5/1m and 100/1h per
// agent) count separately.
std::string limit_key(const Rule& r, const Limit& l, const CallFacts& f) {
  std::string key = r.id;
  key += '|';
  key += std::to_string(l.window.count());
  switch (l.per) {
    case Limit::Per::kAgent:
      key += "|agent|";
      key += f.agent_id;
      break;
    case Limit::Per::kUser:
      if (f.user.empty()) {
        key += "|agent|";  // no user: the agent acts for itself
        key += f.agent_id;
      } else {
        key += "|user|";
        key += f.user;
      }
      break;
    case Limit::Per::kTool:
      key += "|tool|";
      key += f.upstream;
      key += '/';
      key += f.name;
      break;
  }
  return key;
}

void decide_rules(const PolicySnapshot& s, const CallFacts& f, LimitCounter* limits, const ToolCatalog* catalog,
                  Decision& d) {
  auto deny = [&](std::string reason) {
    d.computed_effect = Effect::kDeny;
    d.reason = std::move(reason);
  };
  const std::uint8_t mbit = method_bit(f.method);
  if (mbit == 0) return deny("evaluation error: unsupported method " + in_quotes(f.method));
  const nlohmann::json& args = (f.arguments == nullptr || f.arguments->is_null()) ? empty_object() : *f.arguments;
  if (!args.is_object()) return deny("evaluation error: arguments must be a JSON object");

  const nlohmann::json* annotations = nullptr;
  ToolInfoPtr info;
  if (catalog != nullptr && mbit == kMethodToolsCall) {
    info = catalog->find(f.upstream, f.name);
    if (info && info->held()) {
      return deny("tool definition changed; fingerprint " + info->pinned_fingerprint + " pinned, " +
                  info->seen_fingerprint + " seen");
    }
    if (info) annotations = &info->annotations;
  }

  const ToolClassification tc = classify_tool(s, f.method, f.upstream, f.name, annotations);
  const Level sensitivity = call_sensitivity(s, f.upstream, f.name, args, tc.sensitivity);
  d.action = s.actions[tc.action];
  d.sensitivity = s.levels[sensitivity];
  if (std::string why = check_clearance(s, f, sensitivity); !why.empty()) return deny(std::move(why));

  const CallContext ctx{s, f, mbit, tc.action, sensitivity, args};
  Scratch& scratch = t_scratch;
  scratch.clear();
  s.rule_index.candidates(f.upstream, f.name, scratch.candidates);
  s.agent_index.matching(f.agent_id, f.agent_owner, f.agent_groups, f.agent_registered, scratch.agent_rules);
  const Rule* nearest = nullptr;
  std::size_t nearest_failures = SIZE_MAX;
  for (std::uint32_t index : scratch.candidates) {
    if (!AgentIndex::test(scratch.agent_rules, index)) continue;  // cheap pre-filter; match_target re-checks
    const Rule& r = s.rules[index];
    if (match_target(r, ctx) != Miss::kNone) continue;
    std::size_t failures = 0;
    for (const Condition& c : r.when) {
      if (!condition_holds(c, args, nullptr)) {
        ++failures;
        if (r.effect == Effect::kDeny || r.shadow) break;
      }
    }
    if (failures > 0) {
      if (r.effect != Effect::kDeny && !r.shadow &&
          (failures < nearest_failures || (failures == nearest_failures && r.index < nearest->index))) {
        nearest = &r;
        nearest_failures = failures;
      }
      continue;
    }
    (r.shadow ? scratch.shadow_applied : scratch.applied[slot(r.effect)]).push_back(&r);
  }

  // Candidates come unordered; report rules in file order.
  auto by_index = [](const Rule* a, const Rule* b) { return a->index < b->index; };
  for (auto& list : scratch.applied) std::sort(list.begin(), list.end(), by_index);
  std::sort(scratch.shadow_applied.begin(), scratch.shadow_applied.end(), by_index);
  auto& denies = scratch.applied[slot(Effect::kDeny)];
  auto& holds = scratch.applied[slot(Effect::kRequireApproval)];
  auto& allows = scratch.applied[slot(Effect::kAllow)];
  auto name_rules = [&](const std::vector<const Rule*>& rules) {
    for (const Rule* r : rules) d.rules.push_back(r->id);
  };
  if (!denies.empty()) {
    d.computed_effect = Effect::kDeny;
    name_rules(denies);
    d.reason = "denied by rule " + in_quotes(denies.front()->id);
  } else if (!holds.empty()) {
    d.computed_effect = Effect::kRequireApproval;
    name_rules(holds);
    d.reason = "rule " + in_quotes(holds.front()->id) + " requires approval";
  } else if (!allows.empty()) {
    d.computed_effect = Effect::kAllow;
    name_rules(allows);
    d.reason = "allowed by rule " + in_quotes(allows.front()->id);
  } else {
    d.computed_effect = Effect::kDeny;
    d.reason = "no rule allows this call (default deny)";
    if (nearest != nullptr) {
      for (const Condition& c : nearest->when) {
        std::string detail;
        if (!condition_holds(c, args, &detail)) d.failed_conditions.push_back({nearest->id, c.text, detail});
      }
      d.reason += "; nearest rule " + in_quotes(nearest->id) + " failed " + d.failed_conditions.front().condition +
                  " (" + d.failed_conditions.front().detail + ")";
    }
  }

  // Limits, only for calls that would pass. Holds first, then allows, each in
  // rule order.
  bool limited = false;
  if (d.computed_effect != Effect::kDeny) {
    for (const auto* list : {&holds, &allows}) {
      for (const Rule* r : *list) {
        for (const Limit& l : r->limits) {
          if (limited) break;
          if (limits == nullptr) {
            d.rules = {r->id};
            return deny("evaluation error: rule " + in_quotes(r->id) + " has limits but no rate-limit store is set");
          }
          if (!limits->try_acquire(limit_key(*r, l, f), l.count, l.window, f.now)) {
            limited = true;
            d.computed_effect = Effect::kDeny;
            d.rules = {r->id};
            d.suspend_agent = l.suspend_agent;
            d.reason = "rate limit " + l.text + " of rule " + in_quotes(r->id) + " exceeded" +
                       (l.suspend_agent ? "; agent to be suspended" : "");
          }
        }
      }
    }
  }

  if (!scratch.shadow_applied.empty()) {
    bool any[3] = {!allows.empty(), !holds.empty(), !denies.empty()};
    for (const Rule* r : scratch.shadow_applied) {
      any[slot(r->effect)] = true;
      d.shadow_rules.push_back(r->id);
    }
    Effect e = any[2] ? Effect::kDeny : any[1] ? Effect::kRequireApproval : any[0] ? Effect::kAllow : Effect::kDeny;
    d.shadow_effect = limited ? Effect::kDeny : e;
  }
}

}  // namespace

Decision decide(const PolicySnapshot& s, const CallFacts& f, LimitCounter* limits,
                const ToolCatalog* catalog) noexcept {
  const auto start = std::chrono::steady_clock::now();
  Decision d;
  try {
    d.policy_version = s.version;
    d.policy_revision = s.revision;
    d.shadow = s.shadow;
    decide_rules(s, f, limits, catalog, d);
  } catch (const std::exception& e) {
    d.computed_effect = Effect::kDeny;
    d.rules.clear();
    d.suspend_agent = false;
    try {
      d.reason = std::string("evaluation error: ") + e.what();
    } catch (...) {
    }
  } catch (...) {
    d.computed_effect = Effect::kDeny;
    d.rules.clear();
    d.suspend_agent = false;
  }
  if (s.shadow) {
    d.effect = Effect::kAllow;
    d.suspend_agent = false;
  } else {
    d.effect = d.computed_effect;
  }
  d.eval_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  return d;
}

bool tool_visible(const PolicySnapshot& s, const CallFacts& facts, const ToolCatalog* catalog,
                  const nlohmann::json* annotations) {
  if (s.shadow) return true;
  CallFacts f = facts;
  f.method = kToolsCall;
  ToolInfoPtr info = catalog != nullptr ? catalog->find(f.upstream, f.name) : nullptr;
  if (info && info->held()) return false;
  if (annotations == nullptr && info) annotations = &info->annotations;
  const ToolClassification tc = classify_tool(s, kToolsCall, f.upstream, f.name, annotations);
  if (!check_clearance(s, f, tc.sensitivity).empty()) return false;

  const CallContext ctx{s, f, kMethodToolsCall, tc.action, tc.sensitivity, empty_object()};
  std::vector<std::uint32_t>& candidates = t_scratch.candidates;
  s.rule_index.candidates(f.upstream, f.name, candidates);
  bool could = false;
  for (std::uint32_t index : candidates) {
    const Rule& r = s.rules[index];
    if (r.shadow || match_target(r, ctx) != Miss::kNone) continue;
    if (r.effect == Effect::kDeny) {
      if (r.when.empty()) return false;  // always denied
    } else {
      could = true;
    }
  }
  return could;
}

nlohmann::json filter_tools_list(const PolicySnapshot& s, const CallFacts& facts, std::string_view upstream,
                                 const nlohmann::json& list_result, const ToolCatalog* catalog) {
  nlohmann::json out = nlohmann::json::object();
  if (!list_result.is_object()) return out;
  for (auto it = list_result.begin(); it != list_result.end(); ++it) {
    if (it.key() != "tools") out[it.key()] = it.value();
  }
  nlohmann::json tools = nlohmann::json::array();
  auto listed = list_result.find("tools");
  if (listed != list_result.end() && listed->is_array()) {
    CallFacts f = facts;
    f.upstream = upstream;
    f.arguments = nullptr;
    for (const auto& tool : *listed) {
      if (!tool.is_object()) continue;
      auto name = tool.find("name");
      if (name == tool.end() || !name->is_string()) continue;
      f.name = name->get_ref<const std::string&>();
      const nlohmann::json* annotations = nullptr;
      if (catalog == nullptr || !catalog->find(upstream, f.name)) {
        auto a = tool.find("annotations");
        annotations = a != tool.end() ? &*a : nullptr;
      }
      if (tool_visible(s, f, catalog, annotations)) tools.push_back(tool);
    }
  }
  out["tools"] = std::move(tools);
  return out;
}

}  // namespace portcullis::policy
