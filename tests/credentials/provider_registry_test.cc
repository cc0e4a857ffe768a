#include "credentials/provider_registry.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "credentials/embedded_vault.h"
#include "credentials/vault_key.h"
#include "tests/credentials/fakes.h"
#include "tests/credentials/jws_verify.h"
#include "tests/credentials/test_util.h"

namespace portcullis::credentials {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Kind = config::SecretRef::Kind;

config::CredentialsConfig all_kinds() {
  config::CredentialsConfig c;
  config::ProviderConfig s;
  s.name = "crm-static";
  s.kind = "static";
  s.secret = {Kind::kVault, "crm-api-key"};
  s.header = "X-API-Key";
  config::ProviderConfig cc;
  cc.name = "crm-oauth";
  cc.kind = "client_credentials";
  cc.token_url = "http://as.test/token";
  cc.client_id = "portcullis";
  cc.client_secret = {Kind::kVault, "crm-client-secret"};
  config::ProviderConfig te = cc;
  te.name = "crm-exchange";
  te.kind = "token_exchange";
  te.audience = "http://crm.test";
  config::ProviderConfig jwt;
  jwt.name = "crm-jwt";
  jwt.kind = "signed_jwt";
  jwt.audience = "http://crm.test";
  jwt.rotate_every = 1h;
  c.providers = {s, cc, te, jwt};
  return c;
}

struct Env {
  testing::TempDir dir;
  std::unique_ptr<EmbeddedVault> vault = EmbeddedVault::create(dir.path("v"), generate_vault_key()).value();
  testing::FakeClock clock;
  testing::FakeScheduler scheduler{clock};
  testing::FakeHttpClient http;
  Env() {
    REQUIRE(vault->put("crm-api-key", Secret("api-key-value")));
    REQUIRE(vault->put("crm-client-secret", Secret("client-secret-value")));
  }
  ProviderEnv env() { return ProviderEnv{http, scheduler, clock, vault.get(), "https://gw.test"}; }
};

TEST_CASE("the registry builds every provider kind from the config and finds them by name") {
  Env e;
  auto reg = ProviderRegistry::create(all_kinds(), e.env());
  REQUIRE(reg.ok());
  for (const char* n : {"crm-static", "crm-oauth", "crm-exchange", "crm-jwt"}) CHECK((*reg)->find(n) != nullptr);
  CHECK((*reg)->find("nope") == nullptr);
  std::string v;
  (*reg)->find("crm-static")->get({"bot", "", "", {}}, [&](CredentialResult r) { v = std::string(r->value->reveal()); });
  CHECK(v == "api-key-value");
}

TEST_CASE("jwks_json publishes the signed_jwt keys and verifies the tokens it signs") {
  Env e;
  auto reg = ProviderRegistry::create(all_kinds(), e.env()).value();
  json jwks = json::parse(reg->jwks_json());
  REQUIRE(jwks["keys"].size() == 1);
  CHECK_FALSE(jwks["keys"][0].contains("d"));
  std::string jwt;
  reg->find("crm-jwt")->get({"bot", "", "", {}}, [&](CredentialResult r) { jwt = std::string(r->value->reveal().substr(7)); });
  auto claims = testing::verify_jws(jwt, jwks);
  REQUIRE(claims);
  CHECK((*claims)["iss"] == "https://gw.test");
}

TEST_CASE("scheduled rotation rotates every rotate_every and keeps rescheduling") {
  Env e;
  auto reg = ProviderRegistry::create(all_kinds(), e.env()).value();
  e.scheduler.advance(1h);
  CHECK(json::parse(reg->jwks_json())["keys"].size() == 2);  // previous key kept for ttl
  e.scheduler.advance(1h);
  auto counters = reg->counters();
  auto it = std::find_if(counters.begin(), counters.end(), [](auto& c) { return c.provider == "crm-jwt"; });
  REQUIRE(it != counters.end());
  CHECK(it->kind == "signed_jwt");
  CHECK(it->stats.rotations == 2);
}

TEST_CASE("timers do nothing once the registry is gone") {
  Env e;
  {
    auto reg = ProviderRegistry::create(all_kinds(), e.env()).value();
  }
  e.scheduler.advance(2h);  // must not crash
  CHECK(e.scheduler.pending() == 0);
}

TEST_CASE("rotate by name reaches the provider and an unknown name is an error") {
  Env e;
  auto reg = ProviderRegistry::create(all_kinds(), e.env()).value();
  CHECK(reg->rotate("crm-jwt"));
  CHECK(json::parse(reg->jwks_json())["keys"].size() == 2);
  auto bad = reg->rotate("nope");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("nope") != std::string::npos);
}

TEST_CASE("drop_agent reaches every provider") {
  Env e;
  auto reg = ProviderRegistry::create(all_kinds(), e.env()).value();
  auto* te = reg->find("crm-exchange");
  te->get({"bot", "alice", "subj", {}}, [](CredentialResult) {});
  e.http.respond_token("x", 300);
  reg->drop_agent("bot");
  te->get({"bot", "alice", "subj", {}}, [](CredentialResult) {});
  CHECK(e.http.count() == 2);
}

TEST_CASE("configuration errors name the provider and never contain a secret") {
  Env e;
  auto cfg = all_kinds();
  cfg.providers[1].client_secret = {Kind::kVault, "missing-secret"};
  auto r = ProviderRegistry::create(cfg, e.env());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("crm-oauth") != std::string::npos);
  CHECK(r.error().message.find("missing-secret") != std::string::npos);
  CHECK(r.error().message.find("client-secret-value") == std::string::npos);

  cfg = all_kinds();
  cfg.providers[0].kind = "magic";
  auto u = ProviderRegistry::create(cfg, e.env());
  REQUIRE_FALSE(u.ok());
  CHECK(u.error().message.find("unknown kind 'magic'") != std::string::npos);

  cfg = all_kinds();
  cfg.providers[1].name = "crm-static";
  CHECK(ProviderRegistry::create(cfg, e.env()).error().message.find("duplicate") != std::string::npos);
}

TEST_CASE("counters report refreshes and failures per provider") {
  Env e;
  auto reg = ProviderRegistry::create(all_kinds(), e.env()).value();
  auto* cc = reg->find("crm-oauth");
  cc->get({"bot", "", "", {}}, [](CredentialResult) {});
  e.http.respond(503, "");
  cc->get({"bot", "", "", {}}, [](CredentialResult) {});
  e.http.respond_token("t", 300);
  for (const auto& c : reg->counters()) {
    if (c.provider != "crm-oauth") continue;
    CHECK(c.kind == "client_credentials");
    CHECK(c.stats.refreshes == 1);
    CHECK(c.stats.failures == 1);
  }
}

}  // namespace
}  // namespace portcullis::credentials
