#include "policy/policy_commands.h"

#include <doctest/doctest.h>

#include "test_util.h"

using namespace portcullis::policy;
using portcullis::policy::testing::data_path;

TEST_CASE("policy test prints each result and a summary, and exits 0 when all pass") {
  CommandOutput out = policy_test_command({data_path("support_finance.yaml")});
  CHECK(out.exit_code == 0);
  CHECK(out.output.find("PASS finance large transfers need approval\n") != std::string::npos);
  CHECK(out.output.rfind("12 passed, 0 failed\n") == out.output.size() - std::string("12 passed, 0 failed\n").size());
}

TEST_CASE("policy test exits 1 with load errors as file:line:col lines") {
  CommandOutput out = policy_test_command({data_path("does_not_exist.yaml")});
  CHECK(out.exit_code == 1);
  CHECK(out.output.find("does_not_exist.yaml: cannot read the policy file") != std::string::npos);
}

TEST_CASE("policy explain prints the decision, the deciding rule and why the others did not match") {
  ExplainRequest req;
  req.agent = "support-bot";
  req.tool = "crm/read_record";
  req.arguments = R"({"id": "r-1", "limit": 11})";
  CommandOutput out = policy_explain_command({data_path("support_finance.yaml")}, {}, req);
  CHECK(out.exit_code == 0);
  const std::string& t = out.output;
  CHECK(t.find("decision: deny\n") != std::string::npos);
  CHECK(t.find("failed condition of rule support-reads: /limit max 10 (11 is above 10)") != std::string::npos);
  CHECK(t.find("  support-reads (allow): condition failed: /limit max 10 (11 is above 10)") != std::string::npos);
  CHECK(t.find("  support-updates (allow): action 'read' is not one of [write]") == std::string::npos);
  CHECK(t.find("  support-updates (allow): tool 'read_record' does not match 'update_*'") != std::string::npos);
  CHECK(t.find("  finance-reads (allow): upstream 'crm' does not match 'payments'") != std::string::npos);
  CHECK(t.find("  support-deletes-need-approval (require_approval): action 'read' is not one of [delete]") !=
        std::string::npos);
  CHECK(t.find("policy: version 2026.11.22, revision ") != std::string::npos);

  req.arguments = R"({"id": "r-1", "limit": 3})";
  out = policy_explain_command({data_path("support_finance.yaml")}, {}, req);
  CHECK(out.output.find("decision: allow\n") != std::string::npos);
  CHECK(out.output.find("deciding rules: support-reads\n") != std::string::npos);
  CHECK(out.output.find("  support-reads (allow): applies (deciding)") != std::string::npos);
}

TEST_CASE("policy explain uses the registry for agents the file does not name") {
  ExplainRequest req;
  req.agent = "ops-bot";
  req.tool = "crm/update_ticket";
  req.arguments = R"({"status": "open"})";
  CommandOutput out = policy_explain_command({data_path("support_finance.yaml")},
                                             {{"ops-bot", "carol@example.com", {"support"}, "internal"}}, req);
  CHECK(out.output.find("decision: allow\n") != std::string::npos);
  req.agent = "stranger";
  out = policy_explain_command({data_path("support_finance.yaml")}, {}, req);
  CHECK(out.output.find("note: agent 'stranger' is not registered") != std::string::npos);
  CHECK(out.output.find("decision: deny\n") != std::string::npos);
}

TEST_CASE("policy explain rejects a malformed tool or arguments") {
  ExplainRequest req;
  req.agent = "a";
  req.tool = "no-slash";
  CHECK(policy_explain_command({data_path("support_finance.yaml")}, {}, req).exit_code == 1);
  req.tool = "crm/x";
  req.arguments = "[1]";
  CommandOutput out = policy_explain_command({data_path("support_finance.yaml")}, {}, req);
  CHECK(out.exit_code == 1);
  CHECK(out.output.find("--args") != std::string::npos);
}
