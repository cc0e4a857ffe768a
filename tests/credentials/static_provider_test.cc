#include "credentials/static_provider.h"

#include <doctest/doctest.h>

#include "credentials/embedded_vault.h"
#include "credentials/vault_key.h"
#include "tests/credentials/test_util.h"

namespace portcullis::credentials {
namespace {

config::ProviderConfig static_config(std::string header) {
  config::ProviderConfig c;
  c.name = "crm-static";
  c.kind = "static";
  c.secret = {config::SecretRef::Kind::kVault, "crm-api-key"};
  c.header = std::move(header);
  return c;
}

struct Env {
  testing::TempDir dir;
  std::unique_ptr<EmbeddedVault> vault = EmbeddedVault::create(dir.path("v"), generate_vault_key()).value();
  Credential get(const config::ProviderConfig& cfg) {
    auto p = StaticProvider::create(cfg, SecretResolver(vault.get()));
    REQUIRE(p.ok());
    Credential out;
    (*p)->get({"bot", "", "", {}}, [&](CredentialResult r) { out = r.value(); });
    return out;
  }
};

TEST_CASE("the raw key is injected into the configured header") {
  Env env;
  REQUIRE(env.vault->put("crm-api-key", Secret("k-123")));
  auto c = env.get(static_config("X-API-Key"));
  CHECK(c.header == "X-API-Key");
  CHECK(c.value->reveal() == "k-123");
  CHECK(c.kind == Credential::Kind::kStatic);
  CHECK(c.expires_at == TimePoint::max());
}

TEST_CASE("for the Authorization header a value without a scheme gets Bearer") {
  Env env;
  REQUIRE(env.vault->put("crm-api-key", Secret("k-123")));
  CHECK(env.get(static_config("Authorization")).value->reveal() == "Bearer k-123");
  CHECK(env.get(static_config("authorization")).value->reveal() == "Bearer k-123");
  REQUIRE(env.vault->put("crm-api-key", Secret("Basic dXNlcjpwYXNz")));
  CHECK(env.get(static_config("Authorization")).value->reveal() == "Basic dXNlcjpwYXNz");
}

TEST_CASE("a missing vault entry fails creation naming the provider and the entry") {
  Env env;
  auto p = StaticProvider::create(static_config("X-API-Key"), SecretResolver(env.vault.get()));
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == CredentialError::Code::kConfig);
  CHECK(p.error().message.find("crm-static") != std::string::npos);
  CHECK(p.error().message.find("crm-api-key") != std::string::npos);
}

TEST_CASE("rotate re-reads the secret through the resolver") {
  Env env;
  REQUIRE(env.vault->put("crm-api-key", Secret("k-1")));
  auto p = StaticProvider::create(static_config("X-API-Key"), SecretResolver(env.vault.get()));
  REQUIRE(env.vault->put("crm-api-key", Secret("k-2")));
  REQUIRE((*p)->rotate());
  std::string got;
  (*p)->get({"bot", "", "", {}}, [&](CredentialResult r) { got = std::string(r->value->reveal()); });
  CHECK(got == "k-2");
}

}  // namespace
}  // namespace portcullis::credentials
