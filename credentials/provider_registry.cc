#include "credentials/provider_registry.h"

#include <nlohmann/json.hpp>

#include "credentials/oauth_provider.h"
#include "credentials/secret_resolver.h"
#include "credentials/signed_jwt_provider.h"
#include "credentials/static_provider.h"

namespace portcullis::credentials {

Result<std::shared_ptr<ProviderRegistry>> ProviderRegistry::create(const config::CredentialsConfig& cfg,
                                                                   const ProviderEnv& env) {
  std::shared_ptr<ProviderRegistry> reg(new ProviderRegistry(env.scheduler));
  SecretResolver resolver(env.vault);
  OAuthProviderDeps deps{env.http, env.scheduler, env.clock, env.random01};
  for (const auto& pc : cfg.providers) {
    if (reg->providers_.count(pc.name)) return Err("credentials.providers[" + pc.name + "]: duplicate name");
    Result<std::unique_ptr<Provider>, CredentialError> p = Err(CredentialError{});
    auto take = [](auto r) -> Result<std::unique_ptr<Provider>, CredentialError> {
      if (!r.ok()) return Err(r.error());
      return std::unique_ptr<Provider>(std::move(r.value()));
    };
    if (pc.kind == "static")
      p = take(StaticProvider::create(pc, resolver));
    else if (pc.kind == "client_credentials")
      p = take(ClientCredentialsProvider::create(pc, resolver, deps));
    else if (pc.kind == "token_exchange")
      p = take(TokenExchangeProvider::create(pc, resolver, deps));
    else if (pc.kind == "signed_jwt")
      p = take(SignedJwtProvider::create(pc, env.vault, env.clock, env.public_url));
    else
      return Err("credentials.providers[" + pc.name + "].kind: unknown kind '" + pc.kind +
                 "' (static, client_credentials, token_exchange, signed_jwt)");
    if (!p.ok()) return Err(p.error().message);
    reg->providers_.emplace(pc.name, Entry{pc.kind, std::move(p.value()), pc.rotate_every});
  }
  for (const auto& [name, e] : reg->providers_)
    if (e.rotate_every > config::Duration(0)) reg->schedule_rotation(name, e.rotate_every);
  return reg;
}

void ProviderRegistry::schedule_rotation(const std::string& name, config::Duration every) {
  std::weak_ptr<ProviderRegistry> weak = weak_from_this();
  scheduler_.run_after(every, [weak, name, every] {
    auto self = weak.lock();
    if (!self) return;  // replaced by a reload
    (void)self->rotate(name);  // a failure is counted; the next period retries
    self->schedule_rotation(name, every);
  });
}

Provider* ProviderRegistry::find(std::string_view name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : it->second.provider.get();
}

std::string ProviderRegistry::jwks_json() const {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& [name, e] : providers_)
    for (const auto& jwk : e.provider->public_jwks()) keys.push_back(nlohmann::json::parse(jwk));
  return nlohmann::json{{"keys", keys}}.dump();
}

Status ProviderRegistry::rotate(std::string_view name) {
  Provider* p = find(name);
  if (!p) return Err("no credentials provider named '" + std::string(name) + "'");
  return p->rotate();
}

void ProviderRegistry::drop_agent(std::string_view agent_id) {
  for (const auto& [name, e] : providers_) e.provider->drop_agent(agent_id);
}

std::vector<ProviderRegistry::Counters> ProviderRegistry::counters() const {
  std::vector<Counters> out;
  for (const auto& [name, e] : providers_) out.push_back({name, e.kind, e.provider->stats()});
  return out;
}

}  // namespace portcullis::credentials
