#include "policy/lint.h"

#include <doctest/doctest.h>

#include "policy/tool_catalog.h"
#include "test_util.h"

using namespace portcullis::policy;
using portcullis::policy::testing::warnings_of;

namespace {

bool has(const std::vector<std::string>& warnings, const std::string& text) {
  for (const auto& w : warnings) {
    if (w.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string all(const std::vector<std::string>& w) {
  std::string s;
  for (const auto& x : w) s += x + "\n";
  return s;
}

}  // namespace

TEST_CASE("a rule for an unknown upstream is reported") {
  LoadOptions o;
  o.known_upstreams = {"crm", "payments"};
  auto w = warnings_of(R"(
version: "1"
rules:
  - { id: typo, effect: allow, agents: { any: true }, tools: { upstream: cmr } }
  - { id: ok, effect: allow, agents: { any: true }, tools: { upstream: "pay*" } }
)", o);
  CHECK(has(w, "policy.yaml:4:5: rules[0]: rule 'typo' can never match: no upstream matches 'cmr' (known: crm, payments)"));
  CHECK_FALSE(has(w, "'ok'"));
}

TEST_CASE("a tool glob that matches no known tool is reported") {
  ToolCatalog catalog;
  catalog.observe("crm", {{"name", "read_record"}});
  LoadOptions o;
  o.catalog = &catalog;
  auto w = warnings_of(R"(
version: "1"
rules:
  - { id: reads, effect: allow, agents: { any: true }, tools: { upstream: crm, tool: "get_*" } }
  - { id: fine, effect: allow, agents: { any: true }, tools: { upstream: crm, tool: "read_*" } }
  - { id: unseen-upstream, effect: allow, agents: { any: true }, tools: { upstream: hr, tool: "get_*" } }
)", o);
  CHECK(has(w, "rule 'reads' can never match: tool pattern 'get_*' matches no tool"));
  CHECK_FALSE(has(w, "'fine'"));
  CHECK_FALSE(has(w, "'unseen-upstream'"));
}

TEST_CASE("an argument pointer outside the tool's inputSchema is reported") {
  ToolCatalog catalog;
  catalog.observe("crm", nlohmann::json::parse(R"({
    "name": "read_record",
    "inputSchema": {"type": "object", "properties": {
      "limit": {"type": "integer"},
      "filter": {"type": "object", "properties": {"owner": {"type": "string"}}}}}})"));
  LoadOptions o;
  o.catalog = &catalog;
  auto w = warnings_of(R"(
version: "1"
rules:
  - id: r
    effect: allow
    agents: { any: true }
    tools: { upstream: crm, tool: read_record }
    when:
      - { argument: /limt, max: 10 }
      - { argument: /limit, max: 10 }
      - { argument: /filter/owner, in: [me] }
      - { argument: /filter/ownr, in: [me] }
)", o);
  CHECK(has(w, "argument /limt is outside the inputSchema"));
  CHECK(has(w, "argument /filter/ownr is outside the inputSchema"));
  CHECK_FALSE(has(w, "argument /limit "));
  CHECK_FALSE(has(w, "argument /filter/owner "));
}

TEST_CASE("a shadowed rule is reported") {
  auto w = warnings_of(R"(
version: "1"
rules:
  - { id: no-crm, effect: deny, agents: { any: true }, tools: { upstream: crm } }
  - { id: support-reads, effect: allow, agents: { groups: [support] }, tools: { upstream: crm, tool: "read_*" } }
  - { id: conditional-deny, effect: deny, agents: { any: true }, tools: { upstream: hr }, when: [ { argument: /x, max: 1 } ] }
  - { id: hr-reads, effect: allow, agents: { any: true }, tools: { upstream: hr } }
)");
  CHECK(has(w, "rule 'support-reads' is shadowed: deny rule 'no-crm'"));
  CHECK_FALSE(has(w, "'hr-reads' is shadowed"));
}

TEST_CASE("a redundant rule is reported once") {
  auto w = warnings_of(R"(
version: "1"
rules:
  - { id: broad, effect: allow, agents: { groups: [support, ops] }, tools: { upstream: crm, tool: "read_*" } }
  - { id: narrow, effect: allow, agents: { groups: [support] }, tools: { upstream: crm, tool: read_record }, when: [ { argument: /x, max: 1 } ] }
  - { id: twin-a, effect: deny, agents: { any: true }, tools: { upstream: hr } }
  - { id: twin-b, effect: deny, agents: { any: true }, tools: { upstream: hr } }
)");
  CHECK(has(w, "rule 'narrow' is redundant: rule 'broad'"));
  CHECK(has(w, "rule 'twin-b' is redundant: rule 'twin-a'"));
  CHECK_FALSE(has(w, "rule 'twin-a' is redundant"));
  CHECK_FALSE(has(w, "rule 'broad' is"));
}

TEST_CASE("an allow rule broader than the deny beside it is reported") {
  auto w = warnings_of(R"(
version: "1"
rules:
  - { id: all-crm, effect: allow, agents: { any: true }, tools: { upstream: crm } }
  - { id: no-exports, effect: deny, agents: { any: true }, tools: { upstream: crm, tool: "export_*" } }
)");
  CHECK(has(w, "allow rule 'all-crm' is broader than the deny rule 'no-exports' beside it"));
}

TEST_CASE("an action no tools entry declares is reported") {
  auto w = warnings_of(R"(
version: "1"
tools: [ { match: { tool: "pay_*" }, action: financial } ]
rules:
  - { id: r, effect: allow, agents: { any: true }, tools: { actions: [financial, finacial] } }
)");
  CHECK(has(w, "rule 'r' can never match action 'finacial'"));
  CHECK_FALSE(has(w, "action 'financial'"));
}

TEST_CASE("the sample policy loads without warnings") {
  LoadOptions o;
  o.known_upstreams = {"crm", "payments"};
  auto w = warnings_of(portcullis::policy::testing::read_data("support_finance.yaml"), o);
  CHECK_MESSAGE(w.empty(), all(w));
}

TEST_CASE("rule_covers is conservative") {
  auto s = portcullis::policy::testing::load_ok(R"(
version: "1"
rules:
  - { id: a, effect: allow, agents: { any: true }, tools: { upstream: "c*", tool: "read_*" } }
  - { id: b, effect: allow, agents: { ids: [x] }, tools: { upstream: crm, tool: "read_rec*" } }
  - { id: c, effect: allow, agents: { ids: [x] }, tools: { upstream: crm, tool: "*_record" } }
)");
  CHECK(rule_covers(s->rules[0], s->rules[1]));
  CHECK_FALSE(rule_covers(s->rules[1], s->rules[0]));
  CHECK_FALSE(rule_covers(s->rules[0], s->rules[2]));  // cannot tell: not claimed
}
