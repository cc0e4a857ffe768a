#include "policy/tool_catalog.h"

#include <algorithm>
#include <mutex>

#include "policy/canonical_json.h"

namespace portcullis::policy {

namespace {

nlohmann::json field_or_null(const nlohmann::json& tool, const char* name) {
  auto it = tool.find(name);
  return it == tool.end() ? nlohmann::json() : *it;
}

bool by_name(const ToolInfoPtr& a, const ToolInfoPtr& b) {
  return std::tie(a->upstream, a->name) < std::tie(b->upstream, b->name);
}

}  // namespace

std::string ToolCatalog::key(std::string_view upstream, std::string_view tool) {
  std::string k;
  k.reserve(upstream.size() + tool.size() + 1);
  k.append(upstream).push_back('\0');  // neither part may contain NUL in a valid request
  k.append(tool);
  return k;
}

std::string ToolCatalog::fingerprint(const nlohmann::json& tool) {
  nlohmann::json canon = nlohmann::json::object();
  canon["name"] = field_or_null(tool, "name");
  canon["description"] = field_or_null(tool, "description");
  canon["inputSchema"] = field_or_null(tool, "inputSchema");
  canon["annotations"] = field_or_null(tool, "annotations");
  return sha256_hex(canonical_json(canon));
}

ToolCatalog::Observation ToolCatalog::observe(std::string_view upstream, const nlohmann::json& tool) {
  if (!tool.is_object()) return Observation::kInvalid;
  auto name = tool.find("name");
  if (name == tool.end() || !name->is_string()) return Observation::kInvalid;
  auto info = std::make_shared<ToolInfo>();
  info->upstream = std::string(upstream);
  info->name = name->get<std::string>();
  info->seen_fingerprint = fingerprint(tool);
  info->annotations = field_or_null(tool, "annotations");
  info->input_schema = field_or_null(tool, "inputSchema");

  std::unique_lock lock(mu_);
  auto& slot = tools_[key(upstream, info->name)];
  Observation result;
  if (!slot) {
    info->pinned_fingerprint = info->seen_fingerprint;
    result = Observation::kNew;
  } else {
    info->pinned_fingerprint = slot->pinned_fingerprint;
    result = info->held() ? Observation::kChanged : Observation::kUnchanged;
  }
  slot = std::move(info);
  return result;
}

std::size_t ToolCatalog::observe_list(std::string_view upstream, const nlohmann::json& list_result) {
  if (!list_result.is_object()) return 0;
  auto tools = list_result.find("tools");
  if (tools == list_result.end() || !tools->is_array()) return 0;
  std::size_t pinned = 0;
  for (const auto& tool : *tools) pinned += observe(upstream, tool) == Observation::kNew;
  return pinned;
}

bool ToolCatalog::accept(std::string_view upstream, std::string_view tool, std::string_view fp) {
  std::unique_lock lock(mu_);
  auto& slot = tools_[key(upstream, tool)];
  auto info = slot ? std::make_shared<ToolInfo>(*slot) : std::make_shared<ToolInfo>();
  info->upstream = std::string(upstream);
  info->name = std::string(tool);
  info->pinned_fingerprint = std::string(fp);
  bool released = !info->held();
  slot = std::move(info);
  return released;
}

ToolInfoPtr ToolCatalog::find(std::string_view upstream, std::string_view tool) const {
  std::string k = key(upstream, tool);
  std::shared_lock lock(mu_);
  auto it = tools_.find(k);
  return it == tools_.end() ? nullptr : it->second;
}

std::vector<ToolInfoPtr> ToolCatalog::tools(std::string_view upstream) const {
  std::vector<ToolInfoPtr> out;
  {
    std::shared_lock lock(mu_);
    for (const auto& [k, info] : tools_) {
      if (info->upstream == upstream) out.push_back(info);
    }
  }
  std::sort(out.begin(), out.end(), by_name);
  return out;
}

std::vector<ToolInfoPtr> ToolCatalog::all() const {
  std::vector<ToolInfoPtr> out;
  {
    std::shared_lock lock(mu_);
    for (const auto& [k, info] : tools_) out.push_back(info);
  }
  std::sort(out.begin(), out.end(), by_name);
  return out;
}

bool ToolCatalog::knows_upstream(std::string_view upstream) const {
  std::shared_lock lock(mu_);
  return std::any_of(tools_.begin(), tools_.end(),
                     [&](const auto& kv) { return kv.second->upstream == upstream && kv.second->seen(); });
}

nlohmann::json ToolCatalog::to_json() const {
  nlohmann::json pins = nlohmann::json::array();
  for (const auto& info : all()) {
    pins.push_back({{"upstream", info->upstream}, {"tool", info->name}, {"fingerprint", info->pinned_fingerprint}});
  }
  return {{"version", 1}, {"pins", std::move(pins)}};
}

Status ToolCatalog::load_json(const nlohmann::json& saved) {
  if (!saved.is_object() || saved.value("version", 0) != 1) return Err("tool pins: expected {\"version\": 1, ...}");
  auto pins = saved.find("pins");
  if (pins == saved.end() || !pins->is_array()) return Err("tool pins: \"pins\" must be a list");
  std::unordered_map<std::string, std::string> loaded;
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& pin : *pins) {
    if (!pin.is_object()) return Err("tool pins: each pin must be an object");
    auto up = pin.find("upstream"), tool = pin.find("tool"), fp = pin.find("fingerprint");
    if (up == pin.end() || tool == pin.end() || fp == pin.end() || !up->is_string() || !tool->is_string() ||
        !fp->is_string() || fp->get<std::string>().size() != 64) {
      return Err("tool pins: each pin needs string upstream, tool and a 64-hex fingerprint");
    }
    loaded[key(up->get<std::string>(), tool->get<std::string>())] = fp->get<std::string>();
    names.emplace_back(up->get<std::string>(), tool->get<std::string>());
  }
  std::unique_lock lock(mu_);
  std::unordered_map<std::string, ToolInfoPtr> next;
  for (const auto& [up, tool] : names) {
    std::string k = key(up, tool);
    auto it = tools_.find(k);
    auto info = it != tools_.end() ? std::make_shared<ToolInfo>(*it->second) : std::make_shared<ToolInfo>();
    info->upstream = up;
    info->name = tool;
    info->pinned_fingerprint = loaded[k];
    next[k] = std::move(info);
  }
  // Tools seen but without a saved pin keep their first-sight pin.
  for (auto& [k, info] : tools_) {
    if (!next.count(k)) next[k] = info;
  }
  tools_ = std::move(next);
  return {};
}

}  // namespace portcullis::policy
