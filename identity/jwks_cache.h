// The signing keys of one issuer: fetched from its jwks_uri (configured, or
// discovered from /.well-known/openid-configuration, falling back to the
// RFC 8414 /.well-known/oauth-authorization-server document), held as an
// immutable KeySet snapshot swapped atomically, and refreshed in the
// background.
//
// Refresh rules: after a success, again after Cache-Control max-age clamped
// to [min_refresh, max_refresh] (default refresh_interval without max-age);
// after a failure, retry with exponential backoff (retry_initial ..
// retry_max) while the old keys keep working, up to max_stale after their
// last successful fetch. An unknown `kid` asks for a refresh at most once per
// unknown_kid_interval; the request that saw it fails at once (it never
// waits for I/O). At most one fetch is in flight.
//
// Threads: keys(), ready(), stats() and request_refresh() may be called from
// any thread; keys() is one atomic shared_ptr load. HttpClient and Scheduler
// callbacks hold only a weak_ptr, so destroying the owner cancels nothing
// but makes pending callbacks no-ops. The HttpClient and Scheduler must
// outlive every JwksCache.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "identity/clock.h"
#include "identity/jwk.h"

namespace portcullis::identity {

struct KeySet {
  std::vector<Jwk> keys;
  std::chrono::system_clock::time_point fetched_at;

  // The key a token names (nullptr when unknown). Without a kid: the only
  // key of the algorithm's kty, or nullptr when there is none or several.
  const Jwk* select(const std::string* kid, Alg alg) const;
};
using KeySetPtr = std::shared_ptr<const KeySet>;

struct JwksOptions {
  using Duration = std::chrono::milliseconds;
  Duration refresh_interval = std::chrono::minutes(5);
  Duration min_refresh = std::chrono::seconds(30);
  Duration max_refresh = std::chrono::hours(1);
  Duration unknown_kid_interval = std::chrono::seconds(30);
  Duration retry_initial = std::chrono::seconds(1);
  Duration retry_max = std::chrono::minutes(1);
  Duration max_stale = std::chrono::hours(24);
  Duration fetch_timeout = std::chrono::seconds(5);
  std::size_t max_document_bytes = 64 * 1024;
  std::size_t max_keys = 32;
};

struct JwksStats {
  std::uint64_t refreshes = 0;              // successful fetches
  std::uint64_t failures = 0;               // failed fetches (discovery, HTTP, parse)
  std::uint64_t unknown_kid_refreshes = 0;  // fetches started for an unknown kid
  std::uint64_t rate_limited = 0;           // unknown-kid refreshes refused by the rate limit
  std::size_t keys = 0;                     // keys in the current snapshot
  std::string jwks_uri;                     // configured or discovered
  std::string last_error;                   // safe for logs
};

class JwksCache : public std::enable_shared_from_this<JwksCache> {
 public:
  // Called after a new snapshot replaces one that had a key the new one
  // lacks (a revoked key): the verifier drops tokens it verified with it.
  using KeysRemoved = std::function<void()>;

  // `jwks_uri` empty: discover it from `issuer`.
  static std::shared_ptr<JwksCache> create(std::string issuer, std::string jwks_uri, JwksOptions options,
                                           HttpClient& http, Scheduler& scheduler, Clock clock,
                                           KeysRemoved on_removed = {});

  // Starts the first fetch and the refresh schedule. Call once.
  void start();

  // The current snapshot; null until the first successful fetch.
  KeySetPtr keys() const { return keys_.load(std::memory_order_acquire); }
  bool ready() const { return keys() != nullptr; }

  // A token named a kid this snapshot lacks (or no keys are loaded): fetch
  // now unless one is in flight or one started less than
  // unknown_kid_interval ago. Never blocks.
  void request_refresh();

  JwksStats stats() const;
  const std::string& issuer() const { return issuer_; }

  JwksCache(std::string issuer, std::string jwks_uri, JwksOptions options, HttpClient& http, Scheduler& scheduler,
            Clock clock, KeysRemoved on_removed);

 private:
  bool fetch();  // false when a fetch is already in flight
  void tick(std::uint64_t seq);  // scheduled refresh; stale when seq != tick_seq_
  void discover(std::size_t attempt);
  void fetch_jwks(std::string uri);
  void install(JwkSet set);
  void finish(bool ok, std::chrono::milliseconds max_age, std::string error);
  void schedule(std::chrono::milliseconds delay);

  const std::string issuer_;
  const std::string configured_uri_;
  const JwksOptions options_;
  HttpClient& http_;
  Scheduler& scheduler_;
  const Clock clock_;
  const KeysRemoved on_removed_;

  std::atomic<std::shared_ptr<const KeySet>> keys_;
  std::atomic<bool> in_flight_{false};

  mutable std::mutex mu_;  // guards the members below (never held across I/O)
  std::string discovered_uri_;
  std::chrono::system_clock::time_point last_start_{};
  std::uint64_t tick_seq_ = 0;
  int consecutive_failures_ = 0;
  JwksStats stats_;
};

// The two discovery documents for an issuer, in the order they are tried:
// OIDC ({issuer}/.well-known/openid-configuration) then RFC 8414
// ({scheme}://{authority}/.well-known/oauth-authorization-server{path}).
std::vector<std::string> discovery_urls(const std::string& issuer);

// max-age from a Cache-Control value; nullopt when absent (0 for no-store
// and no-cache).
std::optional<std::chrono::seconds> cache_control_max_age(std::string_view value);

}  // namespace portcullis::identity
