#include "policy/decision.h"

namespace portcullis::policy {

std::string_view effect_name(Effect e) {
  switch (e) {
    case Effect::kAllow: return "allow";
    case Effect::kRequireApproval: return "require_approval";
    case Effect::kDeny: return "deny";
  }
  return "deny";
}

std::optional<Effect> parse_effect(std::string_view name) {
  if (name == "allow") return Effect::kAllow;
  if (name == "require_approval") return Effect::kRequireApproval;
  if (name == "deny") return Effect::kDeny;
  return std::nullopt;
}

}  // namespace portcullis::policy
