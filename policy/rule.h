// The compiled pieces of a policy: tool patterns, classification entries,
// resource levels, argument conditions, limits and rules. Built once by the
// loader (policy_loader.h); immutable afterwards and shared by all threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/decision.h"
#include "policy/glob.h"

namespace re2 {
class RE2;
}

namespace portcullis::policy {

// Index into PolicySnapshot::actions. The built-in classes come first.
using ActionId = std::uint16_t;
inline constexpr ActionId kActionRead = 0;
inline constexpr ActionId kActionWrite = 1;
inline constexpr ActionId kActionDelete = 2;

// Index into PolicySnapshot::levels, low to high.
using Level = int;

// Where something was written, for errors, warnings and explanations.
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key;  // e.g. rules[3]
};

// A JSON pointer (RFC 6901), split into unescaped tokens at load.
class ArgPointer {
 public:
  ArgPointer() = default;
  // Returns nullopt for text that is not a pointer ("" or starting with '/').
  static std::optional<ArgPointer> parse(const std::string& text);
  // The value in `doc`, or null when some step is missing or has the wrong
  // type (a missing field, never an error).
  const nlohmann::json* find(const nlohmann::json& doc) const;
  const std::string& text() const { return text_; }
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  std::string text_;
  std::vector<std::string> tokens_;
};

// upstream + tool globs; an absent glob matches everything.
struct ToolPattern {
  std::optional<Glob> upstream;
  std::optional<Glob> tool;
  bool matches(std::string_view up, std::string_view name) const {
    return (!upstream || upstream->matches(up)) && (!tool || tool->matches(name));
  }
};

// One `tools:` entry: the operator's classification.
struct ToolClass {
  ToolPattern match;
  std::optional<ActionId> action;
  std::optional<Level> sensitivity;
  SourcePos pos;
};

// One `resources:` entry: sensitivity from an argument's value.
struct ResourceClass {
  struct LevelPattern {
    Glob pattern;
    Level sensitivity;
  };
  ToolPattern match;
  ArgPointer argument;
  std::vector<LevelPattern> levels;
  SourcePos pos;
};

// One `when:` entry. All tests it names must hold. A test on a missing field
// fails (closed) unless `optional` is set, in which case the whole condition
// holds when the field is missing. `required` alone only demands presence.
struct Condition {
  ArgPointer argument;
  std::optional<nlohmann::json> max;  // a JSON number
  std::optional<nlohmann::json> min;  // a JSON number
  std::optional<std::vector<nlohmann::json>> in;  // scalars; type and value must match
  std::shared_ptr<const re2::RE2> pattern;        // RE2 full match on a JSON string
  std::string pattern_text;
  bool required = false;
  bool optional = false;
  std::string text;  // "/limit max 10", for explanations
};

struct Limit {
  enum class Per : std::uint8_t { kAgent, kUser, kTool };
  std::uint32_t count = 0;
  std::chrono::milliseconds window{0};
  Per per = Per::kAgent;
  bool suspend_agent = false;  // on_exceed: suspend_agent (else deny)
  std::string text;            // "60/1m per agent"
};

// Method bits for Rule::methods.
inline constexpr std::uint8_t kMethodToolsCall = 1;
inline constexpr std::uint8_t kMethodResourcesRead = 2;
inline constexpr std::uint8_t kMethodPromptsGet = 4;
inline constexpr std::uint8_t kAllMethods = 7;

struct AgentMatch {
  bool any = false;
  std::vector<std::string> ids, groups, owners;  // any listed value matching is enough
};

struct Rule {
  std::string id;
  Effect effect = Effect::kDeny;
  bool shadow = false;  // mode: shadow
  AgentMatch agents;
  ToolPattern tools;
  std::vector<ActionId> actions;  // empty: any action
  std::uint8_t methods = kAllMethods;
  std::vector<Condition> when;
  std::vector<Limit> limits;
  std::uint32_t index = 0;  // position in the merged rule list
  SourcePos pos;
};

}  // namespace portcullis::policy
