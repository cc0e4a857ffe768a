#include "admin/file_state_store.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <sys/stat.h>

#include "admin/kill_switches.h"
#include "tests/admin/test_util.h"

namespace portcullis::admin {
namespace {

using testing::TempDir;

std::unique_ptr<FileStateStore> open_store(const std::string& path, FileStateStore::Options o = {}) {
  auto s = FileStateStore::open(path, std::move(o));
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
  return std::move(*s);
}

TEST_CASE("a missing state file opens as an empty store and is created at the first save") {
  TempDir d;
  auto store = open_store(d.path("state"));
  CHECK(store->kill_switches().empty());
  CHECK_FALSE(std::filesystem::exists(d.path("state")));
  KillSwitches ks(*store);
  REQUIRE(ks.engage(KillKind::kAgent, "bot", "r", "ops").ok());
  CHECK(std::filesystem::exists(d.path("state")));
  struct stat st {};
  REQUIRE(::stat(d.path("state").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("kill switches survive a reload of the state file") {
  TempDir d;
  std::string id;
  {
    auto store = open_store(d.path("state"));
    KillSwitches ks(*store);
    auto r = ks.engage(KillKind::kOwner, "alice@example.com", "incident 42", "ops");
    REQUIRE(r.ok());
    id = r->kill_switch.id;
    REQUIRE(ks.engage(KillKind::kAll, "", "", "ops").ok());
  }
  auto store = open_store(d.path("state"));
  auto loaded = store->kill_switches();
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].id == id);
  CHECK(loaded[0].kind == KillKind::kOwner);
  CHECK(loaded[0].target == "alice@example.com");
  CHECK(loaded[0].reason == "incident 42");
  CHECK(loaded[0].created_by == "ops");
  CHECK(loaded[1].kind == KillKind::kAll);

  KillSwitches ks(*store);
  auto p = testing::principal("bot", "alice@example.com");
  CHECK(ks.match(&p, "crm", "t") != nullptr);
}

TEST_CASE("a lifted switch stays lifted after a reload") {
  TempDir d;
  {
    auto store = open_store(d.path("state"));
    KillSwitches ks(*store);
    auto r = ks.engage(KillKind::kAgent, "bot", "", "ops");
    REQUIRE(r.ok());
    REQUIRE(ks.lift(r->kill_switch.id).has_value());
  }
  CHECK(open_store(d.path("state"))->kill_switches().empty());
}

TEST_CASE("a write that fails before the rename leaves the old state and no temp file") {
  TempDir d;
  bool fail = false;
  FileStateStore::Options o;
  o.fault = [&](std::string_view step) -> Status {
    if (fail && step == "temp-written") return Err("simulated crash");
    return {};
  };
  auto store = open_store(d.path("state"), o);
  KillSwitches ks(*store);
  REQUIRE(ks.engage(KillKind::kAgent, "old", "", "ops").ok());
  fail = true;
  auto r = ks.engage(KillKind::kAgent, "new", "", "ops");
  REQUIRE(r.ok());
  CHECK_FALSE(r->persisted);

  auto reopened = open_store(d.path("state"));
  auto loaded = reopened->kill_switches();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].target == "old");
  for (const auto& e : std::filesystem::directory_iterator(d.dir()))
    CHECK(e.path().filename().string() == "state");
}

TEST_CASE("a torn temp file left by a crash is ignored and removed at the next open") {
  TempDir d;
  {
    auto store = open_store(d.path("state"));
    KillSwitches ks(*store);
    REQUIRE(ks.engage(KillKind::kUpstream, "crm", "", "ops").ok());
  }
  std::string good = testing::read_all(d.path("state"));
  // A crash in the middle of the next write: half a document in a temp file.
  testing::write_all(d.path("state.tmp-Ab12Cd"), good.substr(0, good.size() / 2));
  auto store = open_store(d.path("state"));
  auto loaded = store->kill_switches();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].target == "crm");
  CHECK_FALSE(std::filesystem::exists(d.path("state.tmp-Ab12Cd")));
  CHECK(testing::read_all(d.path("state")) == good);
}

TEST_CASE("a corrupt state file is an error, not an empty state") {
  TempDir d;
  testing::write_all(d.path("state"), "{\"version\":1,\"kill_switches\":[{\"id\":\"ks_1\",");
  auto s = FileStateStore::open(d.path("state"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find("state") != std::string::npos);
}

TEST_CASE("a state file with an unknown kill switch kind or version is refused") {
  TempDir d;
  testing::write_all(d.path("a"), R"({"version":1,"kill_switches":[{"id":"ks_1","kind":"planet","target":"x","created_at":"2026-01-01T00:00:00.000Z"}]})");
  CHECK_FALSE(FileStateStore::open(d.path("a")).ok());
  testing::write_all(d.path("b"), R"({"version":2,"kill_switches":[]})");
  CHECK_FALSE(FileStateStore::open(d.path("b")).ok());
}

TEST_CASE("approval records are persisted, bounded, and reloaded") {
  TempDir d;
  FileStateStore::Options o;
  o.max_approval_records = 3;
  {
    auto store = open_store(d.path("state"), o);
    for (int i = 0; i < 5; ++i) {
      ApprovalRecord r;
      r.id = "ap_" + std::to_string(i);
      r.outcome = "approved";
      r.decided_by = "ops";
      r.created = r.decided = std::chrono::system_clock::now();
      REQUIRE(store->record_approval(r).ok());
    }
  }
  auto store = open_store(d.path("state"), o);
  auto recs = store->approval_records();
  REQUIRE(recs.size() == 3);
  CHECK(recs.front().id == "ap_2");
  CHECK(recs.back().id == "ap_4");
  CHECK(recs.back().decided_by == "ops");
}

TEST_CASE("the file store's limit counter is a working in-memory counter") {
  TempDir d;
  auto store = open_store(d.path("state"));
  auto now = std::chrono::system_clock::now();
  auto& c = store->limit_counter();
  CHECK(c.try_acquire("k", 2, std::chrono::seconds(60), now));
  CHECK(c.try_acquire("k", 2, std::chrono::seconds(60), now));
  CHECK_FALSE(c.try_acquire("k", 2, std::chrono::seconds(60), now));
}

}  // namespace
}  // namespace portcullis::admin
