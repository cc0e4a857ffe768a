#include "policy/explain.h"

#include <sstream>

#include <nlohmann/json.hpp>

#include "policy/classification.h"
#include "policy/engine.h"
#include "policy/limit_counter.h"
#include "policy/rule_eval.h"
#include "policy/tool_catalog.h"

namespace portcullis::policy {

namespace {

// Lets every limit pass, so explaining never consumes a real budget.
class UncountedLimits final : public LimitCounter {
 public:
  bool try_acquire(const std::string&, std::uint32_t, std::chrono::milliseconds,
                   std::chrono::system_clock::time_point) override {
    return true;
  }
};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::string explain_decision(const PolicySnapshot& s, const CallFacts& f, const ToolCatalog* catalog) {
  UncountedLimits limits;
  Decision d = decide(s, f, &limits, catalog);
  std::ostringstream out;
  out << "decision: " << effect_name(d.effect);
  if (d.shadow) out << " (shadow mode; computed: " << effect_name(d.computed_effect) << ")";
  out << "\nreason: " << d.reason << "\n";
  if (!d.rules.empty()) out << "deciding rules: " << join(d.rules) << "\n";
  if (!d.action.empty()) out << "action: " << d.action << ", sensitivity: " << d.sensitivity << "\n";
  for (const FailedCondition& fc : d.failed_conditions) {
    out << "failed condition of rule " << fc.rule_id << ": " << fc.condition << " (" << fc.detail << ")\n";
  }
  if (d.shadow_effect) {
    out << "shadow rules " << join(d.shadow_rules) << " would make it: " << effect_name(*d.shadow_effect) << "\n";
  }
  out << "policy: version " << s.version << ", revision " << s.revision << "\n";

  // Per rule, with the same matching code as decide().
  const std::uint8_t mbit = method_bit(f.method);
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& args =
      (f.arguments == nullptr || f.arguments->is_null() || !f.arguments->is_object()) ? empty : *f.arguments;
  const nlohmann::json* annotations = nullptr;
  ToolInfoPtr info = (catalog != nullptr && mbit == kMethodToolsCall) ? catalog->find(f.upstream, f.name) : nullptr;
  if (info) annotations = &info->annotations;
  const ToolClassification tc = classify_tool(s, f.method, f.upstream, f.name, annotations);
  const CallContext ctx{s, f, mbit, tc.action, call_sensitivity(s, f.upstream, f.name, args, tc.sensitivity), args};
  out << "rules:\n";
  for (const Rule& r : s.rules) {
    out << "  " << r.id << " (" << effect_name(r.effect) << (r.shadow ? ", shadow" : "") << "): ";
    Miss miss = match_target(r, ctx);
    if (miss != Miss::kNone) {
      out << describe_miss(miss, r, ctx) << "\n";
      continue;
    }
    std::vector<std::string> failed;
    for (const Condition& c : r.when) {
      std::string detail;
      if (!condition_holds(c, args, &detail)) failed.push_back(c.text + " (" + detail + ")");
    }
    if (!failed.empty()) {
      out << "condition failed: " << join(failed) << "\n";
    } else {
      bool deciding = std::find(d.rules.begin(), d.rules.end(), r.id) != d.rules.end();
      out << (deciding ? "applies (deciding)" : "applies") << "\n";
    }
  }
  return out.str();
}

}  // namespace portcullis::policy
