#include "identity/jwks_cache.h"

#include <doctest/doctest.h>

#include "tests/identity/fakes.h"
#include "tests/identity/test_signer.h"

using namespace portcullis::identity;
using namespace portcullis::identity::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kIssuer = "https://as.example";
const std::string kJwks = "https://as.example/jwks";

std::string jwks(std::initializer_list<json> keys) { return json{{"keys", json(keys)}}.dump(); }

struct Fixture {
  FakeClock clock;
  FakeHttp http;
  FakeScheduler scheduler{clock};
  int removed = 0;

  std::shared_ptr<JwksCache> make(std::string uri = kJwks, JwksOptions options = {}) {
    return JwksCache::create(kIssuer, std::move(uri), options, http, scheduler, clock.clock(), [this] { ++removed; });
  }
  void serve(const std::string& body, std::vector<std::pair<std::string, std::string>> headers = {}) {
    http.routes[kJwks] = {200, body, std::move(headers)};
  }
};

bool has_kid(const KeySetPtr& keys, const std::string& kid) {
  if (!keys) return false;
  for (const auto& k : keys->keys)
    if (k.kid == kid) return true;
  return false;
}

}  // namespace

TEST_CASE("keys are fetched from the configured jwks_uri at start") {
  Fixture f;
  f.serve(jwks({public_jwk(rsa_key(), "a")}));
  auto cache = f.make();
  CHECK_FALSE(cache->ready());
  cache->start();
  CHECK(cache->ready());
  CHECK(has_kid(cache->keys(), "a"));
  CHECK(cache->stats().refreshes == 1);
  CHECK(f.http.requests.size() == 1);
}

TEST_CASE("jwks_uri is discovered from the OpenID configuration") {
  Fixture f;
  f.http.routes[kIssuer + "/.well-known/openid-configuration"] = {200, json{{"issuer", kIssuer}, {"jwks_uri", kJwks}}.dump()};
  f.serve(jwks({public_jwk(p256_key(), "e")}));
  auto cache = f.make("");
  cache->start();
  CHECK(has_kid(cache->keys(), "e"));
  CHECK(cache->stats().jwks_uri == kJwks);
}

TEST_CASE("discovery falls back to the RFC 8414 document, with the issuer path after the well-known part") {
  CHECK(discovery_urls("https://as.example/tenant/") ==
        std::vector<std::string>{"https://as.example/tenant/.well-known/openid-configuration",
                                 "https://as.example/.well-known/oauth-authorization-server/tenant"});
  Fixture f;
  f.http.routes[kIssuer + "/.well-known/oauth-authorization-server"] = {200, json{{"issuer", kIssuer}, {"jwks_uri", kJwks}}.dump()};
  f.serve(jwks({public_jwk(p256_key(), "e")}));
  auto cache = f.make("");
  cache->start();
  CHECK(cache->ready());
  CHECK(f.http.count(kIssuer + "/.well-known/openid-configuration") == 1);
}

TEST_CASE("a discovery document naming another issuer is not trusted") {
  Fixture f;
  f.http.routes[kIssuer + "/.well-known/openid-configuration"] = {200, json{{"issuer", "https://evil"}, {"jwks_uri", kJwks}}.dump()};
  f.serve(jwks({public_jwk(p256_key(), "e")}));
  auto cache = f.make("");
  cache->start();
  CHECK_FALSE(cache->ready());
  CHECK(f.http.count(kJwks) == 0);
  CHECK(cache->stats().failures == 1);
}

TEST_CASE("a background refresh picks up a rotated key") {
  Fixture f;
  f.serve(jwks({public_jwk(rsa_key(), "old")}));
  auto cache = f.make();
  cache->start();
  f.serve(jwks({public_jwk(rsa_key(), "old"), public_jwk(rsa_key2(), "new")}));
  f.scheduler.advance(4min);
  CHECK_FALSE(has_kid(cache->keys(), "new"));
  f.scheduler.advance(1min + 1s);
  CHECK(has_kid(cache->keys(), "new"));
  CHECK(cache->stats().refreshes == 2);
  CHECK(f.removed == 0);
}

TEST_CASE("a refresh that drops a key reports the removal") {
  Fixture f;
  f.serve(jwks({public_jwk(rsa_key(), "old")}));
  auto cache = f.make();
  cache->start();
  f.serve(jwks({public_jwk(rsa_key2(), "new")}));
  f.scheduler.advance(5min);
  CHECK(f.removed == 1);
  CHECK_FALSE(has_kid(cache->keys(), "old"));
}

