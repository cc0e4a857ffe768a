#include "identity/strict_json.h"

#include <string>
#include <unordered_set>
#include <vector>

namespace portcullis::identity {

std::optional<nlohmann::json> parse_strict_json(std::string_view text, int max_depth) {
  using nlohmann::json;
  // One set of seen member names per open object; arrays push nothing but
  // still count towards depth through the callback's own depth argument.
  std::vector<std::unordered_set<std::string>> open;
  bool bad = false;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (bad) return false;
    switch (event) {
      case json::parse_event_t::object_start:
        if (depth >= max_depth) bad = true;
        open.emplace_back();
        break;
      case json::parse_event_t::array_start:
        if (depth >= max_depth) bad = true;
        break;
      case json::parse_event_t::key:
        if (open.empty() || !open.back().insert(parsed.get_ref<const std::string&>()).second) bad = true;
        break;
      case json::parse_event_t::object_end:
        if (!open.empty()) open.pop_back();
        break;
      default:
        break;
    }
    return !bad;
  };
  json doc = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (bad || doc.is_discarded()) return std::nullopt;
  return doc;
}

}  // namespace portcullis::identity
