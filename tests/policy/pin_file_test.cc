#include "policy/pin_file.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/common/temp_files.h"

using namespace portcullis::policy;
using portcullis::testing::read_all;
using portcullis::testing::TempDir;
using portcullis::testing::write_all;

namespace {

nlohmann::json tool(const char* name, const char* description) {
  return {{"name", name}, {"description", description}, {"inputSchema", {{"type", "object"}}}};
}

// Waits for the writer thread (bounded; a failure shows as a failed CHECK).
bool wait_for(const std::function<bool()>& done) {
  for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

}  // namespace

TEST_CASE("a missing pins file is an empty set, and pins survive a restart") {
  TempDir dir;
  const std::string path = dir.path("pins.json");
  std::string v1 = ToolCatalog::fingerprint(tool("read_record", "v1"));
  {
    ToolCatalog catalog;
    std::atomic<int> saves{0};
    auto pins = PinFile::open(path, catalog, [&](const portcullis::Status& s) {
      CHECK(s.ok());
      ++saves;
    });
    REQUIRE(pins.ok());
    CHECK(catalog.all().empty());
    catalog.observe("crm", tool("read_record", "v1"));
    pins.value()->changed();
    CHECK(wait_for([&] { return saves.load() >= 1; }));
  }
  ToolCatalog restarted;
  auto pins = PinFile::open(path, restarted);
  REQUIRE(pins.ok());
  auto info = restarted.find("crm", "read_record");
  REQUIRE(info);
  CHECK(info->pinned_fingerprint == v1);
  // The upstream changed the tool while the gateway was down: held, not re-pinned.
  CHECK(restarted.observe("crm", tool("read_record", "v2")) == ToolCatalog::Observation::kChanged);
  CHECK(restarted.find("crm", "read_record")->held());
}

TEST_CASE("save_now is durable at once and the file is private") {
  TempDir dir;
  const std::string path = dir.path("pins.json");
  ToolCatalog catalog;
  auto pins = PinFile::open(path, catalog);
  REQUIRE(pins.ok());
  std::string fp(64, 'a');
  catalog.accept("crm", "delete_record", fp);
  REQUIRE(pins.value()->save_now().ok());
  auto saved = nlohmann::json::parse(read_all(path));
  CHECK(saved["pins"][0]["fingerprint"] == fp);
  CHECK(saved["pins"][0]["tool"] == "delete_record");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("the destructor writes pending changes") {
  TempDir dir;
  const std::string path = dir.path("pins.json");
  ToolCatalog catalog;
  {
    auto pins = PinFile::open(path, catalog);
    REQUIRE(pins.ok());
    for (int i = 0; i < 20; ++i) {
      catalog.observe("crm", tool(std::string("t").append(std::to_string(i)).c_str(), "d"));
      pins.value()->changed();
    }
  }
  CHECK(nlohmann::json::parse(read_all(path))["pins"].size() == 20);
}

TEST_CASE("a corrupt or unreadable pins file refuses to start") {
  TempDir dir;
  ToolCatalog catalog;
  SUBCASE("not JSON") {
    write_all(dir.path("pins.json"), "{\"version\": 1, \"pins\": [");
    auto pins = PinFile::open(dir.path("pins.json"), catalog);
    REQUIRE_FALSE(pins.ok());
    CHECK(pins.error().message.find("not valid JSON") != std::string::npos);
  }
  SUBCASE("wrong shape") {
    write_all(dir.path("pins.json"), R"({"version": 1, "pins": [{"upstream": "crm", "tool": "x", "fingerprint": "ab"}]})");
    CHECK_FALSE(PinFile::open(dir.path("pins.json"), catalog).ok());
  }
  SUBCASE("a directory in its place") {
    std::filesystem::create_directories(dir.path("pins.json"));
    CHECK_FALSE(PinFile::open(dir.path("pins.json"), catalog).ok());
  }
}

TEST_CASE("a failed background save is reported") {
  TempDir dir;
  ToolCatalog catalog;
  std::atomic<int> failures{0};
  auto pins = PinFile::open(dir.path("missing-dir/pins.json"), catalog, [&](const portcullis::Status& s) {
    if (!s.ok()) ++failures;
  });
  REQUIRE(pins.ok());
  catalog.observe("crm", tool("a", "b"));
  pins.value()->changed();
  CHECK(wait_for([&] { return failures.load() == 1; }));
}
