// ToolCatalog: what Portcullis knows about each upstream tool, and the pins
// that stop a tool definition from changing under the agents ("rug pull").
//
// The first definition seen for (upstream, tool) is pinned: its fingerprint
// is the hex SHA-256 of the canonical JSON of {name, description,
// inputSchema, annotations}. A later, different definition is recorded but
// the tool is *held*: decide() denies it ("tool definition changed;
// fingerprint X pinned, Y seen") and tools/list filtering hides it, until an
// operator accept()s the new fingerprint. Pins persist through to_json() /
// load_json(); the definitions themselves are re-learned from tools/list.
//
// Thread-safe: observe/accept take a writer lock, lookups a reader lock and
// return immutable shared entries.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace portcullis::policy {

struct ToolInfo {
  std::string upstream;
  std::string name;
  std::string pinned_fingerprint;  // accepted by first sight or by an operator
  std::string seen_fingerprint;    // of the latest definition; empty: not seen since load
  nlohmann::json annotations;      // latest definition's, or null (untrusted hints)
  nlohmann::json input_schema;     // latest definition's, or null
  bool seen() const { return !seen_fingerprint.empty(); }
  bool held() const { return seen() && seen_fingerprint != pinned_fingerprint; }
};
using ToolInfoPtr = std::shared_ptr<const ToolInfo>;

class ToolCatalog {
 public:
  enum class Observation {
    kNew,        // first sight: pinned
    kUnchanged,  // matches the pin
    kChanged,    // differs from the pin: held
    kInvalid,    // not a tool object with a string name: ignored
  };

  // The fingerprint of one Tool object (as in a tools/list result).
  static std::string fingerprint(const nlohmann::json& tool);

  Observation observe(std::string_view upstream, const nlohmann::json& tool);
  // Observes every entry of a tools/list result ({"tools": [...]}); returns
  // how many tools were pinned on first sight (the pins changed).
  std::size_t observe_list(std::string_view upstream, const nlohmann::json& list_result);

  // Pins `fingerprint` for the tool (creating the entry if needed). Returns
  // true if the tool is no longer held (its latest definition matches).
  bool accept(std::string_view upstream, std::string_view tool, std::string_view fingerprint);

  ToolInfoPtr find(std::string_view upstream, std::string_view tool) const;  // null if unknown
  std::vector<ToolInfoPtr> tools(std::string_view upstream) const;           // sorted by name
  std::vector<ToolInfoPtr> all() const;                                      // sorted
  bool knows_upstream(std::string_view upstream) const;

  // {"version": 1, "pins": [{"upstream", "tool", "fingerprint"}...]}
  nlohmann::json to_json() const;
  // Replaces all pins with those in `saved` (definitions seen so far are
  // kept and re-compared). Errors leave the catalog unchanged.
  Status load_json(const nlohmann::json& saved);

 private:
  static std::string key(std::string_view upstream, std::string_view tool);
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, ToolInfoPtr> tools_;
};

}  // namespace portcullis::policy
