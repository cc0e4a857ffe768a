#include "credentials/embedded_vault.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "credentials/vault_key.h"
#include "tests/credentials/test_util.h"

namespace portcullis::credentials {
namespace {

using testing::read_all;
using testing::TempDir;
using testing::write_all;
using Code = VaultError::Code;

struct Fixture {
  TempDir dir;
  std::string file = dir.path("portcullis.vault");
  Secret kek = generate_vault_key();

  std::unique_ptr<EmbeddedVault> create() {
    auto v = EmbeddedVault::create(file, kek.clone());
    REQUIRE(v.ok());
    return std::move(v.value());
  }
  VaultResult<std::unique_ptr<EmbeddedVault>> reopen() { return EmbeddedVault::open(file, kek.clone()); }
};

TEST_CASE("secrets put into the vault read back after reopening") {
  Fixture f;
  auto v = f.create();
  CHECK(*v->put("crm-api-key", Secret("k-123")) == 1);
  CHECK(*v->put("other", Secret(std::string("bin\0ary", 7))) == 1);
  CHECK(v->get("crm-api-key")->reveal() == "k-123");
  auto r = f.reopen();
  REQUIRE(r.ok());
  CHECK((*r)->get("crm-api-key")->reveal() == "k-123");
  CHECK((*r)->get("other")->reveal() == std::string("bin\0ary", 7));
}

TEST_CASE("the vault file never contains a secret in clear") {
  Fixture f;
  auto v = f.create();
  REQUIRE(v->put("a", Secret("super-secret-value-xyz")));
  CHECK(read_all(f.file).find("super-secret-value-xyz") == std::string::npos);
}

TEST_CASE("the vault file is created with mode 0600") {
  Fixture f;
  auto v = f.create();
  REQUIRE(v->put("a", Secret("x")));
  struct stat st {};
  REQUIRE(::stat(f.file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("creating a vault over an existing file is refused") {
  Fixture f;
  f.create();
  auto again = EmbeddedVault::create(f.file, f.kek.clone());
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == Code::kExists);
}

TEST_CASE("each put of a name bumps its version and list shows names versions and dates only") {
  Fixture f;
  EmbeddedVaultOptions opt;
  opt.now = [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)); };
  auto v = EmbeddedVault::create(f.file, f.kek.clone(), opt);
  REQUIRE(v.ok());
  REQUIRE((*v)->put("b", Secret("1")));
  REQUIRE((*v)->put("a", Secret("2")));
  CHECK(*(*v)->put("b", Secret("3")) == 2);
  auto list = (*v)->list();
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].name == "a");
  CHECK((*list)[0].version == 1);
  CHECK((*list)[1].name == "b");
  CHECK((*list)[1].version == 2);
  CHECK((*list)[1].created == std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)));
  CHECK((*v)->get("b")->reveal() == "3");
}

TEST_CASE("a removed entry is gone and a later put continues its version sequence") {
  Fixture f;
  auto v = f.create();
  REQUIRE(v->put("a", Secret("1")));
  REQUIRE(v->put("a", Secret("2")));
  REQUIRE(v->remove("a"));
  auto gone = v->get("a");
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == Code::kNotFound);
  CHECK(v->list()->empty());
  CHECK(v->remove("a").error().code == Code::kNotFound);
  CHECK(*v->put("a", Secret("3")) == 3);
  CHECK(f.reopen().value()->get("a")->reveal() == "3");
}

TEST_CASE("a missing entry gives an error naming it") {
  Fixture f;
  auto v = f.create();
  auto r = v->get("nope");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::kNotFound);
  CHECK(r.error().message.find("'nope'") != std::string::npos);
}

TEST_CASE("invalid names and empty secrets are refused") {
  Fixture f;
  auto v = f.create();
  CHECK(v->put("", Secret("x")).error().code == Code::kInvalid);
  CHECK(v->put("a/b", Secret("x")).error().code == Code::kInvalid);
  CHECK(v->put("-a", Secret("x")).error().code == Code::kInvalid);
  CHECK(v->put("a", Secret("")).error().code == Code::kInvalid);
}

