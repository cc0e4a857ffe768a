// Who is calling: the identity that authenticate hands to every later stage
// (kill switch, policy, audit, credentials). Built once per verified token
// and shared read-only (cached Principals are reused across requests).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace portcullis::identity {

struct Principal {
  enum class TokenKind { kJwt, kOpaque };

  std::string issuer;     // `iss`; for an opaque token without iss, empty
  std::string agent_id;   // who acts: see build_principal
  std::string subject;    // `sub` as sent
  std::string user;       // the delegating human, when there is one; else empty
  std::vector<std::string> act_chain;  // RFC 8693 actors, current actor first
  std::string client_id;  // `client_id` (or `azp`) as sent
  std::vector<std::string> scopes;     // sorted, unique
  std::vector<std::string> groups;     // `groups` claim as sent
  std::vector<std::string> audiences;  // `aud` as sent (rechecked on cache hits)
  std::string jti;
  std::string token_id;   // hex keyed hash of the token: safe to log, kill and audit by
  std::chrono::system_clock::time_point expires_at;  // `exp` (max() when absent)
  TokenKind token_kind = TokenKind::kJwt;

  bool registered = false;                       // agent_id is in config `agents:`
  std::optional<config::AgentConfig> agent;      // the registry entry when registered
  // The delegating user's clearance from config `users:` when `user` is
  // set; empty (the lowest level) for a user who is not listed.
  std::string user_clearance;

  bool has_scope(std::string_view scope) const;
};

using PrincipalPtr = std::shared_ptr<const Principal>;

// The registry of configured agents, by id, and of delegating users, by
// sub. Immutable after construction.
class AgentRegistry {
 public:
  AgentRegistry() = default;
  explicit AgentRegistry(const std::vector<config::AgentConfig>& agents,
                         const std::vector<config::UserConfig>& users = {});
  const config::AgentConfig* find(std::string_view id) const;
  const config::UserConfig* find_user(std::string_view sub) const;

 private:
  std::map<std::string, config::AgentConfig, std::less<>> agents_;
  std::map<std::string, config::UserConfig, std::less<>> users_;
};

// Builds a Principal from verified claims (a JWT payload or an active
// introspection answer). Empty agent_id when the claims name no agent.
//
// Who the agent is:
//  - With an RFC 8693 `act` claim, the outermost `act` is the current actor
//    (§4.1): agent_id = act.sub (act.client_id when act has no sub), `sub` is
//    the delegating user, and act_chain lists every actor, outermost first.
//  - Otherwise agent_id = the `agent_claim` (default client_id), falling back
//    to `azp`, then to `sub`. user = `sub` when it differs from agent_id
//    (a user-delegated token); a client-credentials token (sub == client_id)
//    has no user.
// scopes come from `scope` (space-separated string) or `scp` (array or string).
Principal build_principal(const nlohmann::json& claims, std::string_view agent_claim, const AgentRegistry& agents);

}  // namespace portcullis::identity
