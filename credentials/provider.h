// Provider: mints the credential Portcullis sends to one upstream in place of
// the agent's token (the agent's token is never passed through). One Provider
// per credentials.providers entry, built by ProviderRegistry.
//
// Thread: every method may be called concurrently from any I/O thread.
// Callbacks run either before get() returns (a cached or static credential)
// or later on an HttpClient thread; they must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "credentials/clock.h"
#include "credentials/secret.h"

namespace portcullis::credentials {

// Who the call is for. Views: valid only during get()/invalidate(); providers
// copy what they keep.
struct CallIdentity {
  std::string_view agent_id;
  std::string_view user;           // the delegating user's subject; empty when none
  std::string_view subject_token;  // the agent's raw token (token_exchange only)
  TimePoint subject_token_exp{};   // its exp; epoch (the default) when unknown
};

struct Credential {
  enum class Kind { kStatic, kClientCredentials, kTokenExchange, kSignedJwt };
  std::string header;  // e.g. "Authorization", "X-API-Key"
  // The full header value ("Bearer ..." or the raw key), shared with the
  // provider's cache and wiped when the last holder lets go.
  std::shared_ptr<const Secret> value;
  TimePoint expires_at = TimePoint::max();  // max: does not expire
  Kind kind = Kind::kStatic;
};

// What went wrong; the gateway maps every code to 502 except kSubjectExpired
// (401: the agent must get a fresh token). Messages name the provider and the
// endpoint, never a secret or token.
struct CredentialError {
  enum class Code {
    kConfig,          // misconfigured or a secret is missing: fix the config/vault
    kUnavailable,     // token endpoint unreachable, timed out, 5xx or 429: transient, retry later
    kRejected,        // token endpoint refused (4xx, e.g. invalid_client): an operator must act
    kBadResponse,     // token endpoint answered 2xx without a usable token
    kSubjectExpired,  // the agent's token is missing or expired (token_exchange, signed_jwt)
    kInternal,        // signing or encryption failed
  } code = Code::kInternal;
  std::string message;
};

using CredentialResult = Result<Credential, CredentialError>;

struct ProviderStats {
  std::uint64_t refreshes = 0;  // tokens fetched or signed
  std::uint64_t failures = 0;   // fetches or signatures that failed
  std::uint64_t cache_hits = 0;
  std::uint64_t rotations = 0;
};

class Provider {
 public:
  using Callback = std::function<void(CredentialResult)>;
  virtual ~Provider() = default;

  virtual const std::string& name() const = 0;
  // Calls `done` exactly once with a credential valid now (never one past its
  // expires_at). Concurrent callers needing the same token share one fetch.
  virtual void get(const CallIdentity& who, Callback done) = 0;
  // The upstream answered 401: drop the cached credential for `who` so the
  // gateway's single retry gets a fresh one. With `rejected`, drop only if the
  // cache still holds that same credential (many requests failing with one
  // token cause one refetch, not many).
  virtual void invalidate(const CallIdentity& who, const Credential* rejected = nullptr) = 0;
  // Drops every cached credential and, for signed_jwt, switches to a new key
  // (the previous one stays published until its tokens expire).
  virtual Status rotate() = 0;
  // Kill switch: forget every credential minted for this agent.
  virtual void drop_agent(std::string_view agent_id) = 0;
  // Public JWKs (JSON objects) this provider signs with; empty for most.
  virtual std::vector<std::string> public_jwks() const { return {}; }
  virtual ProviderStats stats() const = 0;
};

}  // namespace portcullis::credentials
