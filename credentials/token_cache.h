// TokenCache: short-lived tokens by key, fetched once however many callers
// want them (single flight), reused until about two thirds of their lifetime
// (±10% jitter), refreshed in the background from then on while still
// valid, and never handed out at or after expiry (callers then wait for the
// refresh). Used by the client_credentials and token_exchange providers.
//
// Lifetime: always held by shared_ptr (create()). An in-flight fetch keeps
// the cache alive until it completes, so waiters are always answered; timers
// hold only a weak_ptr. Thread: all methods are safe to call concurrently;
// `fetch` and `done` are never called with the internal lock held.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "credentials/clock.h"
#include "credentials/provider.h"

namespace portcullis::credentials {

class TokenCache : public std::enable_shared_from_this<TokenCache> {
 public:
  struct Token {
    std::shared_ptr<const Secret> value;  // the full header value
    TimePoint expires_at;
  };
  using TokenResult = Result<Token, CredentialError>;
  using Done = std::function<void(TokenResult)>;
  // Starts one fetch and calls its argument exactly once (on any thread).
  using Fetch = std::function<void(Done)>;

  struct Options {
    std::size_t max_entries = 10000;  // expired entries are purged beyond this
    // Also refresh on a timer at the refresh point, if the token was used
    // since it was fetched (an idle key is left to lapse).
    bool proactive_refresh = false;
    std::function<double()> random01;  // jitter source in [0,1); default: a PRNG
  };

  static std::shared_ptr<TokenCache> create(const Clock& clock, Scheduler& scheduler, Options options);

  // Answers `done` from the cache when the token for `key` is valid now,
  // starting a background refresh past its refresh point; otherwise joins
  // (or starts, with `fetch`) the one in-flight fetch for `key`.
  void get(const std::string& key, const Fetch& fetch, Done done);
  // Drops the token for `key` (only if it is `rejected`, when given).
  void invalidate(const std::string& key, const Secret* rejected = nullptr);
  // Drops every token whose key starts with `prefix` ("" drops all). Fetches
  // in flight still answer their waiters but their result is not cached.
  void drop_prefix(const std::string& prefix);

  std::uint64_t refreshes() const { return refreshes_; }
  std::uint64_t failures() const { return failures_; }
  std::uint64_t hits() const { return hits_; }

  // The moment a token fetched at `start` and expiring at `expires` becomes
  // due for refresh: start + (expires - start) * 2/3 * (1 + 0.2 * (r - 0.5)).
  static TimePoint refresh_point(TimePoint start, TimePoint expires, double r);

 private:
  struct Flight {
    std::vector<Done> waiters;
    TimePoint started;
  };
  struct Entry {
    std::optional<Token> token;
    TimePoint refresh_at;
    std::shared_ptr<Flight> flight;
    std::uint64_t uses_since_fetch = 0;
  };

  TokenCache(const Clock& clock, Scheduler& scheduler, Options options);
  // Under the lock: registers a new flight for `e`. The caller runs the
  // returned action after unlocking.
  std::function<void()> start_flight_locked(const std::string& key, Entry& e, const Fetch& fetch);
  void complete(const std::string& key, const std::shared_ptr<Flight>& flight, const Fetch& fetch,
                TokenResult result);
  void on_timer(const std::string& key, const std::shared_ptr<const Secret>& token, const Fetch& fetch);
  void purge_locked(TimePoint now);
  double jitter();

  const Clock& clock_;
  Scheduler& scheduler_;
  const Options options_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::atomic<std::uint64_t> refreshes_{0}, failures_{0}, hits_{0};
};

}  // namespace portcullis::credentials
