#include "credentials/signed_jwt_provider.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "common/encoding.h"
#include "credentials/crypto.h"

namespace portcullis::credentials {
namespace {

using Code = CredentialError::Code;

std::int64_t unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

SignedJwtProvider::SignedJwtProvider(const config::ProviderConfig& cfg, Vault* vault, const Clock& clock,
                                     std::string issuer)
    : name_(cfg.name), cfg_(cfg), vault_(vault), clock_(clock), issuer_(std::move(issuer)) {}

Result<std::unique_ptr<SignedJwtProvider>, CredentialError> SignedJwtProvider::create(
    const config::ProviderConfig& cfg, Vault* vault, const Clock& clock, std::string issuer) {
  auto fail = [&](const std::string& msg) {
    return Err(CredentialError{Code::kConfig, "credentials.providers[" + cfg.name + "]: " + msg});
  };
  if (cfg.audience.empty()) return fail("signed_jwt needs audience");
  if (cfg.ttl <= std::chrono::milliseconds(0) || cfg.ttl > kMaxTtl) return fail("ttl must be between 1s and 5m");
  if (issuer.empty()) return fail("signed_jwt needs server.public_url (the JWT issuer)");
  std::unique_ptr<SignedJwtProvider> p(new SignedJwtProvider(cfg, vault, clock, std::move(issuer)));
  auto alg = SigningKey::parse_algorithm(cfg.algorithm.empty() ? "ES256" : cfg.algorithm);
  if (!alg.ok()) return fail(alg.error().message);
  p->alg_ = *alg;
  if (auto s = p->load_key(); !s) return Err(s.error());
  return p;
}

Result<void, CredentialError> SignedJwtProvider::load_key() {
  auto fail = [&](const std::string& msg) {
    return Err(CredentialError{Code::kConfig, "credentials.providers[" + name_ + "].key: " + msg});
  };
  if (cfg_.key.kind == config::SecretRef::Kind::kLiteral) {
    auto key = SigningKey::from_pem(Secret(cfg_.key.value));
    if (!key.ok()) return fail(key.error().message);
    alg_ = key->algorithm();
    current_ = std::make_shared<const SigningKey>(std::move(key.value()));
    return {};
  }
  key_entry_ = cfg_.key.kind == config::SecretRef::Kind::kVault ? cfg_.key.value : "portcullis-signing-" + name_;
  if (!vault_) return fail("no credentials.vault to keep the signing key '" + key_entry_ + "' in");
  auto pem = vault_->get(key_entry_);
  if (pem.ok()) {
    auto key = SigningKey::from_pem(*pem);
    if (!key.ok()) return fail("vault entry '" + key_entry_ + "': " + key.error().message);
    alg_ = key->algorithm();  // the stored key decides
    current_ = std::make_shared<const SigningKey>(std::move(key.value()));
    return {};
  }
  if (pem.error().code != VaultError::Code::kNotFound) return fail(pem.error().message);
  auto key = SigningKey::generate(alg_);
  if (!key.ok()) return fail(key.error().message);
  auto out = key->to_pem();
  if (!out.ok()) return fail(out.error().message);
  if (auto s = vault_->put(key_entry_, std::move(out.value())); !s.ok())
    return fail("cannot store a new signing key as '" + key_entry_ + "': " + s.error().message);
  current_ = std::make_shared<const SigningKey>(std::move(key.value()));
  return {};
}

std::string SignedJwtProvider::key_of(const CallIdentity& who) {
  std::string key(who.agent_id);
  key += '\x1f';
  key += who.user;
  return key;
}

void SignedJwtProvider::prune_locked(TimePoint now) const {
  std::erase_if(previous_, [now](const Retired& r) { return r.drop_at <= now; });
}

void SignedJwtProvider::get(const CallIdentity& who, Callback done) {
  TimePoint now = clock_.now();
  if (who.agent_id.empty()) {
    ++failures_;
    return done(Err(CredentialError{Code::kConfig, "credential provider " + name_ + ": no agent identity"}));
  }
  if (who.subject_token_exp != TimePoint{} && who.subject_token_exp <= now) {
    ++failures_;
    return done(Err(CredentialError{Code::kSubjectExpired, "credential provider " + name_ + ": the agent's token has expired"}));
  }
  const std::string key = key_of(who);
  std::shared_ptr<const SigningKey> signer;
  std::optional<Credential> hit;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now < it->second.reuse_until && now < it->second.expires_at)
      hit = Credential{"Authorization", it->second.value, it->second.expires_at, Credential::Kind::kSignedJwt};
    signer = current_;
  }
  if (hit) {  // `done` never runs under the lock: it may call back into us
    ++hits_;
    return done(std::move(*hit));
  }
  // JWT NumericDates are whole seconds: truncate iat and exp down.
  std::int64_t iat = unix_seconds(now);
  TimePoint exp_tp = TimePoint(std::chrono::seconds(iat)) + std::chrono::duration_cast<std::chrono::seconds>(cfg_.ttl);
  if (who.subject_token_exp != TimePoint{} && who.subject_token_exp < exp_tp) exp_tp = who.subject_token_exp;
  std::int64_t exp = unix_seconds(exp_tp);
  if (exp <= iat) {
    ++failures_;
    return done(Err(CredentialError{Code::kSubjectExpired, "credential provider " + name_ + ": the agent's token expires now"}));
  }
  nlohmann::json claims;
  claims["iss"] = issuer_;
  claims["aud"] = cfg_.audience;
  claims["sub"] = who.user.empty() ? std::string(who.agent_id) : std::string(who.user);
  if (!who.user.empty()) claims["act"] = {{"sub", std::string(who.agent_id)}};
  claims["client_id"] = std::string(who.agent_id);
  claims["jti"] = encoding::base64url_encode(crypto::random_bytes(16));
  claims["iat"] = iat;
  claims["exp"] = exp;
  auto jwt = signer->sign_jwt(claims.dump());
  if (!jwt.ok()) {
    ++failures_;
    return done(Err(CredentialError{Code::kInternal, "credential provider " + name_ + ": signing failed"}));
  }
  auto value = std::make_shared<const Secret>(Secret::concat("Bearer ", *jwt));
  wipe(jwt.value());
  TimePoint exp_at = TimePoint(std::chrono::seconds(exp));
  TimePoint iat_at = TimePoint(std::chrono::seconds(iat));
  Cached cached{value, iat_at + (exp_at - iat_at) * 2 / 3, exp_at};
  {
    std::lock_guard lock(mu_);
    if (current_ == signer) {  // not rotated meanwhile
      if (cache_.size() > 10000)
        std::erase_if(cache_, [now](const auto& kv) { return kv.second.expires_at <= now; });
      cache_[key] = cached;
    }
  }
  ++signed_;
  done(Credential{"Authorization", std::move(value), exp_at, Credential::Kind::kSignedJwt});
}

