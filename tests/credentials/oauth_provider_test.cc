#include "credentials/oauth_provider.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "common/encoding.h"
#include "credentials/embedded_vault.h"
#include "credentials/vault_key.h"
#include "tests/credentials/fakes.h"
#include "tests/credentials/test_util.h"

namespace portcullis::credentials {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeHttpClient;
using testing::FakeScheduler;
using testing::header_of;
using testing::parse_form;
using Code = CredentialError::Code;

constexpr const char* kClientSecret = "cl13nt-s3cr3t-value";

config::ProviderConfig cc_config() {
  config::ProviderConfig c;
  c.name = "crm-oauth";
  c.kind = "client_credentials";
  c.token_url = "http://as.test/token";
  c.client_id = "portcullis";
  c.client_secret = {config::SecretRef::Kind::kLiteral, kClientSecret};
  c.scope = "crm.read";
  c.resource = "http://crm.test";
  return c;
}

config::ProviderConfig te_config() {
  config::ProviderConfig c = cc_config();
  c.name = "crm-exchange";
  c.kind = "token_exchange";
  c.scope.clear();
  c.resource.clear();
  c.audience = "http://crm.test";
  return c;
}

struct Env {
  FakeClock clock;
  FakeScheduler scheduler{clock};
  FakeHttpClient http;
  double r = 0.5;  // jitter: 0.5 means exactly 2/3
  OAuthProviderDeps deps() {
    return {http, scheduler, clock, [this] { return r; }};
  }
  TimePoint t0 = clock.now();
};

// Collects one get()'s answer.
struct Answer {
  bool called = false;
  std::optional<CredentialResult> result;
  Provider::Callback cb() {
    return [this](CredentialResult r) {
      called = true;
      result.emplace(std::move(r));
    };
  }
  std::string value() const { return std::string(result->value().value->reveal()); }
};

std::unique_ptr<ClientCredentialsProvider> make_cc(Env& env, config::ProviderConfig cfg = cc_config()) {
  auto p = ClientCredentialsProvider::create(cfg, SecretResolver(nullptr), env.deps());
  REQUIRE(p.ok());
  return std::move(p.value());
}

const CallIdentity kAgent{"support-bot", "", "", {}};

TEST_CASE("client_credentials posts the grant with HTTP Basic client auth, scope and resource") {
  Env env;
  auto p = make_cc(env);
  Answer a;
  p->get(kAgent, a.cb());
  REQUIRE(env.http.count() == 1);
  auto req = env.http.request(0);
  CHECK(req.method == "POST");
  CHECK(req.url == "http://as.test/token");
  CHECK(header_of(req, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(header_of(req, "Authorization") == "Basic " + encoding::base64_encode(std::string("portcullis:") + kClientSecret));
  auto form = parse_form(req.body);
  CHECK(form["grant_type"] == "client_credentials");
  CHECK(form["scope"] == "crm.read");
  CHECK(form["resource"] == "http://crm.test");
  CHECK_FALSE(form.count("client_secret"));
  CHECK_FALSE(a.called);
  env.http.respond_token("tok-1", 300);
  REQUIRE(a.called);
  REQUIRE(a.result->ok());
  CHECK(a.value() == "Bearer tok-1");
  CHECK(a.result->value().header == "Authorization");
  CHECK(a.result->value().kind == Credential::Kind::kClientCredentials);
  CHECK(a.result->value().expires_at == env.t0 + 300s);
}

TEST_CASE("100 concurrent gets cause exactly one token request and all get the token") {
  Env env;
  auto p = make_cc(env);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 100; ++i)
    threads.emplace_back([&] {
      p->get(kAgent, [&](CredentialResult r) {
        if (r.ok() && r->value->reveal() == "Bearer tok-1") ++ok;
      });
    });
  for (auto& t : threads) t.join();
  CHECK(env.http.count() == 1);
  env.http.respond_token("tok-1", 300);
  CHECK(ok == 100);
  CHECK(p->stats().refreshes == 1);
}

TEST_CASE("a cached token is reused without a new request until its refresh point") {
  Env env;
  auto p = make_cc(env);
  Answer first;
  p->get(kAgent, first.cb());
  env.http.respond_token("tok-1", 300);
  env.clock.set(env.t0 + 199s);  // 2/3 of 300s is 200s
  Answer second;
  p->get(kAgent, second.cb());
  REQUIRE(second.called);
  CHECK(second.value() == "Bearer tok-1");
  CHECK(env.http.count() == 1);
  CHECK(p->stats().cache_hits == 1);
}

TEST_CASE("past two thirds of its lifetime the token is refreshed in the background while still served") {
  Env env;
  auto p = make_cc(env);
  Answer first;
  p->get(kAgent, first.cb());
  env.http.respond_token("tok-1", 300);
  env.clock.set(env.t0 + 201s);
  Answer during;
  p->get(kAgent, during.cb());
  REQUIRE(during.called);  // not made to wait
  CHECK(during.value() == "Bearer tok-1");
  CHECK(env.http.count() == 2);  // one refresh started
  Answer again;
  p->get(kAgent, again.cb());
  CHECK(env.http.count() == 2);  // still one in flight
  env.http.respond_token("tok-2", 300);
  Answer after;
  p->get(kAgent, after.cb());
  CHECK(after.value() == "Bearer tok-2");
  CHECK(after.result->value().expires_at == env.t0 + 201s + 300s);
}

TEST_CASE("the refresh point has up to ten percent jitter around two thirds") {
  TimePoint s{};
  TimePoint e = s + 300s;
  CHECK(TokenCache::refresh_point(s, e, 0.0) == s + 180s);  // 2/3 * 0.9
  CHECK(TokenCache::refresh_point(s, e, 0.5) == s + 200s);
  auto hi = TokenCache::refresh_point(s, e, 0.999999);
  CHECK(hi > s + 219s);
  CHECK(hi <= s + 220s);  // 2/3 * 1.1
}

TEST_CASE("a timer refreshes a token that is in use before it expires") {
  Env env;
  auto p = make_cc(env);
  Answer first;
  p->get(kAgent, first.cb());
  env.http.respond_token("tok-1", 300);
  Answer use;
  p->get(kAgent, use.cb());  // a use since the fetch
  env.scheduler.advance(201s);
  CHECK(env.http.count() == 2);
  env.http.respond_token("tok-2", 300);
  Answer after;
  p->get(kAgent, after.cb());
  CHECK(after.value() == "Bearer tok-2");
}

TEST_CASE("an unused token is left to lapse instead of being refreshed by the timer") {
  Env env;
  auto p = make_cc(env);
  Answer first;
  p->get(kAgent, first.cb());
  env.http.respond_token("tok-1", 300);
  env.scheduler.advance(250s);
  CHECK(env.http.count() == 1);
}

TEST_CASE("a token is never handed out at or after its expiry: the caller waits for the refresh") {
  Env env;
  auto p = make_cc(env);
  Answer first;
  p->get(kAgent, first.cb());
  env.http.respond_token("tok-1", 300);
  env.clock.set(env.t0 + 250s);
  Answer bg;
  p->get(kAgent, bg.cb());  // starts a refresh; the AS does not answer yet
  CHECK(bg.value() == "Bearer tok-1");
  env.clock.set(env.t0 + 300s);
  Answer late;
  p->get(kAgent, late.cb());
  CHECK_FALSE(late.called);
  CHECK(env.http.count() == 2);  // joined the refresh already in flight
  env.http.respond_token("tok-2", 300);
  REQUIRE(late.called);
  CHECK(late.value() == "Bearer tok-2");
}

TEST_CASE("after invalidate the next get fetches a new token") {
  Env env;
  auto p = make_cc(env);
  Answer first;
  p->get(kAgent, first.cb());
  env.http.respond_token("tok-1", 300);
  Credential rejected = first.result->value();
  p->invalidate(kAgent, &rejected);
  Answer second;
  p->get(kAgent, second.cb());
  CHECK(env.http.count() == 2);
  env.http.respond_token("tok-2", 300);
  CHECK(second.value() == "Bearer tok-2");
  // A late 401 for the old token does not drop the new one.
  p->invalidate(kAgent, &rejected);
  Answer third;
  p->get(kAgent, third.cb());
  CHECK(third.value() == "Bearer tok-2");
  CHECK(env.http.count() == 2);
}

TEST_CASE("rotate drops the cached token") {
  Env env;
  auto p = make_cc(env);
  Answer first;
  p->get(kAgent, first.cb());
  env.http.respond_token("tok-1", 300);
  REQUIRE(p->rotate());
  Answer second;
  p->get(kAgent, second.cb());
  CHECK(env.http.count() == 2);
  CHECK(p->stats().rotations == 1);
}

TEST_CASE("token endpoint failures map to error kinds and never contain the client secret") {
  Env env;
  auto p = make_cc(env);
  auto run = [&](auto respond) {
    Answer a;
    p->get(kAgent, a.cb());
    respond();
    REQUIRE(a.called);
    REQUIRE_FALSE(a.result->ok());
    CHECK(a.result->error().message.find(kClientSecret) == std::string::npos);
    CHECK(a.result->error().message.find("crm-oauth") != std::string::npos);
    return a.result->error();
  };
  auto e = run([&] { env.http.respond(401, R"({"error":"invalid_client","error_description":"bad secret )" +
                                                std::string(kClientSecret) + R"("})"); });
  CHECK(e.code == Code::kRejected);
  CHECK(e.message.find("invalid_client") != std::string::npos);
  CHECK(e.message.find("[redacted]") != std::string::npos);
  CHECK(run([&] { env.http.respond(503, "down"); }).code == Code::kUnavailable);
  CHECK(run([&] { env.http.respond(429, ""); }).code == Code::kUnavailable);
  CHECK(run([&] { env.http.fail("connection refused"); }).code == Code::kUnavailable);
  CHECK(run([&] { env.http.respond(200, "{}"); }).code == Code::kBadResponse);
  CHECK(run([&] { env.http.respond(200, "not json"); }).code == Code::kBadResponse);
  CHECK(run([&] { env.http.respond(200, R"({"access_token":"t","token_type":"DPoP","expires_in":60})"); }).code ==
        Code::kBadResponse);
  CHECK(run([&] { env.http.respond(200, R"({"access_token":"t","token_type":"Bearer","expires_in":0})"); }).code ==
        Code::kBadResponse);
  CHECK(p->stats().failures == 8);
  // Failures are not cached: the next get tries again.
  Answer a;
  p->get(kAgent, a.cb());
  env.http.respond_token("tok-ok", 60);
  CHECK(a.value() == "Bearer tok-ok");
}

TEST_CASE("waiters sharing a failed fetch all get the error") {
  Env env;
  auto p = make_cc(env);
  Answer a, b;
  p->get(kAgent, a.cb());
  p->get(kAgent, b.cb());
  env.http.respond(500, "");
  CHECK(a.result->error().code == Code::kUnavailable);
  CHECK(b.result->error().code == Code::kUnavailable);
}

TEST_CASE("a missing expires_in is taken as a short default lifetime") {
  Env env;
  auto p = make_cc(env);
  Answer a;
  p->get(kAgent, a.cb());
  env.http.respond(200, R"({"access_token":"t","token_type":"bearer"})");
  CHECK(a.result->value().expires_at == env.t0 + 60s);
}

TEST_CASE("a client secret missing from the vault fails creation with an error naming it") {
  testing::TempDir dir;
  auto vault = EmbeddedVault::create(dir.path("v"), generate_vault_key());
  Env env;
  auto cfg = cc_config();
  cfg.client_secret = {config::SecretRef::Kind::kVault, "crm-client-secret"};
  auto p = ClientCredentialsProvider::create(cfg, SecretResolver(vault->get()), env.deps());
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == Code::kConfig);
  CHECK(p.error().message.find("crm-client-secret") != std::string::npos);
  REQUIRE((*vault)->put("crm-client-secret", Secret("from-vault")));
  auto q = ClientCredentialsProvider::create(cfg, SecretResolver(vault->get()), env.deps());
  REQUIRE(q.ok());
  Answer a;
  (*q)->get(kAgent, a.cb());
  CHECK(header_of(env.http.request(0), "Authorization") == "Basic " + encoding::base64_encode("portcullis:from-vault"));
}

// --- token_exchange ---------------------------------------------------------

std::unique_ptr<TokenExchangeProvider> make_te(Env& env) {
  auto p = TokenExchangeProvider::create(te_config(), SecretResolver(nullptr), env.deps());
  REQUIRE(p.ok());
  return std::move(p.value());
}

TEST_CASE("token_exchange sends the RFC 8693 form with the agent's token as subject") {
  Env env;
  auto p = make_te(env);
  Answer a;
  p->get({"support-bot", "alice", "agent.jwt.token", env.t0 + 1h}, a.cb());
  REQUIRE(env.http.count() == 1);
  auto req = env.http.request(0);
  CHECK(req.method == "POST");
  CHECK(header_of(req, "Authorization") == "Basic " + encoding::base64_encode(std::string("portcullis:") + kClientSecret));
  auto form = parse_form(req.body);
  CHECK(form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange");
  CHECK(form["subject_token"] == "agent.jwt.token");
  CHECK(form["subject_token_type"] == "urn:ietf:params:oauth:token-type:access_token");
  CHECK(form["audience"] == "http://crm.test");
  env.http.respond(200, R"({"access_token":"x-1","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":180})");
  CHECK(a.value() == "Bearer x-1");
  CHECK(a.result->value().kind == Credential::Kind::kTokenExchange);
  CHECK(a.result->value().expires_at == env.t0 + 180s);
}

TEST_CASE("an exchanged token is never cached beyond the subject token's expiry") {
  Env env;
  auto p = make_te(env);
  Answer a;
  p->get({"bot", "alice", "subj-1", env.t0 + 60s}, a.cb());
  env.http.respond_token("x-1", 3600);
  CHECK(a.result->value().expires_at == env.t0 + 60s);
  env.clock.set(env.t0 + 30s);
  Answer b;
  p->get({"bot", "alice", "subj-1", env.t0 + 60s}, b.cb());
  CHECK(b.value() == "Bearer x-1");
  CHECK(env.http.count() == 1);
  env.clock.set(env.t0 + 60s);
  Answer c;
  p->get({"bot", "alice", "subj-2", env.t0 + 1h}, c.cb());
  CHECK_FALSE(c.called);
  REQUIRE(env.http.count() == 2);
  CHECK(parse_form(env.http.request(1).body)["subject_token"] == "subj-2");
  env.http.respond_token("x-2", 300);
  CHECK(c.value() == "Bearer x-2");
}

TEST_CASE("exchanged tokens are cached per agent and user") {
  Env env;
  auto p = make_te(env);
  Answer a, b, c, d;
  p->get({"bot", "alice", "s", {}}, a.cb());
  p->get({"bot", "alice", "s", {}}, b.cb());
  p->get({"bot", "bob", "s", {}}, c.cb());
  p->get({"other", "alice", "s", {}}, d.cb());
  CHECK(env.http.count() == 3);
  env.http.respond_token("for-alice", 300);
  env.http.respond_token("for-bob", 300);
  env.http.respond_token("for-other", 300);
  CHECK(a.value() == "Bearer for-alice");
  CHECK(b.value() == "Bearer for-alice");
  CHECK(c.value() == "Bearer for-bob");
  CHECK(d.value() == "Bearer for-other");
}

TEST_CASE("an expired or missing subject token is refused without a request") {
  Env env;
  auto p = make_te(env);
  Answer a, b;
  p->get({"bot", "alice", "s", env.t0 - 1s}, a.cb());
  p->get({"bot", "alice", "", {}}, b.cb());
  CHECK(a.result->error().code == Code::kSubjectExpired);
  CHECK(b.result->error().code == Code::kSubjectExpired);
  CHECK(env.http.count() == 0);
}

TEST_CASE("drop_agent forgets only that agent's exchanged tokens") {
  Env env;
  auto p = make_te(env);
  Answer a, b;
  p->get({"bot", "alice", "s", {}}, a.cb());
  p->get({"bot2", "alice", "s", {}}, b.cb());
  env.http.respond_token("t1", 300);
  env.http.respond_token("t2", 300);
  p->drop_agent("bot");
  Answer a2, b2;
  p->get({"bot", "alice", "s", {}}, a2.cb());
  p->get({"bot2", "alice", "s", {}}, b2.cb());
  CHECK(env.http.count() == 3);
  CHECK(b2.value() == "Bearer t2");
}

TEST_CASE("a fetch in flight when the agent is dropped answers its waiter but is not cached") {
  Env env;
  auto p = make_te(env);
  Answer a;
  p->get({"bot", "alice", "s", {}}, a.cb());
  p->drop_agent("bot");
  env.http.respond_token("t1", 300);
  CHECK(a.value() == "Bearer t1");
  Answer b;
  p->get({"bot", "alice", "s", {}}, b.cb());
  CHECK(env.http.count() == 2);
}

TEST_CASE("token_exchange error messages never contain the subject token") {
  Env env;
  auto p = make_te(env);
  Answer a;
  p->get({"bot", "alice", "very-secret-agent-token", {}}, a.cb());
  env.http.respond(400, R"({"error":"invalid_grant","error_description":"subject very-secret-agent-token expired"})");
  REQUIRE_FALSE(a.result->ok());
  CHECK(a.result->error().code == Code::kRejected);
  CHECK(a.result->error().message.find("very-secret-agent-token") == std::string::npos);
}

TEST_CASE("token_exchange without an audience or resource is a config error") {
  Env env;
  auto cfg = te_config();
  cfg.audience.clear();
  auto p = TokenExchangeProvider::create(cfg, SecretResolver(nullptr), env.deps());
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == Code::kConfig);
}

}  // namespace
}  // namespace portcullis::credentials
