// TokenVerifier: bearer token -> Principal, the authenticate stage's engine.
//
// JWTs (three dot-separated parts) are verified synchronously with keys
// already in memory: no I/O ever happens on the request path. Keys per
// issuer come from a JwksCache fetched at start() and refreshed in the
// background; an unknown kid fails the request at once and asks for a
// (rate-limited) refresh, so a later request succeeds. Verified tokens are
// cached by SHA-256 until their exp, so a repeat costs a hash and a lookup.
// Opaque tokens go through RFC 7662 introspection (verify_async), cached
// until min(exp, introspection.cache_ttl).
//
// Every accepted token passes: the issuer's algorithm allow-list, JWK
// constraints, signature, iss, aud (IssuerConfig.audiences, or when empty the
// audiences the caller passes: the route's resource URI and public_url),
// exp/nbf/iat with clock_skew, a named agent, then required_scopes
// (kInsufficientScope). Unregistered agents are not refused here:
// Principal::registered is false and the gateway applies
// IdentityConfig::allow_unregistered_agents (it lists them either way).
//
// Threads: every method may be called from any thread once constructed.
// HttpClient and Scheduler must outlive the verifier; pending callbacks after
// its destruction do nothing. A config reload builds a new TokenVerifier.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_client.h"
#include "common/result.h"
#include "config/config.h"
#include "identity/auth_error.h"
#include "identity/clock.h"
#include "identity/introspection.h"
#include "identity/jwks_cache.h"
#include "identity/principal.h"

namespace portcullis::identity {

// The audiences a token may carry for the route being called, e.g.
// {resource_uri(public_url, route.path), public_url}.
using Audiences = std::vector<std::string>;
using VerifyResult = Result<PrincipalPtr, AuthError>;

struct VerifierOptions {
  Clock clock = system_clock();
  std::size_t max_token_bytes = 8 * 1024;
  bool require_typ = false;  // true: a JWT without a typ header is refused
  std::size_t token_cache_entries = 10000;
  JwksOptions jwks;
  std::string introspection_secret;  // resolved introspection.client_secret; wiped after use
  // HMAC key for Principal::token_id. Empty: random per process (ids then
  // change across restarts). Give a stable key to match ids across restarts.
  std::string token_id_key;
};

struct VerifierStats {
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_misses = 0;
  std::uint64_t accepted = 0;  // full verifications that succeeded
  std::uint64_t rejected = 0;
  std::vector<JwksStats> issuers;  // in configuration order
  IntrospectionStats introspection;
};

class Introspector;
class TokenCache;

class TokenVerifier {
 public:
  // `agents` and `users` (config `agents:` and `users:`) fill each
  // Principal's registry entry and the delegating user's clearance.
  TokenVerifier(const config::IdentityConfig& config, const std::vector<config::AgentConfig>& agents,
                const std::vector<config::UserConfig>& users, HttpClient& http, Scheduler& scheduler,
                VerifierOptions options = {});
  ~TokenVerifier();
  TokenVerifier(const TokenVerifier&) = delete;
  TokenVerifier& operator=(const TokenVerifier&) = delete;

  // Starts fetching every issuer's keys. Call once, before serving.
  void start();

  // True when every issuer has keys (for /readyz).
  bool ready() const;

  // Synchronous verification. A JWT is verified fully; an opaque token is
  // answered only from the introspection cache (else kInvalidToken): use
  // verify_async for opaque tokens.
  VerifyResult verify(std::string_view token, const Audiences& audiences);

  // The answer when it needs no I/O (a JWT, a cached or malformed opaque
  // token, no introspection configured); nullopt when only verify_async can
  // tell (an opaque token to introspect). Lets a caller on an event loop skip
  // the suspend-and-post of an asynchronous call on its hot path.
  std::optional<VerifyResult> verify_now(std::string_view token, const Audiences& audiences);
  // For a token verify_now could not answer: asks the introspection endpoint
  // (without looking at the cache again) and caches the answer; `done` runs
  // later, on an HttpClient thread.
  void introspect(std::string_view token, const Audiences& audiences, std::function<void(VerifyResult)> done);

  // As verify, and opaque tokens go to introspection when configured. For a
  // JWT or a cached opaque token `done` runs before verify_async returns;
  // otherwise later, on an HttpClient thread. The token is copied as needed.
  void verify_async(std::string_view token, const Audiences& audiences, std::function<void(VerifyResult)> done);

  VerifierStats stats() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace portcullis::identity
