#include "credentials/vault_key.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <sys/stat.h>

#include "common/encoding.h"
#include "tests/credentials/test_util.h"

namespace portcullis::credentials {
namespace {

using testing::TempDir;
using testing::write_all;

struct EnvGuard {
  EnvGuard() { ::unsetenv(kVaultKeyEnv); }
  ~EnvGuard() { ::unsetenv(kVaultKeyEnv); }
};

TEST_CASE("a written key file has mode 0600 and reads back as the same key") {
  EnvGuard env;
  TempDir dir;
  Secret key = generate_vault_key();
  REQUIRE(write_vault_key_file(dir.path("k"), key));
  struct stat st {};
  REQUIRE(::stat(dir.path("k").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto back = read_vault_key_file(dir.path("k"));
  REQUIRE(back.ok());
  CHECK(back->equals(key));
}

TEST_CASE("writing a key file never overwrites an existing one") {
  TempDir dir;
  REQUIRE(write_vault_key_file(dir.path("k"), generate_vault_key()));
  auto again = write_vault_key_file(dir.path("k"), generate_vault_key());
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == VaultError::Code::kExists);
}

TEST_CASE("a key file readable by others is refused with a clear error") {
  EnvGuard env;
  TempDir dir;
  std::string hex(64, 'a');
  write_all(dir.path("k"), hex, 0644);
  auto key = read_vault_key_file(dir.path("k"));
  REQUIRE_FALSE(key.ok());
  CHECK(key.error().code == VaultError::Code::kPermissions);
  CHECK(key.error().message.find("0644") != std::string::npos);
  CHECK(key.error().message.find("chmod 600") != std::string::npos);
  CHECK(key.error().message.find(hex) == std::string::npos);
}

TEST_CASE("a key file with mode 0400 is accepted") {
  EnvGuard env;
  TempDir dir;
  write_all(dir.path("k"), std::string(64, 'b') + "\n", 0400);
  CHECK(read_vault_key_file(dir.path("k")).ok());
}

TEST_CASE("a raw 32-byte key file is accepted") {
  TempDir dir;
  write_all(dir.path("k"), std::string(32, '\x07'), 0600);
  auto key = read_vault_key_file(dir.path("k"));
  REQUIRE(key.ok());
  CHECK(key->reveal() == std::string(32, '\x07'));
}

TEST_CASE("a key of the wrong length is refused without echoing it") {
  TempDir dir;
  write_all(dir.path("k"), "deadbeefcafe", 0600);
  auto key = read_vault_key_file(dir.path("k"));
  REQUIRE_FALSE(key.ok());
  CHECK(key.error().code == VaultError::Code::kInvalid);
  CHECK(key.error().message.find("deadbeef") == std::string::npos);
}

TEST_CASE("PORTCULLIS_VAULT_KEY wins over the key file") {
  EnvGuard env;
  TempDir dir;
  write_all(dir.path("k"), std::string(64, 'a'), 0600);
  ::setenv(kVaultKeyEnv, std::string(64, 'c').c_str(), 1);
  auto key = load_vault_key({dir.path("vault"), dir.path("k")});
  REQUIRE(key.ok());
  CHECK(encoding::hex_encode(key->reveal()) == std::string(64, 'c'));
}

TEST_CASE("with neither a key file nor the environment variable the error says what to set") {
  EnvGuard env;
  auto key = load_vault_key({"v", ""});
  REQUIRE_FALSE(key.ok());
  CHECK(key.error().message.find("PORTCULLIS_VAULT_KEY") != std::string::npos);
}

TEST_CASE("key ids are stable, public fingerprints that differ between keys") {
  Secret a = generate_vault_key(), b = generate_vault_key();
  CHECK(vault_key_id(a) == vault_key_id(a));
  CHECK(vault_key_id(a) != vault_key_id(b));
  CHECK(vault_key_id(a).size() == 16);
}

}  // namespace
}  // namespace portcullis::credentials
