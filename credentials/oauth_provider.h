// The two providers that get their token from an OAuth authorization server:
//
// ClientCredentialsProvider (kind: client_credentials): one token for the
// upstream, POST token_url grant_type=client_credentials (+ scope, resource),
// Portcullis authenticated with HTTP Basic. Cached under one key, refreshed
// at ~2/3 of its lifetime (±10%), also by a timer while in use.
//
// TokenExchangeProvider (kind: token_exchange, RFC 8693): the agent's token
// as subject_token (type access_token), audience (+ resource, scope) the
// upstream, Portcullis authenticated with HTTP Basic. Cached per (agent,
// user), never beyond the subject token's exp nor the returned expires_in.
//
// Both: one fetch in flight per cache key, shared by all callers; a request
// arriving after expiry waits for the fresh token; see TokenCache.
//
// Lifetime: `http` and `scheduler` must outlive the provider and every fetch
// it started (the gateway's I/O objects do).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "common/http_client.h"
#include "config/config.h"
#include "credentials/provider.h"
#include "credentials/secret_resolver.h"
#include "credentials/token_cache.h"
#include "credentials/token_endpoint.h"

namespace portcullis::credentials {

struct OAuthProviderDeps {
  HttpClient& http;
  Scheduler& scheduler;
  const Clock& clock;
  std::function<double()> random01;  // jitter; empty: a PRNG
};

class OAuthProvider : public Provider {
 public:
  const std::string& name() const override { return name_; }
  void get(const CallIdentity& who, Callback done) override;
  void invalidate(const CallIdentity& who, const Credential* rejected) override;
  // Drops all cached tokens and re-reads the client secret.
  Status rotate() override;
  ProviderStats stats() const override;

 protected:
  OAuthProvider(const config::ProviderConfig& cfg, const SecretResolver& resolver, OAuthProviderDeps deps,
                Credential::Kind kind, bool proactive);
  Result<void, CredentialError> load_secret();
  TokenEndpoint endpoint() const;

  virtual std::string key_of(const CallIdentity& who) const = 0;
  // Checks `who` and builds the form; error ends get() at once.
  virtual Result<std::vector<FormField>, CredentialError> form_for(const CallIdentity& who) const = 0;
  virtual TimePoint cap_for(const CallIdentity&) const { return TimePoint::max(); }

  const std::string name_;
  const config::ProviderConfig cfg_;
  const SecretResolver resolver_;
  OAuthProviderDeps deps_;
  const Credential::Kind kind_;
  std::shared_ptr<TokenCache> cache_;
  mutable std::mutex mu_;
  std::shared_ptr<const Secret> client_secret_;
  std::atomic<std::uint64_t> rotations_{0}, early_failures_{0};
};

class ClientCredentialsProvider final : public OAuthProvider {
 public:
  static Result<std::unique_ptr<ClientCredentialsProvider>, CredentialError> create(
      const config::ProviderConfig& cfg, const SecretResolver& resolver, OAuthProviderDeps deps);
  void drop_agent(std::string_view) override {}  // one token for all agents

 private:
  using OAuthProvider::OAuthProvider;
  std::string key_of(const CallIdentity&) const override { return ""; }
  Result<std::vector<FormField>, CredentialError> form_for(const CallIdentity&) const override;
};

class TokenExchangeProvider final : public OAuthProvider {
 public:
  static constexpr const char* kGrantType = "urn:ietf:params:oauth:grant-type:token-exchange";
  static constexpr const char* kAccessTokenType = "urn:ietf:params:oauth:token-type:access_token";

  static Result<std::unique_ptr<TokenExchangeProvider>, CredentialError> create(const config::ProviderConfig& cfg,
                                                                                const SecretResolver& resolver,
                                                                                OAuthProviderDeps deps);
  void drop_agent(std::string_view agent_id) override;

 private:
  using OAuthProvider::OAuthProvider;
  std::string key_of(const CallIdentity& who) const override;
  Result<std::vector<FormField>, CredentialError> form_for(const CallIdentity& who) const override;
  TimePoint cap_for(const CallIdentity& who) const override;
};

}  // namespace portcullis::credentials
