#include "policy/policy_commands.h"

#include <nlohmann/json.hpp>

#include "policy/call_facts.h"
#include "policy/explain.h"
#include "policy/policy_tests.h"

namespace portcullis::policy {

namespace {

// Loads, or fills `out` with the errors.
PolicySnapshotPtr load(const std::vector<std::string>& files, const LoadOptions& options, CommandOutput& out) {
  auto loaded = load_policy_files(files, options);
  if (!loaded) {
    for (const PolicyError& e : loaded.error()) out.output += e.to_string() + "\n";
    out.exit_code = 1;
    return nullptr;
  }
  for (const PolicyError& w : loaded->warnings) out.output += "warning: " + w.to_string() + "\n";
  return loaded->snapshot;
}

}  // namespace

CommandOutput policy_test_command(const std::vector<std::string>& files, const std::vector<AgentRecord>& registry,
                                  const LoadOptions& options) {
  CommandOutput out;
  PolicySnapshotPtr snapshot = load(files, options, out);
  if (!snapshot) return out;
  auto results = run_policy_tests(*snapshot, registry);
  out.output += format_test_results(results);
  for (const auto& r : results) {
    if (!r.passed) out.exit_code = 1;
  }
  return out;
}

CommandOutput policy_explain_command(const std::vector<std::string>& files, const std::vector<AgentRecord>& registry,
                                     const ExplainRequest& request, const LoadOptions& options) {
  CommandOutput out;
  auto slash = request.tool.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == request.tool.size()) {
    return {"--tool: expected UPSTREAM/TOOL, e.g. crm/read_record\n", 1};
  }
  nlohmann::json args = nlohmann::json::object();
  if (!request.arguments.empty()) {
    args = nlohmann::json::parse(request.arguments, nullptr, false);
    if (args.is_discarded() || !args.is_object()) return {"--args: expected a JSON object\n", 1};
  }
  PolicySnapshotPtr snapshot = load(files, options, out);
  if (!snapshot) return out;

  std::string upstream = request.tool.substr(0, slash), name = request.tool.substr(slash + 1);
  CallFacts f;
  f.agent_id = request.agent;
  const AgentRecord* agent = nullptr;
  for (const auto* list : {&snapshot->test_agents, &registry}) {
    for (const AgentRecord& a : *list) {
      if (!agent && a.id == request.agent) agent = &a;
    }
  }
  if (agent != nullptr) {
    f.agent_registered = true;
    f.agent_owner = agent->owner;
    f.agent_groups = agent->groups;
    f.agent_clearance = agent->clearance;
  } else {
    out.output += "note: agent '" + request.agent + "' is not registered\n";
  }
  f.user = request.user;
  if (request.user_clearance) f.user_clearance = *request.user_clearance;
  f.upstream = upstream;
  f.method = request.method;
  f.name = name;
  f.arguments = &args;
  f.now = std::chrono::system_clock::now();
  out.output += explain_decision(*snapshot, f, nullptr);
  return out;
}

}  // namespace portcullis::policy