TEST_CASE("opening with the wrong key fails with a clear wrong-key error") {
  Fixture f;
  f.create()->put("a", Secret("x")).ok();
  auto r = EmbeddedVault::open(f.file, generate_vault_key());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::kWrongKey);
  CHECK(r.error().message.find("wrong vault key") != std::string::npos);
  CHECK(r.error().message.find(vault_key_id(f.kek)) != std::string::npos);
}

TEST_CASE("flipping any byte of the vault file is detected") {
  Fixture f;
  {
    auto v = f.create();
    REQUIRE(v->put("alpha", Secret("first-secret")));
    REQUIRE(v->put("beta", Secret("second-secret")));
    REQUIRE(v->remove("beta"));
    REQUIRE(v->put("gamma", Secret("third")));
  }
  const std::string original = read_all(f.file);
  int undetected = 0;
  for (std::size_t i = 0; i < original.size(); ++i) {
    std::string t = original;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    write_all(f.file, t);
    auto r = f.reopen();
    if (!r.ok()) continue;
    bool detected = false;
    for (const char* name : {"alpha", "gamma"}) {
      auto s = (*r)->get(name);
      if (!s.ok()) detected = true;
    }
    if (!detected) {
      ++undetected;
      MESSAGE("undetected flip at offset " << i);
    }
  }
  CHECK(undetected == 0);
}

TEST_CASE("a tampered ciphertext fails authentication without revealing anything") {
  Fixture f;
  REQUIRE(f.create()->put("a", Secret("value-1")));
  auto doc = nlohmann::json::parse(read_all(f.file));
  std::string data = doc["entries"][0]["data"];
  data[20] = data[20] == 'A' ? 'B' : 'A';
  doc["entries"][0]["data"] = data;
  write_all(f.file, doc.dump());
  auto v = f.reopen();
  REQUIRE(v.ok());
  auto r = (*v)->get("a");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::kCorrupt);
  CHECK(r.error().message.find("value-1") == std::string::npos);
}

TEST_CASE("ciphertexts swapped between two entries are detected through the associated data") {
  Fixture f;
  {
    auto v = f.create();
    REQUIRE(v->put("a", Secret("secret-a")));
    REQUIRE(v->put("b", Secret("secret-b")));
  }
  auto doc = nlohmann::json::parse(read_all(f.file));
  std::swap(doc["entries"][0]["key"], doc["entries"][1]["key"]);
  std::swap(doc["entries"][0]["data"], doc["entries"][1]["data"]);
  write_all(f.file, doc.dump());
  auto v = f.reopen();
  REQUIRE(v.ok());  // the index (names, versions) is intact
  CHECK((*v)->get("a").error().code == Code::kCorrupt);
  CHECK((*v)->get("b").error().code == Code::kCorrupt);
}

TEST_CASE("an entry rolled back to an older version's ciphertext is detected") {
  Fixture f;
  auto v = f.create();
  REQUIRE(v->put("a", Secret("old")));
  auto v1 = nlohmann::json::parse(read_all(f.file));
  REQUIRE(v->put("a", Secret("new")));
  auto doc = nlohmann::json::parse(read_all(f.file));
  SUBCASE("ciphertext only: the version in the associated data differs") {
    doc["entries"][0]["key"] = v1["entries"][0]["key"];
    doc["entries"][0]["data"] = v1["entries"][0]["data"];
    write_all(f.file, doc.dump());
    auto r = f.reopen();
    REQUIRE(r.ok());
    CHECK((*r)->get("a").error().code == Code::kCorrupt);
  }
  SUBCASE("the whole entry including its version: the index MAC differs") {
    doc["entries"][0] = v1["entries"][0];
    write_all(f.file, doc.dump());
    auto r = f.reopen();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::kCorrupt);
  }
}

TEST_CASE("an entry removed from the file by hand is detected") {
  Fixture f;
  {
    auto v = f.create();
    REQUIRE(v->put("a", Secret("1")));
    REQUIRE(v->put("b", Secret("2")));
  }
  auto doc = nlohmann::json::parse(read_all(f.file));
  doc["entries"].erase(1);
  write_all(f.file, doc.dump());
  auto r = f.reopen();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::kCorrupt);
}

