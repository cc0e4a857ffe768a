#include "policy/policy_tests.h"

#include <nlohmann/json.hpp>

#include "policy/call_facts.h"
#include "policy/engine.h"
#include "policy/limit_counter.h"

namespace portcullis::policy {

namespace {

const AgentRecord* find_agent(const PolicySnapshot& s, const std::vector<AgentRecord>& registry,
                              const std::string& id) {
  for (const AgentRecord& a : s.test_agents) {
    if (a.id == id) return &a;
  }
  for (const AgentRecord& a : registry) {
    if (a.id == id) return &a;
  }
  return nullptr;
}

}  // namespace

std::vector<PolicyTestResult> run_policy_tests(const PolicySnapshot& s, const std::vector<AgentRecord>& registry) {
  std::vector<PolicyTestResult> results;
  InMemoryLimitCounter limits;
  // 2026-01-01T00:00:00Z: a fixed clock keeps limit windows deterministic.
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
  for (const PolicyTest& t : s.tests) {
    CallFacts f;
    f.agent_id = t.agent;
    if (const AgentRecord* a = find_agent(s, registry, t.agent)) {
      f.agent_registered = true;
      f.agent_owner = a->owner;
      f.agent_groups = a->groups;
      f.agent_clearance = a->clearance;
    }
    f.user = t.user;
    if (t.user_clearance) f.user_clearance = *t.user_clearance;
    f.upstream = t.upstream;
    f.method = t.method;
    f.name = t.tool;
    f.arguments = &t.arguments;
    f.now = now;
    PolicyTestResult r;
    r.test = &t;
    r.decision = decide(s, f, &limits, nullptr);
    r.passed = r.decision.computed_effect == t.expect;
    results.push_back(std::move(r));
  }
  return results;
}

std::string format_test_results(const std::vector<PolicyTestResult>& results) {
  std::string out;
  std::size_t passed = 0;
  for (const PolicyTestResult& r : results) {
    if (r.passed) {
      ++passed;
      out += "PASS " + r.test->name + "\n";
      continue;
    }
    out += "FAIL " + r.test->name + ": expected " + std::string(effect_name(r.test->expect)) + " got " +
           std::string(effect_name(r.decision.computed_effect)) + " (";
    if (r.decision.rules.empty()) {
      out += r.decision.reason;
    } else {
      out += r.decision.rules.size() == 1 ? "rule " : "rules ";
      for (std::size_t i = 0; i < r.decision.rules.size(); ++i) out += (i ? ", " : "") + r.decision.rules[i];
    }
    out += ")\n";
  }
  out += std::to_string(passed) + " passed, " + std::to_string(results.size() - passed) + " failed\n";
  return out;
}

}  // namespace portcullis::policy
