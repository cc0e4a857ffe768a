#include "policy/classification.h"

#include <nlohmann/json.hpp>

#include "policy/call_facts.h"

namespace portcullis::policy {

namespace {

std::optional<bool> hint(const nlohmann::json* annotations, const char* name) {
  if (annotations == nullptr || !annotations->is_object()) return std::nullopt;
  auto it = annotations->find(name);
  if (it == annotations->end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

// What the annotations imply, spec defaults for missing ones.
ActionId action_from_annotations(const nlohmann::json* annotations) {
  if (hint(annotations, "readOnlyHint").value_or(false)) return kActionRead;
  return hint(annotations, "destructiveHint").value_or(true) ? kActionDelete : kActionWrite;
}

// The least class the present annotations demand of a listed tool.
ActionId floor_from_annotations(const nlohmann::json* annotations) {
  auto read_only = hint(annotations, "readOnlyHint");
  if (read_only.value_or(false)) return kActionRead;
  if (hint(annotations, "destructiveHint").value_or(false)) return kActionDelete;
  return read_only.has_value() ? kActionWrite : kActionRead;
}

thread_local std::vector<std::uint32_t> t_candidates;

void raise_by_value(const ResourceClass& r, const nlohmann::json& v, Level& level) {
  std::string number;
  std::string_view text;
  if (v.is_string()) {
    text = v.get_ref<const std::string&>();
  } else if (v.is_number()) {
    number = v.dump();
    text = number;
  } else {
    return;
  }
  for (const auto& l : r.levels) {
    if (l.sensitivity > level && l.pattern.matches(text)) level = l.sensitivity;
  }
}

}  // namespace

ToolClassification classify_tool(const PolicySnapshot& s, std::string_view method, std::string_view upstream,
                                 std::string_view name, const nlohmann::json* annotations) {
  ToolClassification c;
  c.sensitivity = s.default_sensitivity;
  std::vector<std::uint32_t>& candidates = t_candidates;
  s.tool_class_index.candidates(upstream, name, candidates);
  std::uint32_t first = UINT32_MAX;  // the first matching entry in file order
  for (std::uint32_t i : candidates) {
    if (i < first && s.tool_classes[i].match.matches(upstream, name)) first = i;
  }
  if (first != UINT32_MAX) c.entry = &s.tool_classes[first];
  const bool is_tool = method == kToolsCall;
  if (c.entry != nullptr && c.entry->sensitivity) c.sensitivity = *c.entry->sensitivity;
  if (c.entry == nullptr || !c.entry->action) {
    c.action = is_tool ? action_from_annotations(annotations) : kActionRead;
  } else if (*c.entry->action > kActionDelete || !is_tool) {
    c.action = *c.entry->action;
  } else {
    c.action = std::max(*c.entry->action, floor_from_annotations(annotations));
  }
  return c;
}

Level call_sensitivity(const PolicySnapshot& s, std::string_view upstream, std::string_view name,
                       const nlohmann::json& arguments, Level tool_level) {
  if (s.resources.empty()) return tool_level;
  Level level = tool_level;
  std::vector<std::uint32_t>& candidates = t_candidates;
  s.resource_index.candidates(upstream, name, candidates);
  for (std::uint32_t i : candidates) {
    const ResourceClass& r = s.resources[i];
    if (!r.match.matches(upstream, name)) continue;
    const nlohmann::json* v = r.argument.find(arguments);
    if (v == nullptr) continue;
    if (v->is_array()) {
      for (const auto& item : *v) raise_by_value(r, item, level);
    } else {
      raise_by_value(r, *v, level);
    }
  }
  return level;
}

}  // namespace portcullis::policy
