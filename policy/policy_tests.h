// Running a policy file's `tests:`.
//
// Each case is decided against the snapshot with a fresh in-memory limit
// counter shared by the run (cases run in file order, so consecutive cases
// can exercise a limit), no tool catalog (unlisted tools are classified
// pessimistically) and a fixed clock. The expectation is compared with the
// computed effect, so tests mean the same in shadow mode.
//
// The agent named by a case is looked up first in the file's test agents
// (`tests: {agents: [...], cases: [...]}`), then in `registry` (the gateway
// config's `agents:`); an agent in neither is unregistered (no owner or
// groups, lowest clearance).
#pragma once

#include <string>
#include <vector>

#include "policy/decision.h"
#include "policy/policy_snapshot.h"

namespace portcullis::policy {

struct PolicyTestResult {
  const PolicyTest* test = nullptr;  // points into the snapshot
  bool passed = false;
  Decision decision;
};

std::vector<PolicyTestResult> run_policy_tests(const PolicySnapshot& snapshot,
                                               const std::vector<AgentRecord>& registry);

// "PASS name" / "FAIL name: expected X got Y (rule a, b)" lines, then
// "N passed, N failed".
std::string format_test_results(const std::vector<PolicyTestResult>& results);

}  // namespace portcullis::policy
