#include "credentials/secret_resolver.h"

#include <doctest/doctest.h>

#include "credentials/embedded_vault.h"
#include "credentials/vault_key.h"
#include "tests/credentials/test_util.h"

namespace portcullis::credentials {
namespace {

using Kind = config::SecretRef::Kind;

TEST_CASE("a literal resolves to itself and a vault reference to the entry") {
  testing::TempDir dir;
  auto v = EmbeddedVault::create(dir.path("v"), generate_vault_key());
  REQUIRE(v.ok());
  REQUIRE((*v)->put("crm-api-key", Secret("k-1")));
  SecretResolver r(v->get());
  CHECK(r.resolve({Kind::kLiteral, "lit"}, "x")->reveal() == "lit");
  CHECK(r.resolve({Kind::kVault, "crm-api-key"}, "x")->reveal() == "k-1");
}

TEST_CASE("a missing vault entry gives an error naming the config key and the entry") {
  testing::TempDir dir;
  auto v = EmbeddedVault::create(dir.path("v"), generate_vault_key());
  SecretResolver r(v->get());
  auto s = r.resolve({Kind::kVault, "crm-client-secret"}, "credentials.providers[crm-oauth].client_secret");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == VaultError::Code::kNotFound);
  CHECK(s.error().message.find("credentials.providers[crm-oauth].client_secret") != std::string::npos);
  CHECK(s.error().message.find("'crm-client-secret'") != std::string::npos);
}

TEST_CASE("a vault reference without a configured vault is a clear error") {
  SecretResolver r(nullptr);
  auto s = r.resolve({Kind::kVault, "k"}, "server.session_key");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find("no credentials.vault") != std::string::npos);
  CHECK(r.resolve({}, "server.session_key").error().code == VaultError::Code::kNotFound);
}

}  // namespace
}  // namespace portcullis::credentials
