// CallFacts: everything the engine needs to know about one request. Built by
// the gateway's inspect stage; a plain view, owns nothing. Every view and
// pointer must stay valid for the duration of the decide() call.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace portcullis::policy {

// The methods the engine decides. For resources/read the "tool" is the
// resource URI (and a resource rule's argument is /uri); for prompts/get it
// is the prompt name.
inline constexpr std::string_view kToolsCall = "tools/call";
inline constexpr std::string_view kResourcesRead = "resources/read";
inline constexpr std::string_view kPromptsGet = "prompts/get";

struct CallFacts {
  // The agent (client) making the call, from the verified token and the
  // gateway's agent registry. An unregistered agent has no owner or groups
  // and the lowest clearance.
  std::string_view agent_id;
  std::string_view agent_owner;
  std::span<const std::string> agent_groups;
  std::string_view agent_clearance;  // a sensitivity level; empty: the lowest level
  bool agent_registered = false;

  // The human the agent acts for, when the token names one.
  std::string_view user;
  std::optional<std::string_view> user_clearance;  // absent: no user cap

  std::string_view upstream;
  std::string_view method = kToolsCall;
  std::string_view name;                      // tool name, resource URI or prompt name
  const nlohmann::json* arguments = nullptr;  // null: no arguments ({}); must be an object
  std::chrono::system_clock::time_point now{};  // for rate limits
};

}  // namespace portcullis::policy
