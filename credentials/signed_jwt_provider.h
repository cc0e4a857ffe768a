// SignedJwtProvider (kind: signed_jwt): Portcullis signs a short-lived JWT
// for the upstream naming the agent and the user:
//   header  {alg: ES256|EdDSA, kid: RFC 7638 thumbprint, typ: JWT}
//   claims  iss = the gateway's public_url, aud = cfg.audience,
//           sub = the user, or the agent when there is none,
//           act = {sub: agent} when a user is present,
//           client_id = agent, jti (random), iat, exp = iat + ttl (ttl <= 5m;
//           never past the agent's token exp when known)
// Tokens are cached per (agent, user) until 2/3 of their lifetime.
//
// The key comes from the vault entry named by `key: vault:NAME`, else from
// `portcullis-signing-<provider name>`; when that entry is absent a key of
// cfg.algorithm is generated and stored there. A literal `key` (PEM) is used
// as is. rotate() makes a new key current, stores it in the same vault entry
// and keeps publishing the previous key (public_jwks) for ttl, until every
// token it signed has expired.
//
// Lifetime: borrows `vault` (may be null with a literal key).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "config/config.h"
#include "credentials/provider.h"
#include "credentials/secret_resolver.h"
#include "credentials/signing_key.h"

namespace portcullis::credentials {

class SignedJwtProvider final : public Provider {
 public:
  static constexpr std::chrono::minutes kMaxTtl{5};

  static Result<std::unique_ptr<SignedJwtProvider>, CredentialError> create(const config::ProviderConfig& cfg,
                                                                            Vault* vault, const Clock& clock,
                                                                            std::string issuer);

  const std::string& name() const override { return name_; }
  void get(const CallIdentity& who, Callback done) override;
  void invalidate(const CallIdentity& who, const Credential* rejected) override;
  Status rotate() override;
  void drop_agent(std::string_view agent_id) override;
  std::vector<std::string> public_jwks() const override;
  ProviderStats stats() const override;

  // The vault entry holding the key, or "" for a literal key.
  const std::string& key_entry() const { return key_entry_; }

 private:
  struct Cached {
    std::shared_ptr<const Secret> value;
    TimePoint reuse_until;
    TimePoint expires_at;
  };
  struct Retired {
    std::shared_ptr<const SigningKey> key;
    TimePoint drop_at;
  };

  SignedJwtProvider(const config::ProviderConfig& cfg, Vault* vault, const Clock& clock, std::string issuer);
  Result<void, CredentialError> load_key();
  static std::string key_of(const CallIdentity& who);
  void prune_locked(TimePoint now) const;

  const std::string name_;
  const config::ProviderConfig cfg_;
  Vault* const vault_;
  const Clock& clock_;
  const std::string issuer_;
  std::string key_entry_;
  SigningKey::Algorithm alg_ = SigningKey::Algorithm::kES256;
  mutable std::mutex mu_;
  std::shared_ptr<const SigningKey> current_;
  mutable std::vector<Retired> previous_;
  std::unordered_map<std::string, Cached> cache_;
  std::atomic<std::uint64_t> signed_{0}, failures_{0}, hits_{0}, rotations_{0};
};

}  // namespace portcullis::credentials
