#include "admin/kill_switch.h"

#include <array>

#include "admin/util.h"

namespace portcullis::admin {
namespace {

constexpr std::array<std::pair<KillKind, std::string_view>, 7> kKinds{{
    {KillKind::kAgent, "agent"},
    {KillKind::kOwner, "owner"},
    {KillKind::kUser, "user"},
    {KillKind::kToken, "token"},
    {KillKind::kUpstream, "upstream"},
    {KillKind::kTool, "tool"},
    {KillKind::kAll, "all"},
}};

}  // namespace

std::string_view kill_kind_name(KillKind k) {
  for (const auto& [kind, name] : kKinds)
    if (kind == k) return name;
  return "all";
}

std::optional<KillKind> parse_kill_kind(std::string_view name) {
  for (const auto& [kind, n] : kKinds)
    if (n == name) return kind;
  return std::nullopt;
}

nlohmann::json to_json(const KillSwitch& k) {
  nlohmann::json j = {{"id", k.id}, {"kind", kill_kind_name(k.kind)}};
  if (k.kind != KillKind::kAll) j["target"] = k.target;
  j["reason"] = k.reason;
  j["created_by"] = k.created_by;
  j["created_at"] = detail::format_time(k.created_at);
  return j;
}

Result<KillSwitch> kill_switch_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return Err("kill switch: expected an object");
  auto str = [&](const char* key, bool required, std::string& out) -> Status {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) return Err(std::string("kill switch: missing \"") + key + "\"");
      return {};
    }
    if (!it->is_string()) return Err(std::string("kill switch: \"") + key + "\" must be a string");
    out = it->get<std::string>();
    return {};
  };
  KillSwitch k;
  std::string kind, created_at;
  for (auto s : {str("id", true, k.id), str("kind", true, kind), str("target", false, k.target),
                 str("reason", false, k.reason), str("created_by", false, k.created_by),
                 str("created_at", true, created_at)}) {
    if (!s) return Err(s.error());
  }
  if (k.id.empty()) return Err("kill switch: empty \"id\"");
  auto kk = parse_kill_kind(kind);
  if (!kk) return Err("kill switch " + k.id + ": unknown kind \"" + kind + "\"");
  k.kind = *kk;
  if (k.kind != KillKind::kAll && k.target.empty()) return Err("kill switch " + k.id + ": empty target");
  if (k.kind == KillKind::kAll) k.target.clear();
  auto t = detail::parse_time(created_at);
  if (!t) return Err("kill switch " + k.id + ": bad created_at \"" + created_at + "\"");
  k.created_at = *t;
  return k;
}

}  // namespace portcullis::admin
