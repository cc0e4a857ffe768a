// Internal: what one configuration generation gives the data path. Built off
// the I/O threads at start and on reload, then handed to each worker as a
// shared_ptr<const Runtime>; a request keeps the one it started with.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "gateway/io.h"
#include "gateway/session_sealer.h"
#include "gateway/policy_stage.h"
#include "identity/token_verifier.h"
#include "admin/approvals.h"
#include "admin/inventory.h"
#include "admin/kill_switches.h"
#include "admin/metrics.h"
#include "audit/audit_log.h"
#include "credentials/embedded_vault.h"
#include "credentials/provider_registry.h"
#include "policy/policy_snapshot.h"

namespace portcullis::gateway {

struct Runtime {
  config::ConfigPtr config;
  std::shared_ptr<const SessionSealer> sealer;
  std::map<std::string, std::shared_ptr<ssl::context>> upstream_tls;  // by upstream name
  std::shared_ptr<ssl::context> server_tls;                           // null: plain HTTP
  std::shared_ptr<identity::TokenVerifier> verifier;                  // null: identity not configured
  policy::PolicySnapshotPtr policy;                                   // null: no policy files
  PolicyState* policy_state = nullptr;                                // owned by the Server
  audit::AuditLog* audit = nullptr;                                   // owned by the Server; null: off
  std::shared_ptr<credentials::EmbeddedVault> vault;                  // null: no vault configured
  std::shared_ptr<credentials::ProviderRegistry> credentials;         // null: no providers
  // Owned by the Server, never null while serving.
  admin::KillSwitches* kills = nullptr;
  admin::Approvals* approvals = nullptr;
  admin::Inventory* inventory = nullptr;
  admin::Metrics* metrics = nullptr;
  admin::StateStore* state = nullptr;  // shared() with `state: { backend: redis }`
  std::uint64_t generation = 0;
};
using RuntimePtr = std::shared_ptr<const Runtime>;

}  // namespace portcullis::gateway
