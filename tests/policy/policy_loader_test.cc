#include "policy/policy_loader.h"

#include <doctest/doctest.h>

#include "test_util.h"

using namespace portcullis::policy;
using portcullis::policy::testing::data_path;
using portcullis::policy::testing::errors_text;
using portcullis::policy::testing::load_errors;
using portcullis::policy::testing::load_ok;
using portcullis::policy::testing::read_data;

namespace {

const char* kBase = R"(
version: "1"
sensitivity_levels: [public, internal, confidential, restricted]
default_sensitivity: internal
tools:
  - { match: { upstream: crm, tool: "read_*" }, action: read, sensitivity: internal }
rules:
  - id: support-reads
    effect: allow
    agents: { groups: [support] }
    tools: { upstream: crm, actions: [read] }
    when: [ { argument: /limit, max: 10 } ]
)";

}  // namespace

TEST_CASE("the sample policy loads with its version, levels, rules and tests") {
  auto loaded = load_policy_files({data_path("support_finance.yaml")});
  REQUIRE_MESSAGE(loaded, (loaded ? "" : errors_text(loaded.error())));
  const PolicySnapshot& s = *loaded->snapshot;
  CHECK(s.version == "2026.11.22");
  CHECK(s.levels.size() == 4);
  CHECK(s.levels[s.default_sensitivity] == "internal");
  CHECK(s.rules.size() == 9);
  CHECK(s.tests.size() == 12);
  CHECK(s.test_agents.size() == 2);
  CHECK(s.rule("canary-deny-search-by-email")->shadow);
  CHECK(s.action("financial").has_value());
  CHECK(s.revision.size() == 64);
}

TEST_CASE("a missing file is an error naming it") {
  auto loaded = load_policy_files({"/nonexistent/policy.yaml"});
  REQUIRE_FALSE(loaded);
  CHECK(errors_text(loaded.error()).find("/nonexistent/policy.yaml") != std::string::npos);
}

TEST_CASE("duplicate YAML keys are rejected at load") {
  std::string errors = load_errors(R"(
version: "1"
rules:
  - id: r
    effect: allow
    effect: deny
    agents: { any: true }
    tools: {}
)");
  CHECK(errors.find("policy.yaml:6:5: rules[0].effect: duplicate key") != std::string::npos);
}

TEST_CASE("unknown keys are errors naming file, line and key") {
  std::string errors = load_errors(std::string(kBase) + R"(
  - id: typo
    effect: allow
    agents: { any: true }
    tools: { upstream: crm, tol: "read_*" }
)");
  CHECK(errors.find("policy.yaml:17:29: rules[1].tools.tol: unknown key") != std::string::npos);
}

TEST_CASE("bad values are reported with their position and key") {
  std::string errors = load_errors(R"(
version: "1"
rules:
  - id: a
    effect: permit
    agents: {}
    tools: { upstream: "" }
    when:
      - { argument: limit, max: "10" }
      - { argument: /x, pattern: "(unclosed" }
      - { argument: /y }
      - { argument: /z, min: 5, max: 1 }
      - { argument: /w, required: true, optional: true }
    limits: [ { rate: lots } ]
  - { id: "bad id!", effect: deny, agents: { any: true }, tools: {} }
)");
  CHECK(errors.find("rules[0].effect: \"permit\" is not one of: allow, deny, require_approval") != std::string::npos);
  CHECK(errors.find("rules[0].agents: name ids, groups or owners, or set any: true") != std::string::npos);
  CHECK(errors.find("rules[0].tools.upstream: must not be empty") != std::string::npos);
  CHECK(errors.find("rules[0].when[0].argument: \"limit\" is not a JSON pointer") != std::string::npos);
  CHECK(errors.find("rules[0].when[0].max: must be a number") != std::string::npos);
  CHECK(errors.find("rules[0].when[1].pattern: invalid RE2 pattern") != std::string::npos);
  CHECK(errors.find("rules[0].when[2]: a condition needs") != std::string::npos);
  CHECK(errors.find("rules[0].when[3].min: min is above max") != std::string::npos);
  CHECK(errors.find("rules[0].when[4].optional: a condition cannot be both") != std::string::npos);
  CHECK(errors.find("rules[0].limits[0].rate: \"lots\" is not a rate") != std::string::npos);
  CHECK(errors.find("rules[1].id: rule ids use") != std::string::npos);
  CHECK(errors.find("policy.yaml:5:13: rules[0].effect") != std::string::npos);
}

TEST_CASE("rules need an id, an effect, agents and tools") {
  std::string errors = load_errors("version: \"1\"\nrules:\n  - { mode: shadow }\n");
  for (const char* key : {"rules[0].id: required", "rules[0].effect: required", "rules[0].agents: required",
                          "rules[0].tools: required"}) {
    CHECK_MESSAGE(errors.find(key) != std::string::npos, key);
  }
}

TEST_CASE("a sensitivity that is not a level is an error") {
  std::string errors = load_errors(R"(
version: "1"
sensitivity_levels: [low, high]
default_sensitivity: medium
tools: [ { match: { tool: x }, sensitivity: top } ]
)");
  CHECK(errors.find("default_sensitivity: \"medium\" is not one of the sensitivity_levels") != std::string::npos);
  CHECK(errors.find("tools[0].sensitivity: \"top\" is not one of the sensitivity_levels") != std::string::npos);
}

TEST_CASE("limits on a deny rule are an error") {
  std::string errors = load_errors(R"(
version: "1"
rules:
  - { id: d, effect: deny, agents: { any: true }, tools: {}, limits: [ { rate: 1/s } ] }
)");
  CHECK(errors.find("limits apply only to allow and require_approval rules") != std::string::npos);
}

