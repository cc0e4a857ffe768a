// PolicySnapshot: one loaded, validated, compiled policy (possibly merged from
// several files). Immutable; share it as std::shared_ptr<const PolicySnapshot>
// and let each request hold its pointer to the end. Built only by
// load_policy_files() / load_policy_text() (policy_loader.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/rule.h"

namespace portcullis::policy {

// Finds the entries whose (upstream, tool) pattern could match a name, without
// scanning all of them. Both dimensions work alike: literals are hashed, globs
// are bucketed by their literal prefix (an absent pattern has prefix ""), and
// a lookup probes only the prefix lengths that occur. Candidates come back in
// no particular order, without duplicates, and must still be checked with
// ToolPattern::matches().
class PatternIndex {
 public:
  void add(const ToolPattern& pattern, std::uint32_t entry);
  void candidates(std::string_view upstream, std::string_view name, std::vector<std::uint32_t>& out) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using Map = std::unordered_map<std::string, V, Hash, std::equal_to<>>;
  // One dimension: literal keys, and glob prefixes with their lengths.
  template <class V>
  struct Level {
    Map<V> exact;
    Map<V> by_prefix;
    std::vector<std::size_t> prefix_lengths;  // distinct, sorted
    V& slot(const std::optional<Glob>& glob);
    template <class F>
    void visit(std::string_view key, F&& f) const;
  };
  using Entries = std::vector<std::uint32_t>;
  Level<Level<Entries>> index_;  // upstream, then tool
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

// Which rules name an agent, as one bit per rule: decide() ORs the sets of an
// agent's id, owner and groups (plus the `any: true` rules) once per call and
// skips candidate rules whose bit is clear. Same semantics as agent_matches().
class AgentIndex {
 public:
  using Bits = std::vector<std::uint64_t>;
  void build(const std::vector<Rule>& rules);
  // The rules whose agents: match. Owner and groups count only for a
  // registered agent.
  void matching(std::string_view id, std::string_view owner, std::span<const std::string> groups, bool registered,
                Bits& out) const;
  static bool test(const Bits& bits, std::uint32_t rule) { return (bits[rule >> 6] >> (rule & 63)) & 1; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, Bits, Hash, std::equal_to<>>;
  static void set(Bits& bits, std::uint32_t rule) { bits[rule >> 6] |= std::uint64_t{1} << (rule & 63); }
  static void merge(const Map& map, std::string_view key, Bits& out);
  std::size_t words_ = 0;
  Bits any_;
  Map ids_, owners_, groups_;
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
  AgentIndex agent_index;

  std::vector<PolicyTest> tests;
  std::vector<AgentRecord> test_agents;

  std::optional<Level> level(std::string_view name) const;  // nullopt if unknown
  std::optional<ActionId> action(std::string_view name) const;
  const Rule* rule(std::string_view id) const;
};

using PolicySnapshotPtr = std::shared_ptr<const PolicySnapshot>;

}  // namespace portcullis::policy
