// Loading policy files into a PolicySnapshot.
//
//   LoadOptions options{.shadow = cfg.policy.shadow};
//   auto loaded = load_policy_files(cfg.policy.files, options);
//   if (!loaded) { for (auto& e : loaded.error()) log(e.to_string()); ... }
//   for (auto& w : loaded->warnings) log(w.to_string());
//   PolicySnapshotPtr snapshot = loaded->snapshot;
//
// Every problem is reported, not just the first, as `file:line:col: key:
// message` (unknown and duplicate keys included). Several files merge: their
// tools, resources, rules and tests are concatenated in order; a rule id used
// twice is an error; sensitivity_levels and default_sensitivity, if given in
// more than one file, must agree. Without sensitivity_levels anywhere the
// levels are [public, internal, confidential, restricted], default internal.
//
// The revision is the hex SHA-256 of the canonical JSON (canonical_json.h) of
// the parsed content that decisions depend on: version, levels, default,
// tools, resources and rules, in file order. Comments, quoting, flow vs block
// style and key order do not change it; tests and file names do not count.
//
// Reads only the named files; no other I/O. Thread-compatible (no shared state).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "config/config_error.h"
#include "policy/policy_snapshot.h"

namespace portcullis::policy {

class ToolCatalog;

// Same shape as config errors: "policy.yaml:12:5: rules[3].when[0].max: ...".
using PolicyError = config::ConfigError;
using PolicyErrors = std::vector<PolicyError>;

struct LoadOptions {
  bool shadow = false;                       // policy.mode: shadow
  std::vector<std::string> known_upstreams;  // for lint; empty: not checked
  const ToolCatalog* catalog = nullptr;      // for lint against tool definitions; may be null
};

struct LoadedPolicy {
  PolicySnapshotPtr snapshot;
  PolicyErrors warnings;  // lint (lint.h); never stop a load
};

Result<LoadedPolicy, PolicyErrors> load_policy_files(const std::vector<std::string>& files,
                                                     const LoadOptions& options = {});

// From text: each source is (file name for messages, YAML text).
Result<LoadedPolicy, PolicyErrors> load_policy_text(const std::vector<std::pair<std::string, std::string>>& sources,
                                                    const LoadOptions& options = {});

}  // namespace portcullis::policy
