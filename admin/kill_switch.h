// KillSwitch: one engaged kill switch, as the admin API shows it and the state
// file stores it. A plain value type; KillSwitches (kill_switches.h) holds the
// engaged set and answers the hot-path question "is this call killed?".
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace portcullis::admin {

// What a switch names. The gateway answers 403 (JSON-RPC error naming the
// switch) to every new request it matches and closes every open stream it
// matches (KillSwitches::matches_stream).
enum class KillKind : std::uint8_t {
  kAgent,     // target = agent id (Principal::agent_id)
  kOwner,     // target = owner (config `agents[].owner`): all their registered agents
  kUser,      // target = delegating user (Principal::user)
  kToken,     // target = a token's jti or its token_id (Principal::jti / token_id)
  kUpstream,  // target = upstream name
  kTool,      // target = "upstream/tool" (one upstream) or "tool" (that name on every upstream)
  kAll,       // no target: everything
};

std::string_view kill_kind_name(KillKind k);  // "agent" | "owner" | ... | "all"
std::optional<KillKind> parse_kill_kind(std::string_view name);

struct KillSwitch {
  std::string id;          // random, "ks_" + 16 hex digits
  KillKind kind = KillKind::kAll;
  std::string target;      // empty for kAll
  std::string reason;      // free text from the operator
  std::string created_by;  // admin token name
  std::chrono::system_clock::time_point created_at;
};

// {"id","kind","target","reason","created_by","created_at"(RFC 3339 UTC)}.
// For kAll, "target" is omitted.
nlohmann::json to_json(const KillSwitch& k);
// Strict inverse of to_json (unknown kind, missing id or a non-string field is
// an error); used when loading the state file.
Result<KillSwitch> kill_switch_from_json(const nlohmann::json& j);

}  // namespace portcullis::admin