TEST_CASE("Cache-Control max-age sets the refresh interval within bounds") {
  CHECK(cache_control_max_age("public, max-age=120") == std::chrono::seconds(120));
  CHECK(cache_control_max_age("no-store") == std::chrono::seconds(0));
  CHECK_FALSE(cache_control_max_age("public"));
  for (auto [header, first_refresh] : {std::pair{"max-age=120", 120s}, std::pair{"max-age=1", 30s},
                                       std::pair{"max-age=999999", 3600s}}) {
    Fixture f;
    f.serve(jwks({public_jwk(rsa_key(), "a")}), {{"Cache-Control", header}});
    auto cache = f.make();
    cache->start();
    f.scheduler.advance(first_refresh - 1s);
    CHECK(cache->stats().refreshes == 1);
    f.scheduler.advance(1s);
    CHECK_MESSAGE(cache->stats().refreshes == 2, header);
  }
}

TEST_CASE("a failed refresh keeps the old keys and retries with backoff") {
  Fixture f;
  f.serve(jwks({public_jwk(rsa_key(), "a")}));
  auto cache = f.make();
  cache->start();
  f.http.routes[kJwks] = {500, "oops"};
  f.scheduler.advance(5min);
  CHECK(cache->stats().failures == 1);
  CHECK(has_kid(cache->keys(), "a"));
  f.scheduler.advance(1s);
  CHECK(cache->stats().failures == 2);
  f.scheduler.advance(2s);
  CHECK(cache->stats().failures == 3);
  f.http.routes[kJwks].transport_error = true;
  f.scheduler.advance(4s);
  CHECK(cache->stats().failures == 4);
  CHECK(cache->ready());
  f.serve(jwks({public_jwk(rsa_key(), "a"), public_jwk(p256_key(), "b")}));
  f.scheduler.advance(8s);
  CHECK(has_kid(cache->keys(), "b"));
}

TEST_CASE("keys older than max_stale are dropped while fetches keep failing") {
  Fixture f;
  JwksOptions options;
  options.max_stale = 10min;
  f.serve(jwks({public_jwk(rsa_key(), "a")}));
  auto cache = f.make(kJwks, options);
  cache->start();
  f.http.routes[kJwks] = {503, ""};
  f.scheduler.advance(9min);
  CHECK(cache->ready());
  f.scheduler.advance(3min);
  CHECK_FALSE(cache->ready());
}

TEST_CASE("a JWKS with no usable key is a failure, not an empty key set") {
  Fixture f;
  f.serve(jwks({public_jwk(make_rsa(1024), "small")}));
  auto cache = f.make();
  cache->start();
  CHECK_FALSE(cache->ready());
  CHECK(cache->stats().failures == 1);
}

TEST_CASE("unknown-kid refreshes happen at most once per 30 seconds") {
  Fixture f;
  f.serve(jwks({public_jwk(rsa_key(), "a")}));
  auto cache = f.make();
  cache->start();
  for (int i = 0; i < 1000; ++i) cache->request_refresh();
  CHECK(f.http.count(kJwks) == 1);  // the start fetch was under 30 s ago
  f.clock.advance(30s);
  for (int i = 0; i < 1000; ++i) cache->request_refresh();
  CHECK(f.http.count(kJwks) == 2);
  CHECK(cache->stats().unknown_kid_refreshes == 1);
  CHECK(cache->stats().rate_limited == 1999);
}

TEST_CASE("only one fetch is in flight at a time") {
  Fixture f;
  f.http.deferred = true;
  f.serve(jwks({public_jwk(rsa_key(), "a")}));
  auto cache = f.make();
  cache->start();
  f.clock.advance(1min);
  cache->request_refresh();
  CHECK(f.http.requests.size() == 1);
  f.http.flush();
  CHECK(cache->ready());
}

TEST_CASE("callbacks after the cache is destroyed do nothing") {
  Fixture f;
  f.http.deferred = true;
  f.serve(jwks({public_jwk(rsa_key(), "a")}));
  auto cache = f.make();
  cache->start();
  cache.reset();
  f.http.flush();
  f.scheduler.advance(1h);
  CHECK(f.scheduler.tasks.empty());
}

TEST_CASE("a key is selected by kid, or without kid when it is the only one of its type") {
  KeySet set;
  set.keys.push_back(parse_jwk(public_jwk(rsa_key(), "r")).value());
  set.keys.push_back(parse_jwk(public_jwk(p256_key(), "e1")).value());
  const std::string r = "r", missing = "zz";
  CHECK(set.select(&r, Alg::kRS256)->kid == "r");
  CHECK(set.select(&missing, Alg::kRS256) == nullptr);
  CHECK(set.select(nullptr, Alg::kES256)->kid == "e1");
  set.keys.push_back(parse_jwk(public_jwk(p384_key(), "e2")).value());
  CHECK(set.select(nullptr, Alg::kES256) == nullptr);  // two EC keys: ambiguous
}
