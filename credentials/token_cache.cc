#include "credentials/token_cache.h"

#include <random>

namespace portcullis::credentials {

std::shared_ptr<TokenCache> TokenCache::create(const Clock& clock, Scheduler& scheduler, Options options) {
  return std::shared_ptr<TokenCache>(new TokenCache(clock, scheduler, std::move(options)));
}

TokenCache::TokenCache(const Clock& clock, Scheduler& scheduler, Options options)
    : clock_(clock), scheduler_(scheduler), options_(std::move(options)) {}

TimePoint TokenCache::refresh_point(TimePoint start, TimePoint expires, double r) {
  if (expires <= start) return start;
  auto life = expires - start;
  double factor = (2.0 / 3.0) * (1.0 + 0.2 * (r - 0.5));
  return start + std::chrono::duration_cast<TimePoint::duration>(life * factor);
}

double TokenCache::jitter() {
  if (options_.random01) return options_.random01();
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

void TokenCache::get(const std::string& key, const Fetch& fetch, Done done) {
  std::function<void()> start;
  std::optional<Token> hit;
  {
    std::lock_guard lock(mu_);
    TimePoint now = clock_.now();
    Entry& e = entries_[key];
    if (e.token && now < e.token->expires_at) {
      hit = e.token;
      ++e.uses_since_fetch;
      // Past the refresh point: refresh in the background, keep serving.
      if (now >= e.refresh_at && !e.flight) start = start_flight_locked(key, e, fetch);
    } else {
      e.token.reset();  // expired: never hand it out again
      if (!e.flight) start = start_flight_locked(key, e, fetch);
      e.flight->waiters.push_back(std::move(done));
    }
  }
  if (hit) {
    ++hits_;
    done(std::move(*hit));
  }
  if (start) start();
}

std::function<void()> TokenCache::start_flight_locked(const std::string& key, Entry& e, const Fetch& fetch) {
  auto flight = std::make_shared<Flight>();
  flight->started = clock_.now();
  e.flight = flight;
  // The completion holds the cache alive: waiters must always be answered.
  return [self = shared_from_this(), key, flight, fetch] {
    fetch([self, key, flight, fetch](TokenResult r) { self->complete(key, flight, fetch, std::move(r)); });
  };
}

void TokenCache::complete(const std::string& key, const std::shared_ptr<Flight>& flight, const Fetch& fetch,
                          TokenResult result) {
  std::vector<Done> waiters;
  std::optional<std::pair<std::chrono::milliseconds, std::shared_ptr<const Secret>>> timer;
  {
    std::lock_guard lock(mu_);
    TimePoint now = clock_.now();
    waiters.swap(flight->waiters);
    if (result.ok() && result->expires_at <= now)
      result = Err(CredentialError{CredentialError::Code::kBadResponse, "the token endpoint returned an expired token"});
    auto it = entries_.find(key);
    bool current = it != entries_.end() && it->second.flight == flight;
    if (current) {
      Entry& e = it->second;
      e.flight.reset();
      if (result.ok()) {
        e.token = result.value();
        e.refresh_at = refresh_point(flight->started, result->expires_at, jitter());
        e.uses_since_fetch = 0;
        if (options_.proactive_refresh)
          timer.emplace(std::chrono::duration_cast<std::chrono::milliseconds>(e.refresh_at - now) +
                            std::chrono::milliseconds(1),
                        result->value);
        if (entries_.size() > options_.max_entries) purge_locked(now);
      } else if (!e.token) {
        entries_.erase(it);  // nothing cached and nothing in flight
      }
    }
  }
  if (result.ok())
    ++refreshes_;
  else
    ++failures_;
  if (timer) {
    std::weak_ptr<TokenCache> weak = shared_from_this();
    auto token = timer->second;
    scheduler_.run_after(std::max(timer->first, std::chrono::milliseconds(1)), [weak, key, token, fetch] {
      if (auto self = weak.lock()) self->on_timer(key, token, fetch);
    });
  }
  for (auto& w : waiters) w(result);
}

void TokenCache::on_timer(const std::string& key, const std::shared_ptr<const Secret>& token, const Fetch& fetch) {
  std::function<void()> start;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    // Only the timer of the current token acts, and only for a used key.
    if (!e.token || e.token->value != token || e.flight || e.uses_since_fetch == 0) return;
    start = start_flight_locked(key, e, fetch);
  }
  start();
}

void TokenCache::invalidate(const std::string& key, const Secret* rejected) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.token) return;
  if (rejected && it->second.token->value.get() != rejected) return;
  it->second.token.reset();
  if (!it->second.flight) entries_.erase(it);
}

void TokenCache::drop_prefix(const std::string& prefix) {
  std::lock_guard lock(mu_);
  for (auto it = entries_.lower_bound(prefix); it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
    it = entries_.erase(it);
}

void TokenCache::purge_locked(TimePoint now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.flight && (!it->second.token || it->second.token->expires_at <= now))
      it = entries_.erase(it);
    else
      ++it;
  }
}

}  // namespace portcullis::credentials
