#include "policy/policy_tests.h"

#include <doctest/doctest.h>

#include "test_util.h"

using namespace portcullis::policy;
using portcullis::policy::testing::load_ok;
using portcullis::policy::testing::read_data;

TEST_CASE("the sample policy's tests all pass") {
  auto s = load_ok(read_data("support_finance.yaml"));
  auto results = run_policy_tests(*s, {});
  REQUIRE(results.size() == 12);
  std::string text = format_test_results(results);
  CHECK_MESSAGE(text.find("12 passed, 0 failed") != std::string::npos, text);
  CHECK(text.find("PASS support reads up to 10 records\n") != std::string::npos);
}

TEST_CASE("a failing test names expected and actual effects and the deciding rule") {
  auto s = load_ok(R"(
version: "1"
rules:
  - { id: hold-all, effect: require_approval, agents: { any: true }, tools: {} }
tests:
  - { name: expects allow, request: { agent: a, tool: crm/x }, expect: allow }
  - { name: expects hold, request: { agent: a, tool: crm/x }, expect: require_approval }
)");
  auto results = run_policy_tests(*s, {{"a", "o@example.com", {}, "restricted"}});
  std::string text = format_test_results(results);
  CHECK(text == "FAIL expects allow: expected allow got require_approval (rule hold-all)\n"
                "PASS expects hold\n"
                "1 passed, 1 failed\n");
}

TEST_CASE("a failing test with no deciding rule gives the reason") {
  auto s = load_ok(R"(
version: "1"
rules: []
tests:
  - { name: nothing allows it, request: { agent: a, tool: crm/x }, expect: allow }
)");
  std::string text = format_test_results(run_policy_tests(*s, {{"a", "o", {}, "restricted"}}));
  CHECK(text.find("FAIL nothing allows it: expected allow got deny (no rule allows this call") != std::string::npos);
}

TEST_CASE("test agents come from the file first, then from the registry") {
  auto s = load_ok(R"(
version: "1"
rules:
  - { id: support, effect: allow, agents: { groups: [support] }, tools: {} }
tests:
  agents:
    - { id: file-bot, groups: [support], clearance: restricted }
    - { id: shadowing-bot, groups: [sales], clearance: restricted }
  cases:
    - { name: file agent, request: { agent: file-bot, tool: crm/x }, expect: allow }
    - { name: registry agent, request: { agent: registry-bot, tool: crm/x }, expect: allow }
    - { name: file wins, request: { agent: shadowing-bot, tool: crm/x }, expect: deny }
    - { name: unknown agent, request: { agent: nobody, tool: crm/x }, expect: deny }
)");
  std::vector<AgentRecord> registry = {{"registry-bot", "o", {"support"}, "restricted"},
                                       {"shadowing-bot", "o", {"support"}, "restricted"}};
  std::string text = format_test_results(run_policy_tests(*s, registry));
  CHECK_MESSAGE(text.find("4 passed, 0 failed") != std::string::npos, text);
}

TEST_CASE("tests compare the computed effect, so they hold in shadow mode") {
  LoadOptions o;
  o.shadow = true;
  auto s = load_ok(read_data("support_finance.yaml"), o);
  CHECK(format_test_results(run_policy_tests(*s, {})).find("12 passed, 0 failed") != std::string::npos);
}

TEST_CASE("consecutive tests share a limit counter") {
  auto s = load_ok(R"(
version: "1"
rules:
  - { id: once, effect: allow, agents: { any: true }, tools: {}, limits: [ { rate: 1/1h } ] }
tests:
  - { name: first, request: { agent: a, tool: crm/x }, expect: allow }
  - { name: second, request: { agent: a, tool: crm/x }, expect: deny }
)");
  std::vector<AgentRecord> registry = {{"a", "o", {}, "restricted"}};
  CHECK(format_test_results(run_policy_tests(*s, registry)).find("2 passed, 0 failed") != std::string::npos);
}
