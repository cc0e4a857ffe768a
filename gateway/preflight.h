// Preflight: the checks `portcullis run` makes before it serves, without
// serving: the vault opens, every `vault:NAME` and secret in the config
// resolves and has the right form, TLS certificate, key and CA files load,
// and every agent's and user's clearance is one of the policy's sensitivity
// levels. `portcullis check` prints them; run, start-up and reload refuse a
// config that fails any (fail closed: a typo in a clearance is a config
// error, not a deny at request time). No Boost in this header.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "gateway/session_sealer.h"

namespace portcullis::credentials {
class EmbeddedVault;
}
namespace portcullis::policy {
struct PolicySnapshot;
}

namespace portcullis::gateway {

// server.session_key's bytes: 32 raw bytes, 64 hex digits or base64 (either
// alphabet, padding optional: what the config loader accepts).
bool decode_session_key(const std::string& text, SessionSealer::Key& key);

// The embedded vault named by the config, or null when there is none.
Result<std::shared_ptr<credentials::EmbeddedVault>> open_vault(const config::Config& cfg);

// Secrets and files: one message per problem (`key: what is wrong`), empty
// when the config can run. `vault` is the config's vault as open_vault gave
// it; an error there is reported here, and references into it are skipped.
// Reads the files named; no network.
std::vector<std::string> preflight_secrets_and_files(
    const config::Config& cfg, const Result<std::shared_ptr<credentials::EmbeddedVault>>& vault);

// Each agent's and user's clearance against the policy's levels.
std::vector<std::string> preflight_clearances(const config::Config& cfg, const policy::PolicySnapshot& policy);

// The problems as one message ("; " between them), for a refused start or reload.
std::string join_problems(const std::vector<std::string>& problems);

}  // namespace portcullis::gateway
