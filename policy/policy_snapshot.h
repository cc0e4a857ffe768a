// PolicySnapshot: one loaded, validated, compiled policy (possibly merged from
// several files). Immutable; share it as std::shared_ptr<const PolicySnapshot>
// and let each request hold its pointer to the end. Built only by
// load_policy_files() / load_policy_text() (policy_loader.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/rule.h"

namespace portcullis::policy {

// Finds the entries whose (upstream, tool) pattern could match a name, without
// scanning all of them: literal upstreams and tools are hashed, tool globs are
// bucketed by their literal prefix. Candidates come back in entry order and
// must still be checked with ToolPattern::matches().
class PatternIndex {
 public:
  void add(const ToolPattern& pattern, std::uint32_t entry);
  void candidates(std::string_view upstream, std::string_view name, std::vector<std::uint32_t>& out) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, std::vector<std::uint32_t>, Hash, std::equal_to<>>;
  struct Bucket {
    Map exact;                          // literal tool names
    Map by_prefix;                      // tool globs (and absent tools: prefix "")
    std::vector<std::size_t> prefix_lengths;  // distinct, sorted
    void add(const ToolPattern& p, std::uint32_t entry);
    void collect(std::string_view name, std::vector<std::uint32_t>& out) const;
  };
  std::unordered_map<std::string, Bucket, Hash, std::equal_to<>> by_upstream_;  // literal upstreams
  Bucket any_upstream_;  // upstream absent or a glob
};

// An agent as policy tests see it (the gateway config's `agents:` entry, or
// the policy file's own test agents).
struct AgentRecord {
  std::string id;
  std::string owner;
  std::vector<std::string> groups;
  std::string clearance;
};

// One `tests:` case.
struct PolicyTest {
  std::string name;
  std::string agent;
  std::string user;
  std::optional<std::string> user_clearance;
  std::string method = "tools/call";
  std::string upstream;
  std::string tool;  // tool name, resource URI or prompt name
  nlohmann::json arguments = nlohmann::json::object();
  Effect expect = Effect::kDeny;
  SourcePos pos;
};

struct PolicySnapshot {
  std::string version;    // the file's `version` (the first file's, when several)
  std::string revision;   // hex SHA-256 of the canonical content (see policy_loader.h)
  std::vector<std::string> files;
  bool shadow = false;    // global mode: shadow (never blocks)

  std::vector<std::string> levels;  // sensitivity levels, low to high
  Level default_sensitivity = 0;
  std::vector<std::string> actions;  // ActionId -> name; read, write, delete first
  std::vector<bool> action_declared;  // used in a `tools:` entry or built in

  std::vector<ToolClass> tool_classes;  // first match wins
  std::vector<ResourceClass> resources;
  std::vector<Rule> rules;
  PatternIndex tool_class_index, resource_index, rule_index;

  std::vector<PolicyTest> tests;
  std::vector<AgentRecord> test_agents;

  std::optional<Level> level(std::string_view name) const;  // nullopt if unknown
  std::optional<ActionId> action(std::string_view name) const;
  const Rule* rule(std::string_view id) const;
};

using PolicySnapshotPtr = std::shared_ptr<const PolicySnapshot>;

}  // namespace portcullis::policy
