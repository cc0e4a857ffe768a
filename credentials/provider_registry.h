// ProviderRegistry: the credential providers of one Config, by name. Built at
// start-up and on each reload (a reload builds a new registry; requests in
// flight keep the old one through their shared_ptr).
//
// Usage:
//   auto vault = EmbeddedVault::open(cfg.credentials.vault->file,
//                                    load_vault_key(*cfg.credentials.vault).value()).value();
//   ProviderEnv env{http, scheduler, real_clock(), vault.get(), cfg.server.public_url};
//   auto reg = ProviderRegistry::create(cfg.credentials, env);   // errors name the provider
//   Provider* p = (*reg)->find(upstream.credential);
//   p->get({agent, user, raw_token, token_exp}, [](CredentialResult r) { ... });
//
// Lifetime: `env`'s references (http, scheduler, clock, vault) must outlive
// the registry and every fetch it started. Timers hold only a weak_ptr.
// Thread: all methods are safe to call concurrently.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_client.h"
#include "config/config.h"
#include "credentials/provider.h"
#include "credentials/vault.h"

namespace portcullis::credentials {

struct ProviderEnv {
  HttpClient& http;
  Scheduler& scheduler;
  const Clock& clock;
  Vault* vault = nullptr;  // null when the config has no vault
  std::string public_url;  // issuer of signed_jwt tokens
  std::function<double()> random01 = {};  // refresh jitter (tests); empty: a PRNG
};

class ProviderRegistry : public std::enable_shared_from_this<ProviderRegistry> {
 public:
  // Builds every provider (resolving secrets, loading or generating signing
  // keys) and starts the rotate_every timers. The error names the provider.
  static Result<std::shared_ptr<ProviderRegistry>> create(const config::CredentialsConfig& cfg,
                                                          const ProviderEnv& env);

  // Null when no provider has that name.
  Provider* find(std::string_view name) const;
  // {"keys":[...]} with the public keys of every signed_jwt provider (current
  // and still-published previous ones), for /.well-known/jwks.json.
  std::string jwks_json() const;
  // Rotates one provider now (admin API, rotate_every timers).
  Status rotate(std::string_view name);
  // Kill switch: every provider forgets the agent's credentials.
  void drop_agent(std::string_view agent_id);

  struct Counters {
    std::string provider;
    std::string kind;
    ProviderStats stats;
  };
  std::vector<Counters> counters() const;

 private:
  struct Entry {
    std::string kind;
    std::unique_ptr<Provider> provider;
    config::Duration rotate_every{0};
  };
  explicit ProviderRegistry(Scheduler& scheduler) : scheduler_(scheduler) {}
  void schedule_rotation(const std::string& name, config::Duration every);

  Scheduler& scheduler_;
  std::map<std::string, Entry, std::less<>> providers_;
};

}  // namespace portcullis::credentials