void SignedJwtProvider::invalidate(const CallIdentity& who, const Credential* rejected) {
  std::lock_guard lock(mu_);
  auto it = cache_.find(key_of(who));
  if (it == cache_.end()) return;
  if (rejected && rejected->value != it->second.value) return;
  cache_.erase(it);
}

Status SignedJwtProvider::rotate() {
  auto key = SigningKey::generate(alg_);
  if (!key.ok()) return Err(key.error().message);
  if (!key_entry_.empty() && vault_) {
    auto pem = key->to_pem();
    if (!pem.ok()) return Err(pem.error().message);
    if (auto s = vault_->put(key_entry_, std::move(pem.value())); !s.ok())
      return Err("credential provider " + name_ + ": cannot store the new signing key: " + s.error().message);
  }
  TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  prune_locked(now);
  // Tokens signed by the old key live at most ttl from now.
  previous_.push_back({current_, now + cfg_.ttl});
  current_ = std::make_shared<const SigningKey>(std::move(key.value()));
  cache_.clear();
  ++rotations_;
  return {};
}

void SignedJwtProvider::drop_agent(std::string_view agent_id) {
  std::string prefix(agent_id);
  prefix += '\x1f';
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [&](const auto& kv) { return kv.first.compare(0, prefix.size(), prefix) == 0; });
}

std::vector<std::string> SignedJwtProvider::public_jwks() const {
  std::lock_guard lock(mu_);
  prune_locked(clock_.now());
  std::vector<std::string> out{current_->public_jwk()};
  for (const auto& r : previous_) out.push_back(r.key->public_jwk());
  return out;
}

ProviderStats SignedJwtProvider::stats() const {
  ProviderStats s;
  s.refreshes = signed_;
  s.failures = failures_;
  s.cache_hits = hits_;
  s.rotations = rotations_;
  return s;
}

}  // namespace portcullis::credentials
