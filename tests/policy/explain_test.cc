#include "policy/explain.h"

#include <doctest/doctest.h>

#include "policy/tool_catalog.h"
#include "test_util.h"

using namespace portcullis::policy;
using portcullis::policy::testing::Call;
using portcullis::policy::testing::load_ok;
using portcullis::policy::testing::read_data;

TEST_CASE("explaining does not use up rate limits") {
  auto s = load_ok(R"(
version: "1"
rules:
  - { id: once, effect: allow, agents: { any: true }, tools: {}, limits: [ { rate: 1/1h } ] }
)");
  Call c;
  for (int i = 0; i < 3; ++i) CHECK(explain_decision(*s, c.facts(), nullptr).find("decision: allow") == 0);
}

TEST_CASE("an explanation names shadow rules and what they would do") {
  auto s = load_ok(read_data("support_finance.yaml"));
  Call c;
  c.name = "search_customers";
  c.arguments = {{"email", "x@example.com"}, {"limit", 1}};
  std::string t = explain_decision(*s, c.facts(), nullptr);
  CHECK(t.find("shadow rules canary-deny-search-by-email would make it: deny") != std::string::npos);
  CHECK(t.find("  canary-deny-search-by-email (deny, shadow): applies") != std::string::npos);
}

TEST_CASE("an explanation of a held tool gives the pinning reason") {
  auto s = load_ok(read_data("support_finance.yaml"));
  ToolCatalog catalog;
  catalog.observe("crm", {{"name", "read_record"}, {"description", "a"}});
  catalog.observe("crm", {{"name", "read_record"}, {"description", "b"}});
  Call c;
  c.arguments = {{"limit", 1}};
  std::string t = explain_decision(*s, c.facts(), &catalog);
  CHECK(t.find("reason: tool definition changed; fingerprint ") != std::string::npos);
}
