#include "credentials/vault_command.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>
#include <sys/stat.h>

#include "credentials/embedded_vault.h"
#include "credentials/signing_key.h"
#include "credentials/vault_key.h"
#include "tests/credentials/test_util.h"

namespace portcullis::credentials {
namespace {

using testing::TempDir;

struct Cli {
  TempDir dir;
  config::Config cfg;
  std::string out, err;
  Cli() {
    ::unsetenv(kVaultKeyEnv);
    cfg.credentials.vault = config::VaultConfig{dir.path("portcullis.vault"), dir.path("vault.key")};
  }
  ~Cli() { ::unsetenv(kVaultKeyEnv); }
  int run(std::vector<std::string> args, const std::string& stdin_text = "") {
    std::istringstream in(stdin_text);
    std::ostringstream o, e;
    int rc = vault_command(args, cfg, in, o, e);
    out = o.str();
    err = e.str();
    return rc;
  }
  std::unique_ptr<EmbeddedVault> open() {
    auto key = load_vault_key(*cfg.credentials.vault);
    REQUIRE(key.ok());
    auto v = EmbeddedVault::open(cfg.credentials.vault->file, std::move(key.value()));
    REQUIRE(v.ok());
    return std::move(v.value());
  }
};

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

TEST_CASE("init creates the key file and the vault file with mode 0600") {
  Cli c;
  CHECK(c.run({"init"}) == 0);
  CHECK(mode_of(c.dir.path("vault.key")) == 0600);
  CHECK(mode_of(c.dir.path("portcullis.vault")) == 0600);
  CHECK(c.run({"init"}) == 0);  // idempotent
  CHECK(c.out.find("already initialized") != std::string::npos);
}

TEST_CASE("init refuses to make a new key for an existing vault whose key is missing") {
  Cli c;
  REQUIRE(c.run({"init"}) == 0);
  ::unlink(c.dir.path("vault.key").c_str());
  CHECK(c.run({"init"}) == 1);
  CHECK(c.err.find("refusing") != std::string::npos);
}

TEST_CASE("init with the key in the environment creates no key file") {
  Cli c;
  ::setenv(kVaultKeyEnv, std::string(64, 'd').c_str(), 1);
  CHECK(c.run({"vault", "init", "--config", "gw.yaml"}) == 0);
  struct stat st {};
  CHECK(::stat(c.dir.path("vault.key").c_str(), &st) != 0);
  CHECK(c.run({"put", "a"}, "v") == 0);
}

TEST_CASE("put reads stdin, strips one trailing newline, and never prints the secret") {
  Cli c;
  REQUIRE(c.run({"init"}) == 0);
  CHECK(c.run({"put", "crm-api-key"}, "s3cr3t-value\n") == 0);
  CHECK(c.out == "stored crm-api-key version 1\n");
  CHECK(c.open()->get("crm-api-key")->reveal() == "s3cr3t-value");
  CHECK(c.run({"put", "crm-api-key"}, "two\n\n") == 0);
  CHECK(c.open()->get("crm-api-key")->reveal() == "two\n");
  CHECK(c.run({"put", "empty"}, "\n") == 1);
}

TEST_CASE("list shows names, versions and dates but no values") {
  Cli c;
  REQUIRE(c.run({"init"}) == 0);
  REQUIRE(c.run({"put", "alpha"}, "value-alpha") == 0);
  REQUIRE(c.run({"put", "alpha"}, "value-alpha-2") == 0);
  REQUIRE(c.run({"put", "beta"}, "value-beta") == 0);
  CHECK(c.run({"list"}) == 0);
  CHECK(c.out.find("NAME") == 0);
  CHECK(c.out.find("alpha  2") != std::string::npos);
  CHECK(c.out.find("beta   1") != std::string::npos);
  CHECK(c.out.find("Z\n") != std::string::npos);
  CHECK(c.out.find("value-") == std::string::npos);
}

TEST_CASE("delete removes an entry and fails for a missing one") {
  Cli c;
  REQUIRE(c.run({"init"}) == 0);
  REQUIRE(c.run({"put", "a"}, "x") == 0);
  CHECK(c.run({"delete", "a"}) == 0);
  CHECK(c.run({"delete", "a"}) == 1);
  CHECK(c.err.find("'a' not found") != std::string::npos);
}

TEST_CASE("rotate-key writes a new key file, keeps the old one as .old, and secrets stay readable") {
  Cli c;
  REQUIRE(c.run({"init"}) == 0);
  REQUIRE(c.run({"put", "a"}, "secret-a") == 0);
  auto old_key = read_vault_key_file(c.dir.path("vault.key"));
  REQUIRE(old_key.ok());
  CHECK(c.run({"rotate-key"}) == 0);
  CHECK(c.out.find(".old") != std::string::npos);
  CHECK(mode_of(c.dir.path("vault.key")) == 0600);
  auto old_copy = read_vault_key_file(c.dir.path("vault.key.old"));
  REQUIRE(old_copy.ok());
  CHECK(old_copy->equals(*old_key));
  CHECK(c.open()->get("a")->reveal() == "secret-a");
  auto with_old = EmbeddedVault::open(c.dir.path("portcullis.vault"), old_key->clone());
  CHECK(with_old.error().code == VaultError::Code::kWrongKey);
}

TEST_CASE("rotate-key finishes a rotation interrupted after the vault was rewrapped") {
  Cli c;
  REQUIRE(c.run({"init"}) == 0);
  REQUIRE(c.run({"put", "a"}, "secret-a") == 0);
  // Simulate a crash after step 2: vault sealed under .new, key files not yet renamed.
  Secret next = generate_vault_key();
  REQUIRE(write_vault_key_file(c.dir.path("vault.key.new"), next));
  REQUIRE(c.open()->rotate_key(next.clone()));
  CHECK(c.run({"list"}) == 1);
  CHECK(c.err.find("rotate-key was interrupted") != std::string::npos);
  CHECK(c.run({"rotate-key"}) == 0);
  CHECK(c.out.find("finished an interrupted rotate-key") != std::string::npos);
  CHECK(c.open()->get("a")->reveal() == "secret-a");
}

TEST_CASE("rotate-key refuses when the key comes from the environment") {
  Cli c;
  ::setenv(kVaultKeyEnv, std::string(64, 'e').c_str(), 1);
  REQUIRE(c.run({"init"}) == 0);
  CHECK(c.run({"rotate-key"}) == 1);
  CHECK(c.err.find(kVaultKeyEnv) != std::string::npos);
}

TEST_CASE("generate stores signing keys and random keys and prints only public parts") {
  Cli c;
  REQUIRE(c.run({"init"}) == 0);
  CHECK(c.run({"generate", "audit-signing-key", "--kind", "ed25519"}) == 0);
  CHECK(c.out.find("\"kty\":\"OKP\"") != std::string::npos);
  CHECK(c.out.find("PRIVATE") == std::string::npos);
  auto pem = c.open()->get("audit-signing-key");
  REQUIRE(pem.ok());
  CHECK(SigningKey::from_pem(*pem).ok());
  CHECK(c.run({"generate", "audit-signing-key", "--kind", "ed25519"}) == 1);  // exists
  CHECK(c.run({"generate", "audit-signing-key", "--kind=p256", "--force"}) == 0);
  CHECK(c.run({"generate", "session-key", "--kind", "random32"}) == 0);
  auto sk = c.open()->get("session-key");
  REQUIRE(sk.ok());
  CHECK(sk->size() == 64);
  CHECK(c.out.find(sk->reveal()) == std::string::npos);
  CHECK(c.run({"generate", "x", "--kind", "rsa"}) == 2);
}

TEST_CASE("usage errors exit 2 and a config without a vault exits 1") {
  Cli c;
  CHECK(c.run({}) == 2);
  CHECK(c.run({"put"}) == 2);
  CHECK(c.run({"frobnicate"}) == 2);
  c.cfg.credentials.vault.reset();
  CHECK(c.run({"list"}) == 1);
  CHECK(c.err.find("no credentials.vault") != std::string::npos);
}

TEST_CASE("a wrong key from the environment is reported clearly") {
  Cli c;
  REQUIRE(c.run({"init"}) == 0);
  ::setenv(kVaultKeyEnv, std::string(64, 'f').c_str(), 1);
  CHECK(c.run({"list"}) == 1);
  CHECK(c.err.find("wrong vault key") != std::string::npos);
}

}  // namespace
}  // namespace portcullis::credentials
