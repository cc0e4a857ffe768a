#include "credentials/oauth_provider.h"

namespace portcullis::credentials {
namespace {

using Code = CredentialError::Code;

CredentialError config_error(const std::string& provider, const std::string& msg) {
  return CredentialError{Code::kConfig, "credentials.providers[" + provider + "]: " + msg};
}

}  // namespace

OAuthProvider::OAuthProvider(const config::ProviderConfig& cfg, const SecretResolver& resolver,
                             OAuthProviderDeps deps, Credential::Kind kind, bool proactive)
    : name_(cfg.name), cfg_(cfg), resolver_(resolver), deps_(std::move(deps)), kind_(kind) {
  TokenCache::Options opt;
  opt.proactive_refresh = proactive;
  opt.random01 = deps_.random01;
  cache_ = TokenCache::create(deps_.clock, deps_.scheduler, std::move(opt));
}

Result<void, CredentialError> OAuthProvider::load_secret() {
  if (cfg_.token_url.empty()) return Err(config_error(name_, "token_url is required"));
  if (cfg_.client_id.empty()) return Err(config_error(name_, "client_id is required"));
  auto s = resolver_.resolve(cfg_.client_secret, "credentials.providers[" + name_ + "].client_secret");
  if (!s.ok()) return Err(CredentialError{Code::kConfig, s.error().message});
  std::lock_guard lock(mu_);
  client_secret_ = std::make_shared<const Secret>(std::move(s.value()));
  return {};
}

TokenEndpoint OAuthProvider::endpoint() const {
  TokenEndpoint ep;
  ep.provider = name_;
  ep.url = cfg_.token_url;
  ep.client_id = cfg_.client_id;
  std::lock_guard lock(mu_);
  ep.client_secret = client_secret_;
  return ep;
}

void OAuthProvider::get(const CallIdentity& who, Callback done) {
  auto form = form_for(who);
  if (!form.ok()) {
    ++early_failures_;
    return done(Err(form.error()));
  }
  TokenCache::Fetch fetch = [http = &deps_.http, clock = &deps_.clock, ep = endpoint(),
                             form = std::move(form.value()), cap = cap_for(who)](TokenCache::Done d) {
    request_token(*http, *clock, ep, form, cap, std::move(d));
  };
  cache_->get(key_of(who), fetch, [done = std::move(done), kind = kind_](TokenCache::TokenResult r) {
    if (!r.ok()) return done(Err(r.error()));
    Credential c;
    c.header = "Authorization";
    c.value = r->value;
    c.expires_at = r->expires_at;
    c.kind = kind;
    done(std::move(c));
  });
}

void OAuthProvider::invalidate(const CallIdentity& who, const Credential* rejected) {
  cache_->invalidate(key_of(who), rejected ? rejected->value.get() : nullptr);
}

Status OAuthProvider::rotate() {
  if (auto s = load_secret(); !s) return Err(s.error().message);
  cache_->drop_prefix("");
  ++rotations_;
  return {};
}

ProviderStats OAuthProvider::stats() const {
  ProviderStats s;
  s.refreshes = cache_->refreshes();
  s.failures = cache_->failures() + early_failures_;
  s.cache_hits = cache_->hits();
  s.rotations = rotations_;
  return s;
}

Result<std::unique_ptr<ClientCredentialsProvider>, CredentialError> ClientCredentialsProvider::create(
    const config::ProviderConfig& cfg, const SecretResolver& resolver, OAuthProviderDeps deps) {
  std::unique_ptr<ClientCredentialsProvider> p(new ClientCredentialsProvider(
      cfg, resolver, std::move(deps), Credential::Kind::kClientCredentials, /*proactive=*/true));
  if (auto s = p->load_secret(); !s) return Err(s.error());
  return p;
}

Result<std::vector<FormField>, CredentialError> ClientCredentialsProvider::form_for(const CallIdentity&) const {
  std::vector<FormField> form{{"grant_type", "client_credentials", nullptr}};
  if (!cfg_.scope.empty()) form.push_back({"scope", cfg_.scope, nullptr});
  if (!cfg_.resource.empty()) form.push_back({"resource", cfg_.resource, nullptr});
  if (!cfg_.audience.empty()) form.push_back({"audience", cfg_.audience, nullptr});
  return form;
}

Result<std::unique_ptr<TokenExchangeProvider>, CredentialError> TokenExchangeProvider::create(
    const config::ProviderConfig& cfg, const SecretResolver& resolver, OAuthProviderDeps deps) {
  if (cfg.audience.empty() && cfg.resource.empty())
    return Err(config_error(cfg.name, "token_exchange needs audience (or resource) naming the upstream"));
  // No timer refresh: a background exchange would need a subject token that
  // may have expired; refreshes happen when the agent calls again.
  std::unique_ptr<TokenExchangeProvider> p(new TokenExchangeProvider(
      cfg, resolver, std::move(deps), Credential::Kind::kTokenExchange, /*proactive=*/false));
  if (auto s = p->load_secret(); !s) return Err(s.error());
  return p;
}

std::string TokenExchangeProvider::key_of(const CallIdentity& who) const {
  std::string key(who.agent_id);
  key += '\x1f';
  key += who.user;
  return key;
}

void TokenExchangeProvider::drop_agent(std::string_view agent_id) {
  std::string prefix(agent_id);
  prefix += '\x1f';
  cache_->drop_prefix(prefix);
}

TimePoint TokenExchangeProvider::cap_for(const CallIdentity& who) const {
  return who.subject_token_exp == TimePoint{} ? TimePoint::max() : who.subject_token_exp;
}

Result<std::vector<FormField>, CredentialError> TokenExchangeProvider::form_for(const CallIdentity& who) const {
  if (who.subject_token.empty())
    return Err(CredentialError{Code::kSubjectExpired,
                               "credential provider " + name_ + ": token exchange needs the agent's token"});
  if (who.subject_token_exp != TimePoint{} && who.subject_token_exp <= deps_.clock.now())
    return Err(CredentialError{Code::kSubjectExpired, "credential provider " + name_ + ": the agent's token has expired"});
  std::vector<FormField> form{
      {"grant_type", kGrantType, nullptr},
      {"subject_token", "", std::make_shared<const Secret>(who.subject_token)},
      {"subject_token_type", kAccessTokenType, nullptr},
  };
  if (!cfg_.audience.empty()) form.push_back({"audience", cfg_.audience, nullptr});
  if (!cfg_.resource.empty()) form.push_back({"resource", cfg_.resource, nullptr});
  if (!cfg_.scope.empty()) form.push_back({"scope", cfg_.scope, nullptr});
  return form;
}

}  // namespace portcullis::credentials
