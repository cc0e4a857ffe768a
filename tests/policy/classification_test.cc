#include "policy/classification.h"

#include <doctest/doctest.h>

#include "test_util.h"

using namespace portcullis::policy;
using portcullis::policy::testing::load_ok;

namespace {

PolicySnapshotPtr policy() {
  return load_ok(R"(
version: "1"
sensitivity_levels: [public, internal, confidential, restricted]
default_sensitivity: internal
tools:
  - { match: { upstream: crm, tool: "read_*" }, action: read, sensitivity: internal }
  - { match: { upstream: crm, tool: "read_secret" }, action: write, sensitivity: restricted }
  - { match: { upstream: crm, tool: "update_*" }, action: write }
  - { match: { upstream: pay, tool: "transfer_*" }, action: financial, sensitivity: confidential }
  - { match: { upstream: crm, tool: "stats" }, sensitivity: public }
resources:
  - { match: { upstream: crm }, argument: /id, levels: [ { pattern: "vip-*", sensitivity: restricted }, { pattern: "7*", sensitivity: confidential } ] }
rules: []
)");
}

std::string action_of(const PolicySnapshot& s, const char* upstream, const char* tool, const nlohmann::json* ann,
                      std::string_view method = kToolsCall) {
  return s.actions[classify_tool(s, method, upstream, tool, ann).action];
}

}  // namespace

TEST_CASE("missing annotations are pessimistic: an unlisted tool is a delete") {
  auto s = policy();
  CHECK(action_of(*s, "wiki", "anything", nullptr) == "delete");
  nlohmann::json empty = nlohmann::json::object();
  CHECK(action_of(*s, "wiki", "anything", &empty) == "delete");
}

TEST_CASE("annotations classify an unlisted tool") {
  auto s = policy();
  nlohmann::json ro = {{"readOnlyHint", true}};
  nlohmann::json write = {{"readOnlyHint", false}, {"destructiveHint", false}};
  nlohmann::json not_read_only = {{"readOnlyHint", false}};
  nlohmann::json non_destructive = {{"destructiveHint", false}};
  CHECK(action_of(*s, "wiki", "t", &ro) == "read");
  CHECK(action_of(*s, "wiki", "t", &write) == "write");
  CHECK(action_of(*s, "wiki", "t", &not_read_only) == "delete");  // destructiveHint defaults to true
  CHECK(action_of(*s, "wiki", "t", &non_destructive) == "write");  // readOnlyHint defaults to false
}

TEST_CASE("a hint that is not a boolean counts as missing") {
  auto s = policy();
  nlohmann::json stringly = {{"readOnlyHint", "true"}, {"destructiveHint", "false"}};
  CHECK(action_of(*s, "wiki", "t", &stringly) == "delete");
}

TEST_CASE("an annotation cannot loosen a tool the operator classified") {
  auto s = policy();
  nlohmann::json ro = {{"readOnlyHint", true}};
  CHECK(action_of(*s, "crm", "update_x", &ro) == "write");
  CHECK(action_of(*s, "crm", "update_x", nullptr) == "write");  // missing hints do not override the operator
}

TEST_CASE("an annotation can make an operator-classified tool stricter") {
  auto s = policy();
  nlohmann::json destructive = {{"readOnlyHint", false}, {"destructiveHint", true}};
  nlohmann::json not_read_only = {{"readOnlyHint", false}};
  nlohmann::json only_destructive = {{"destructiveHint", true}};
  CHECK(action_of(*s, "crm", "read_x", &destructive) == "delete");
  CHECK(action_of(*s, "crm", "read_x", &not_read_only) == "write");
  CHECK(action_of(*s, "crm", "read_x", &only_destructive) == "delete");
  CHECK(action_of(*s, "crm", "read_x", nullptr) == "read");
}

TEST_CASE("operator-defined classes are taken as declared") {
  auto s = policy();
  nlohmann::json ro = {{"readOnlyHint", true}};
  nlohmann::json destructive = {{"destructiveHint", true}};
  CHECK(action_of(*s, "pay", "transfer_funds", &ro) == "financial");
  CHECK(action_of(*s, "pay", "transfer_funds", &destructive) == "financial");
}

TEST_CASE("the first matching tools entry wins") {
  auto s = policy();
  auto c = classify_tool(*s, kToolsCall, "crm", "read_secret", nullptr);
  CHECK(s->actions[c.action] == "read");
  CHECK(s->levels[c.sensitivity] == "internal");
}

TEST_CASE("an entry without action leaves the action to the annotations") {
  auto s = policy();
  auto c = classify_tool(*s, kToolsCall, "crm", "stats", nullptr);
  CHECK(s->actions[c.action] == "delete");
  CHECK(s->levels[c.sensitivity] == "public");
}

TEST_CASE("unlisted resources and prompts are reads") {
  auto s = policy();
  CHECK(action_of(*s, "docs", "file:///a", nullptr, kResourcesRead) == "read");
  CHECK(action_of(*s, "docs", "summarize", nullptr, kPromptsGet) == "read");
}

TEST_CASE("call sensitivity is the highest of the tool's and its resources'") {
  auto s = policy();
  auto tool = classify_tool(*s, kToolsCall, "crm", "read_x", nullptr).sensitivity;
  auto level = [&](nlohmann::json args) { return s->levels[call_sensitivity(*s, "crm", "read_x", args, tool)]; };
  CHECK(level({{"id", "r-1"}}) == "internal");
  CHECK(level({{"id", "vip-1"}}) == "restricted");
  CHECK(level(nlohmann::json::object()) == "internal");
  CHECK(level({{"id", 77}}) == "confidential");  // numbers match as decimal text
  CHECK(level({{"id", {"r-1", "7a", "x"}}}) == "confidential");
  CHECK(level({{"id", {{"nested", "vip-1"}}}}) == "internal");
  CHECK(s->levels[call_sensitivity(*s, "other", "read_x", {{"id", "vip-1"}}, tool)] == "internal");
}

TEST_CASE("an unlisted tool has the default sensitivity") {
  auto s = policy();
  CHECK(s->levels[classify_tool(*s, kToolsCall, "wiki", "x", nullptr).sensitivity] == "internal");
}
