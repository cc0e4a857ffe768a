#include "identity/jwks_cache.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/ascii.h"
#include "identity/strict_json.h"

namespace portcullis::identity {
namespace {

using std::chrono::milliseconds;

bool is_http_url(const std::string& s) { return s.rfind("https://", 0) == 0 || s.rfind("http://", 0) == 0; }

}  // namespace

const Jwk* KeySet::select(const std::string* kid, Alg alg) const {
  if (kid != nullptr) {
    for (const auto& k : keys)
      if (k.kid == *kid) return &k;
    return nullptr;
  }
  const Jwk* found = nullptr;
  for (const auto& k : keys) {
    if (k.kty != alg_kty(alg)) continue;
    if (found != nullptr) return nullptr;  // ambiguous without a kid
    found = &k;
  }
  return found;
}

std::vector<std::string> discovery_urls(const std::string& issuer) {
  std::string base = issuer;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::vector<std::string> out{base + "/.well-known/openid-configuration"};
  const auto scheme_end = base.find("://");
  const auto path_start = scheme_end == std::string::npos ? std::string::npos : base.find('/', scheme_end + 3);
  if (path_start == std::string::npos) {
    out.push_back(base + "/.well-known/oauth-authorization-server");
  } else {
    out.push_back(base.substr(0, path_start) + "/.well-known/oauth-authorization-server" + base.substr(path_start));
  }
  return out;
}

std::optional<std::chrono::seconds> cache_control_max_age(std::string_view value) {
  std::string v(value);
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v.find("no-store") != std::string::npos || v.find("no-cache") != std::string::npos)
    return std::chrono::seconds(0);
  const auto pos = v.find("max-age=");
  if (pos == std::string::npos) return std::nullopt;
  std::size_t i = pos + 8;
  if (i < v.size() && v[i] == '"') ++i;
  long long n = 0;
  bool digits = false;
  for (; i < v.size() && ascii::is_digit(v[i]); ++i) {
    digits = true;
    n = std::min<long long>(n * 10 + (v[i] - '0'), 1LL << 40);
  }
  if (!digits) return std::nullopt;
  return std::chrono::seconds(n);
}

std::shared_ptr<JwksCache> JwksCache::create(std::string issuer, std::string jwks_uri, JwksOptions options,
                                             HttpClient& http, Scheduler& scheduler, Clock clock,
                                             KeysRemoved on_removed) {
  return std::make_shared<JwksCache>(std::move(issuer), std::move(jwks_uri), options, http, scheduler,
                                     std::move(clock), std::move(on_removed));
}

JwksCache::JwksCache(std::string issuer, std::string jwks_uri, JwksOptions options, HttpClient& http,
                     Scheduler& scheduler, Clock clock, KeysRemoved on_removed)
    : issuer_(std::move(issuer)),
      configured_uri_(std::move(jwks_uri)),
      options_(options),
      http_(http),
      scheduler_(scheduler),
      clock_(std::move(clock)),
      on_removed_(std::move(on_removed)) {
  stats_.jwks_uri = configured_uri_;
}

void JwksCache::start() { fetch(); }

void JwksCache::request_refresh() {
  const auto now = clock_();
  {
    std::lock_guard lock(mu_);
    if (in_flight_.load() || (last_start_ != decltype(last_start_){} && now - last_start_ < options_.unknown_kid_interval)) {
      ++stats_.rate_limited;
      return;
    }
  }
  if (fetch()) {
    std::lock_guard lock(mu_);
    ++stats_.unknown_kid_refreshes;
  }
}

JwksStats JwksCache::stats() const {
  std::lock_guard lock(mu_);
  JwksStats s = stats_;
  auto k = keys();
  s.keys = k ? k->keys.size() : 0;
  return s;
}

bool JwksCache::fetch() {
  if (in_flight_.exchange(true)) return false;
  std::string uri;
  {
    std::lock_guard lock(mu_);
    last_start_ = clock_();
    uri = configured_uri_.empty() ? discovered_uri_ : configured_uri_;
  }
  if (uri.empty()) discover(0);
  else fetch_jwks(std::move(uri));
  return true;
}

void JwksCache::tick(std::uint64_t seq) {
  {
    std::lock_guard lock(mu_);
    if (seq != tick_seq_) return;  // superseded by a later schedule
  }
  if (!fetch()) schedule(options_.retry_initial);  // one is in flight; its completion reschedules
}

void JwksCache::schedule(milliseconds delay) {
  std::uint64_t seq;
  {
    std::lock_guard lock(mu_);
    seq = ++tick_seq_;
  }
  std::weak_ptr<JwksCache> weak = weak_from_this();
  scheduler_.run_after(delay, [weak, seq] {
    if (auto self = weak.lock()) self->tick(seq);
  });
}

