// Strict reading of a YAML document into typed values, shared by config/ and
// policy/. Every problem becomes a ConfigError (file, 1-based line and
// column, dotted key path, message); nothing throws. Errors are collected, not
// stopped at: read everything, then call finish().
//
//   YamlReader reader("gw.yaml");
//   YamlNode root = reader.parse(text);
//   auto port = root["server"]["port"].as_int(1, 65535);   // nullopt if absent or bad
//   std::string name = root.require("name").as_string().value_or("");
//   for (const YamlNode& item : root["items"].items()) { ... item["id"] ... }
//   ConfigErrors errors = reader.finish();   // + unknown and duplicate keys
//
// Strictness: a key that was never asked for through operator[] / require()
// in a map the caller read is reported as "unknown key"; a repeated key in
// any mapping is an error; booleans and integers must be unquoted. A null
// value (`key:` or `key: null`) counts as absent.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <yaml-cpp/yaml.h>

#include "config/config_error.h"

namespace portcullis::config {

class YamlReader;

// One value of a parsed document, possibly absent, with its path. Cheap to
// copy; valid while its YamlReader lives. Accessors record errors in the
// reader and return nullopt / empty instead of failing.
class YamlNode {
 public:
  bool present() const;  // exists and is not null
  bool is_map() const;
  bool is_list() const;
  bool is_scalar() const;
  const std::string& path() const { return path_; }  // e.g. upstreams[1].url
  int line() const { return mark_.line + 1; }        // of the value; of the parent when absent
  int column() const { return mark_.column + 1; }

  // Map access. Marks `key` as known. An absent key gives an absent node; a
  // present value that is not a mapping records "expected a mapping".
  YamlNode operator[](std::string_view key) const;
  // Like operator[], and records "required" when the key is absent.
  YamlNode require(std::string_view key) const;
  bool has(std::string_view key) const;  // does not mark the key known
  // For free-form maps: marks every key known, returns them in file order.
  std::vector<std::pair<std::string, YamlNode>> entries() const;
  // List items; a present non-list records "expected a list".
  std::vector<YamlNode> items() const;

  // Typed values: nullopt when absent, or after recording an error.
  std::optional<std::string> as_string() const;  // any scalar, verbatim
  std::optional<bool> as_bool() const;           // true | false
  std::optional<std::int64_t> as_int(std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                                     std::int64_t max = std::numeric_limits<std::int64_t>::max()) const;
  std::optional<std::vector<std::string>> as_strings() const;  // a list of scalars
  // 250ms, 30s, 5m, 1h, combinations such as 1h30m, or 0.
  std::optional<std::chrono::milliseconds> as_duration() const;
  // A byte count: 512, 512B, 64KiB, 4MiB, 1GiB.
  std::optional<std::uint64_t> as_bytes() const;
  // A string that must be one of `allowed`.
  std::optional<std::string> as_enum(std::initializer_list<std::string_view> allowed) const;
  // Any value as JSON (plain scalars become null/bool/number, quoted ones
  // strings); marks every nested key known. Absent gives null.
  nlohmann::json as_json() const;

  void error(std::string message) const;  // records an error at this node
  const YAML::Node& raw() const { return node_; }

 private:
  friend class YamlReader;
  YamlNode(YamlReader* reader, YAML::Node node, std::string path, YAML::Mark mark)
      : reader_(reader), node_(std::move(node)), path_(std::move(path)), mark_(mark) {}
  std::optional<std::string> scalar(const char* expected) const;

  YamlReader* reader_;
  YAML::Node node_;
  std::string path_;
  YAML::Mark mark_;
};

// Owns the errors of one file. Not copyable: nodes point at it.
class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}
  YamlReader(const YamlReader&) = delete;
  YamlReader& operator=(const YamlReader&) = delete;

  // Parses one document. Syntax errors and duplicate keys are recorded; after
  // a syntax error the root is absent.
  YamlNode parse(const std::string& text);

  // Records an error; the same (key, message) twice is kept once.
  void error(const std::string& key, int line, int column, std::string message);
  bool has_errors() const { return !errors_.empty(); }
  const std::string& file() const { return file_; }

  // Reports the unknown keys of every map that was read, then returns all
  // errors sorted by position. Idempotent.
  ConfigErrors finish();

 private:
  friend class YamlNode;
  struct MapState {
    YAML::Node node;
    std::set<std::string, std::less<>> known;
    bool all_known = false;
  };
  MapState& map_state(const YamlNode& map);
  void check_duplicates(const YAML::Node& node, const std::string& path, int depth);

  std::string file_;
  ConfigErrors errors_;
  std::set<std::pair<std::string, std::string>> recorded_;  // (key, message)
  std::map<std::string, MapState> maps_;                    // by path
  std::size_t walked_ = 0;
  bool finished_ = false;
};

}  // namespace portcullis::config
