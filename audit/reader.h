// Reading audit records back: the admin API's GET /admin/v1/decisions,
// `portcullis audit tail` and `portcullis audit export`. Reads the segment
// files directly (safe while the log is being written: an incomplete last
// line is skipped). Does not verify the chain; use verify_audit_dirs.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace portcullis::audit {

class Env;

struct ReadFilter {
  std::string agent;               // empty: any agent
  std::vector<std::string> kinds = {"decision"};  // empty: every kind
  std::size_t limit = 100;
};

// The newest records matching `filter`, newest first, each the full record
// (envelope included, with its hash).
Result<std::vector<nlohmann::json>> read_recent(const std::string& dir, const ReadFilter& filter,
                                                Env* env = nullptr);

// Calls `fn` with every record of `dir`, oldest first; stops when fn returns false.
Result<void> for_each_record(const std::string& dir, const std::function<bool(const nlohmann::json&)>& fn,
                             Env* env = nullptr);

}  // namespace portcullis::audit