void JwksCache::discover(std::size_t attempt) {
  const auto urls = discovery_urls(issuer_);
  if (attempt >= urls.size()) {
    finish(false, {}, "discovery failed");
    return;
  }
  HttpRequest req;
  req.url = urls[attempt];
  req.headers = {{"Accept", "application/json"}};
  req.timeout = options_.fetch_timeout;
  req.max_response_bytes = options_.max_document_bytes;
  std::weak_ptr<JwksCache> weak = weak_from_this();
  http_.fetch(std::move(req), [weak, attempt](Result<HttpResponse> res) {
    auto self = weak.lock();
    if (!self) return;
    std::string uri;
    if (res.ok() && res->status == 200 && res->body.size() <= self->options_.max_document_bytes) {
      auto doc = parse_strict_json(res->body);
      // RFC 8414 §3.3 / OIDC Discovery §4.3: the document must name the
      // issuer exactly, or it describes someone else.
      const nlohmann::json* iss = doc && doc->is_object() && doc->contains("issuer") ? &(*doc)["issuer"] : nullptr;
      if (iss != nullptr && iss->is_string() && *iss == self->issuer_) {
        auto it = doc->find("jwks_uri");
        if (it != doc->end() && it->is_string() && is_http_url(it->get<std::string>())) uri = it->get<std::string>();
      }
    }
    if (uri.empty()) {
      self->discover(attempt + 1);
      return;
    }
    {
      std::lock_guard lock(self->mu_);
      self->discovered_uri_ = uri;
      self->stats_.jwks_uri = uri;
    }
    self->fetch_jwks(std::move(uri));
  });
}

void JwksCache::fetch_jwks(std::string uri) {
  HttpRequest req;
  req.url = std::move(uri);
  req.headers = {{"Accept", "application/jwk-set+json, application/json"}};
  req.timeout = options_.fetch_timeout;
  req.max_response_bytes = options_.max_document_bytes;
  std::weak_ptr<JwksCache> weak = weak_from_this();
  http_.fetch(std::move(req), [weak](Result<HttpResponse> res) {
    auto self = weak.lock();
    if (!self) return;
    if (!res.ok()) return self->finish(false, {}, "JWKS fetch failed: " + res.error().message);
    if (res->status != 200) return self->finish(false, {}, "JWKS fetch answered HTTP " + std::to_string(res->status));
    if (res->body.size() > self->options_.max_document_bytes) return self->finish(false, {}, "JWKS document too large");
    auto set = parse_jwks(res->body, self->options_.max_keys);
    if (!set.ok()) return self->finish(false, {}, set.error().message);
    if (set->keys.empty()) return self->finish(false, {}, "JWKS has no usable key");
    milliseconds max_age = self->options_.refresh_interval;
    if (auto cc = cache_control_max_age(res->header("Cache-Control"))) max_age = *cc;
    self->install(std::move(*set));
    self->finish(true, max_age, {});
  });
}

void JwksCache::install(JwkSet set) {
  auto next = std::make_shared<KeySet>();
  next->keys = std::move(set.keys);
  next->fetched_at = clock_();
  auto old = keys_.exchange(std::move(next), std::memory_order_acq_rel);
  if (old && on_removed_) {
    auto now = keys();
    std::set<std::string> kids;
    for (const auto& k : now->keys) kids.insert(k.kid);
    bool removed = false;
    for (const auto& k : old->keys) removed = removed || !kids.count(k.kid);
    if (removed) on_removed_();
  }
}

void JwksCache::finish(bool ok, milliseconds max_age, std::string error) {
  milliseconds delay;
  bool dropped = false;
  {
    std::lock_guard lock(mu_);
    if (ok) {
      ++stats_.refreshes;
      consecutive_failures_ = 0;
      delay = std::clamp(max_age, options_.min_refresh, options_.max_refresh);
    } else {
      ++stats_.failures;
      stats_.last_error = std::move(error);
      // A failed jwks_uri may have moved: discover it again next time.
      discovered_uri_.clear();
      const int shift = std::min(consecutive_failures_++, 20);
      delay = std::min(options_.retry_max, milliseconds(options_.retry_initial.count() << shift));
      // Old keys keep working through an outage, but not for ever.
      auto current = keys();
      if (current && clock_() - current->fetched_at > options_.max_stale) {
        keys_.store(nullptr, std::memory_order_release);
        dropped = true;
      }
    }
  }
  if (dropped && on_removed_) on_removed_();
  in_flight_.store(false);
  schedule(delay);
}

}  // namespace portcullis::identity