TEST_CASE("a vault file readable by others is refused") {
  Fixture f;
  f.create();
  ::chmod(f.file.c_str(), 0644);
  auto r = f.reopen();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::kPermissions);
  CHECK(r.error().message.find("0644") != std::string::npos);
}

TEST_CASE("a failure before the rename leaves the old file intact and readable") {
  Fixture f;
  REQUIRE(f.create()->put("a", Secret("before")));
  const std::string before = read_all(f.file);
  for (const char* step : {"temp-written", "before-rename"}) {
    CAPTURE(step);
    EmbeddedVaultOptions opt;
    opt.fault = [step](std::string_view s) -> Status {
      if (s == step) return Err("simulated crash");
      return {};
    };
    auto v = EmbeddedVault::open(f.file, f.kek.clone(), opt);
    REQUIRE(v.ok());
    auto put = (*v)->put("a", Secret("after"));
    REQUIRE_FALSE(put.ok());
    CHECK(put.error().code == Code::kIo);
    CHECK(read_all(f.file) == before);
    CHECK(f.reopen().value()->get("a")->reveal() == "before");
    // No temp file is left behind by a failed write.
    int temps = 0;
    for (auto& e : std::filesystem::directory_iterator(f.dir.dir()))
      if (e.path().filename().string().find(".tmp-") != std::string::npos) ++temps;
    CHECK(temps == 0);
  }
}

TEST_CASE("a temp file left by a crash is ignored and later writes succeed") {
  Fixture f;
  REQUIRE(f.create()->put("a", Secret("kept")));
  write_all(f.file + ".tmp-AbC123", "{\"half-writ");
  auto v = f.reopen();
  REQUIRE(v.ok());
  CHECK((*v)->get("a")->reveal() == "kept");
  REQUIRE((*v)->put("b", Secret("new")));
  CHECK(f.reopen().value()->get("b")->reveal() == "new");
}

TEST_CASE("writes through two handles on the same file do not lose each other") {
  Fixture f;
  f.create();
  auto v1 = f.reopen();
  auto v2 = f.reopen();
  REQUIRE((*v1)->put("one", Secret("1")));
  REQUIRE((*v2)->put("two", Secret("2")));  // re-reads the file under the lock first
  auto r = f.reopen();
  CHECK((*r)->get("one")->reveal() == "1");
  CHECK((*r)->get("two")->reveal() == "2");
}

TEST_CASE("rotate_key rewraps data keys: the old key no longer opens, the new one does, secrets intact") {
  Fixture f;
  auto v = f.create();
  REQUIRE(v->put("a", Secret("secret-a")));
  REQUIRE(v->put("b", Secret("secret-b")));
  REQUIRE(v->remove("b"));
  REQUIRE(v->put("c", Secret("secret-c")));
  auto before = nlohmann::json::parse(read_all(f.file));
  Secret new_kek = generate_vault_key();
  REQUIRE(v->rotate_key(new_kek.clone()));
  CHECK(v->key_id() == vault_key_id(new_kek));
  CHECK(v->get("a")->reveal() == "secret-a");

  auto old = EmbeddedVault::open(f.file, f.kek.clone());
  REQUIRE_FALSE(old.ok());
  CHECK(old.error().code == Code::kWrongKey);
  auto r = EmbeddedVault::open(f.file, new_kek.clone());
  REQUIRE(r.ok());
  CHECK((*r)->get("a")->reveal() == "secret-a");
  CHECK((*r)->get("c")->reveal() == "secret-c");
  CHECK((*r)->get("b").error().code == Code::kNotFound);
  CHECK(*(*r)->put("b", Secret("x")) == 2);  // tombstone kept across rotation

  // Secrets were not re-encrypted: only the wrapped data keys changed.
  auto after = nlohmann::json::parse(read_all(f.file));
  CHECK(after["entries"][0]["data"] == before["entries"][0]["data"]);
  CHECK(after["entries"][0]["key"] != before["entries"][0]["key"]);
}

}  // namespace
}  // namespace portcullis::credentials
