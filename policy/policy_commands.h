// The text and exit code of `portcullis policy test` and `portcullis policy
// explain`; main.cc prints `output` and exits with `exit_code`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/policy_loader.h"
#include "policy/policy_snapshot.h"

namespace portcullis::policy {

struct CommandOutput {
  std::string output;
  int exit_code = 0;  // 0: loaded and all passed / explained; 1 otherwise
};

// Loads `files` (load errors and lint warnings are printed, as
// `file:line:col: key: message` and `warning: ...`), runs their tests.
// `registry`: the gateway config's agents, if a config was given.
CommandOutput policy_test_command(const std::vector<std::string>& files, const std::vector<AgentRecord>& registry = {},
                                  const LoadOptions& options = {});

struct ExplainRequest {
  std::string agent;
  std::string user;
  std::optional<std::string> user_clearance;
  std::string tool;       // UPSTREAM/TOOL (for resources/read: UPSTREAM/URI)
  std::string arguments;  // JSON text; empty: {}
  std::string method = "tools/call";
};

CommandOutput policy_explain_command(const std::vector<std::string>& files, const std::vector<AgentRecord>& registry,
                                     const ExplainRequest& request, const LoadOptions& options = {});

}  // namespace portcullis::policy