TEST_CASE("rates accept counts over durations") {
  auto s = load_ok(R"(
version: "1"
rules:
  - id: r
    effect: allow
    agents: { any: true }
    tools: {}
    limits:
      - { rate: 60/1m }
      - { rate: 10/s, per: user }
      - { rate: 5/30s, per: tool, on_exceed: suspend_agent }
      - { rate: 1000/1d }
      - { rate: 2/250ms }
)");
  const auto& l = s->rules[0].limits;
  REQUIRE(l.size() == 5);
  CHECK(l[0].count == 60);
  CHECK(l[0].window == std::chrono::minutes(1));
  CHECK(l[1].window == std::chrono::seconds(1));
  CHECK(l[1].per == Limit::Per::kUser);
  CHECK(l[2].window == std::chrono::seconds(30));
  CHECK(l[2].suspend_agent);
  CHECK(l[3].window == std::chrono::hours(24));
  CHECK(l[4].window == std::chrono::milliseconds(250));
}

TEST_CASE("several files merge and a rule id used twice is an error") {
  const std::string a = std::string(kBase);
  const std::string b = R"(
version: "1"
rules:
  - { id: finance-reads, effect: allow, agents: { groups: [finance] }, tools: { upstream: payments } }
)";
  auto merged = load_policy_text({{"a.yaml", a}, {"b.yaml", b}});
  REQUIRE(merged);
  CHECK(merged->snapshot->rules.size() == 2);
  CHECK(merged->snapshot->files == std::vector<std::string>{"a.yaml", "b.yaml"});
  CHECK(merged->snapshot->rules[1].pos.file == "b.yaml");

  auto dup = load_policy_text({{"a.yaml", a}, {"c.yaml", a}});
  REQUIRE_FALSE(dup);
  std::string errors = errors_text(dup.error());
  CHECK(errors.find("c.yaml:8:9: rules[0].id: duplicate rule id \"support-reads\" (first defined at a.yaml:8)") !=
        std::string::npos);
}

TEST_CASE("files with different sensitivity levels do not merge") {
  auto r = load_policy_text({{"a.yaml", kBase},
                             {"b.yaml", "version: \"1\"\nsensitivity_levels: [low, high]\ndefault_sensitivity: low\n"}});
  REQUIRE_FALSE(r);
  CHECK(errors_text(r.error()).find("differs from the sensitivity_levels in a.yaml") != std::string::npos);
}

TEST_CASE("the revision is stable across formatting changes") {
  const std::string reformatted = R"(
# the same policy, reformatted: comments, block style, key order, quoting
default_sensitivity: "internal"
version: '1'
sensitivity_levels:
  - public
  - internal
  - confidential
  - restricted
tools:
  - sensitivity: internal
    action: "read"
    match:
      tool: read_*
      upstream: crm
rules:
  - tools:
      actions: [ read ]
      upstream: crm
    when:
      - max: 10
        argument: "/limit"
    agents:
      groups: [ "support" ]
    effect: allow
    id: support-reads
)";
  CHECK(load_ok(kBase)->revision == load_ok(reformatted)->revision);
}

TEST_CASE("the revision changes with any semantic change") {
  const std::string base = kBase;
  const std::string rev = load_ok(base)->revision;
  auto changed = [&](const std::string& from, const std::string& to) {
    std::string text = base;
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    return load_ok(text)->revision;
  };
  CHECK(changed("max: 10", "max: 11") != rev);
  CHECK(changed("max: 10", "max: 10.5") != rev);
  CHECK(changed("groups: [support]", "groups: [support, ops]") != rev);
  CHECK(changed("effect: allow", "effect: require_approval") != rev);
  CHECK(changed("version: \"1\"", "version: \"2\"") != rev);
  CHECK(changed("tool: \"read_*\"", "tool: \"get_*\"") != rev);
  CHECK(changed("sensitivity: internal }", "sensitivity: confidential }") != rev);
}

TEST_CASE("quoting a condition value changes its type, and the revision") {
  const std::string a = R"(
version: "1"
rules:
  - { id: r, effect: allow, agents: { any: true }, tools: {}, when: [ { argument: /n, in: [10] } ] }
)";
  std::string b = a;
  b.replace(b.find("[10]"), 4, "[\"10\"]");
  auto sa = load_ok(a), sb = load_ok(b);
  CHECK(sa->revision != sb->revision);
  CHECK((*sa->rules[0].when[0].in)[0].is_number());
  CHECK((*sb->rules[0].when[0].in)[0].is_string());
}

TEST_CASE("tests may be a plain list of cases") {
  auto s = load_ok(std::string(kBase) + R"(
tests:
  - name: one
    request: { agent: a, tool: crm/read_record, method: tools/call, user: u1, user_clearance: public, arguments: { limit: 1 } }
    expect: deny
)");
  REQUIRE(s->tests.size() == 1);
  CHECK(s->tests[0].upstream == "crm");
  CHECK(s->tests[0].tool == "read_record");
  CHECK(s->tests[0].user == "u1");
  CHECK(s->tests[0].user_clearance == "public");
  CHECK(s->tests[0].arguments == nlohmann::json{{"limit", 1}});
}

TEST_CASE("a test tool must name an upstream") {
  std::string errors = load_errors(std::string(kBase) + R"(
tests:
  - { name: x, request: { agent: a, tool: read_record }, expect: allow }
)");
  CHECK(errors.find("tests[0].request.tool: expected UPSTREAM/TOOL") != std::string::npos);
}
