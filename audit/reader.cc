#include "audit/reader.h"

#include <algorithm>

#include "audit/env.h"
#include "audit/log_format.h"

namespace portcullis::audit {
namespace {

nlohmann::json with_hash(const DecodedLine& d) {
  nlohmann::json j = d.body;
  j["hash"] = d.hash;
  return j;
}

bool matches(const nlohmann::json& b, const ReadFilter& f) {
  if (!f.kinds.empty() && std::find(f.kinds.begin(), f.kinds.end(), b["kind"].get<std::string>()) == f.kinds.end())
    return false;
  if (!f.agent.empty() && !(b.contains("agent") && b["agent"] == f.agent)) return false;
  return true;
}

}  // namespace

Result<std::vector<nlohmann::json>> read_recent(const std::string& dir, const ReadFilter& filter, Env* env) {
  if (!env) env = Env::posix();
  auto names = env->list_dir(dir);
  if (!names) return Err(names.error());
  auto segs = sorted_segments(*names);
  std::vector<nlohmann::json> out;
  for (auto it = segs.rbegin(); it != segs.rend() && out.size() < filter.limit; ++it) {
    auto data = env->read_file(join_path(dir, *it));
    if (!data) return Err(data.error());
    SegmentScan scan = scan_segment(*data);
    for (auto e = scan.entries.rbegin(); e != scan.entries.rend() && out.size() < filter.limit; ++e)
      if (matches(e->line.body, filter)) out.push_back(with_hash(e->line));
  }
  return out;
}

Result<void> for_each_record(const std::string& dir, const std::function<bool(const nlohmann::json&)>& fn,
                             Env* env) {
  if (!env) env = Env::posix();
  auto names = env->list_dir(dir);
  if (!names) return Err(names.error());
  for (const auto& name : sorted_segments(*names)) {
    auto data = env->read_file(join_path(dir, name));
    if (!data) return Err(data.error());
    for (const auto& e : scan_segment(*data).entries)
      if (!fn(with_hash(e.line))) return {};
  }
  return {};
}

}  // namespace portcullis::audit
