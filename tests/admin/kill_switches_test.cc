#include "admin/kill_switches.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "admin/file_state_store.h"
#include "tests/admin/test_util.h"

namespace portcullis::admin {
namespace {

using testing::principal;

struct Fixture {
  MemoryStateStore store;
  KillSwitches ks{store};
  KillSwitch engage(KillKind kind, std::string target) {
    auto r = ks.engage(kind, std::move(target), "test", "ops");
    REQUIRE(r.ok());
    return r->kill_switch;
  }
};

TEST_CASE("nothing matches when no kill switch is engaged") {
  Fixture f;
  auto p = principal("bot", "alice@example.com", "bob", "jti-1", "tid-1");
  CHECK(f.ks.match(&p, "crm", "read_record") == nullptr);
  CHECK(f.ks.match(nullptr, "crm", "read_record") == nullptr);
}

TEST_CASE("an agent kill switch matches that agent only") {
  Fixture f;
  auto k = f.engage(KillKind::kAgent, "bot");
  auto bot = principal("bot", "alice@example.com");
  auto other = principal("other", "alice@example.com");
  auto m = f.ks.match(&bot, "crm", "read_record");
  REQUIRE(m != nullptr);
  CHECK(m->id == k.id);
  CHECK(m->kind == KillKind::kAgent);
  CHECK(f.ks.match(&other, "crm", "read_record") == nullptr);
}

TEST_CASE("engage_in_memory is in effect at once; finish_engage saves it and runs the callbacks") {
  Fixture f;
  int changes = 0;
  f.ks.on_change([&] { ++changes; });
  auto r = f.ks.engage_in_memory(KillKind::kAgent, "bot", "rate limit", "policy");
  REQUIRE(r.ok());
  CHECK(r->created);
  CHECK_FALSE(r->persisted);
  auto bot = principal("bot", "alice@example.com");
  CHECK(f.ks.match(&bot, "crm", "read_record") != nullptr);  // before anything was saved
  CHECK(f.store.kill_switches().empty());
  CHECK(changes == 0);
  auto again = f.ks.engage_in_memory(KillKind::kAgent, "bot", "rate limit", "policy");
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);  // one switch per target

  auto done = f.ks.finish_engage(r->kill_switch);
  CHECK(done.persisted);
  CHECK(changes == 1);
  REQUIRE(f.store.kill_switches().size() == 1);
  CHECK(f.store.kill_switches()[0].id == r->kill_switch.id);
}

TEST_CASE("an owner kill switch matches all agents of that owner and no one else") {
  Fixture f;
  f.engage(KillKind::kOwner, "alice@example.com");
  auto a1 = principal("bot-1", "alice@example.com");
  auto a2 = principal("bot-2", "alice@example.com");
  auto b = principal("bot-3", "bob@example.com");
  auto unregistered = principal("alice@example.com");  // agent id equal to the owner, but no registry entry
  CHECK(f.ks.match(&a1, "crm", "t") != nullptr);
  CHECK(f.ks.match(&a2, "crm", "t") != nullptr);
  CHECK(f.ks.match(&b, "crm", "t") == nullptr);
  CHECK(f.ks.match(&unregistered, "crm", "t") == nullptr);
}

TEST_CASE("a user kill switch matches calls delegated by that user") {
  Fixture f;
  f.engage(KillKind::kUser, "carol");
  auto as_carol = principal("bot", "alice@example.com", "carol");
  auto as_dave = principal("bot", "alice@example.com", "dave");
  auto no_user = principal("bot", "alice@example.com");
  CHECK(f.ks.match(&as_carol, "crm", "t") != nullptr);
  CHECK(f.ks.match(&as_dave, "crm", "t") == nullptr);
  CHECK(f.ks.match(&no_user, "crm", "t") == nullptr);
}

TEST_CASE("a token kill switch matches by jti or by token_id") {
  Fixture f;
  f.engage(KillKind::kToken, "jti-1");
  f.engage(KillKind::kToken, "tid-2");
  auto by_jti = principal("bot", "", "", "jti-1", "tid-1");
  auto by_tid = principal("bot", "", "", "jti-2", "tid-2");
  auto neither = principal("bot", "", "", "jti-3", "tid-3");
  CHECK(f.ks.match(&by_jti, "crm", "t") != nullptr);
  CHECK(f.ks.match(&by_tid, "crm", "t") != nullptr);
  CHECK(f.ks.match(&neither, "crm", "t") == nullptr);
}

TEST_CASE("an upstream kill switch matches every call to that upstream, with or without a principal") {
  Fixture f;
  f.engage(KillKind::kUpstream, "crm");
  auto p = principal("bot");
  CHECK(f.ks.match(&p, "crm", "read") != nullptr);
  CHECK(f.ks.match(nullptr, "crm", "") != nullptr);
  CHECK(f.ks.match(&p, "billing", "read") == nullptr);
}

TEST_CASE("a qualified tool kill switch matches that tool on that upstream only") {
  Fixture f;
  f.engage(KillKind::kTool, "crm/delete_record");
  auto p = principal("bot");
  CHECK(f.ks.match(&p, "crm", "delete_record") != nullptr);
  CHECK(f.ks.match(&p, "billing", "delete_record") == nullptr);
  CHECK(f.ks.match(&p, "crm", "read_record") == nullptr);
}

TEST_CASE("a bare tool kill switch matches that tool name on every upstream") {
  Fixture f;
  f.engage(KillKind::kTool, "delete_record");
  auto p = principal("bot");
  CHECK(f.ks.match(&p, "crm", "delete_record") != nullptr);
  CHECK(f.ks.match(&p, "billing", "delete_record") != nullptr);
  CHECK(f.ks.match(&p, "crm", "read_record") == nullptr);
}

TEST_CASE("the all kill switch matches everything, including calls without a principal") {
  Fixture f;
  f.engage(KillKind::kAll, "ignored");
  auto p = principal("bot");
  auto m = f.ks.match(&p, "crm", "read");
  REQUIRE(m != nullptr);
  CHECK(m->kind == KillKind::kAll);
  CHECK(m->target.empty());
  CHECK(f.ks.match(nullptr, "x", "") != nullptr);
}

TEST_CASE("matches_stream: a tool switch covers only streams answering calls of that tool") {
  Fixture f;
  f.engage(KillKind::kTool, "crm/delete_record");
  auto p = principal("bot", "alice@example.com");
  const std::vector<std::string> deletes{"read_record", "delete_record"}, reads{"read_record"};
  CHECK(f.ks.matches_stream(&p, "crm") == nullptr);  // a GET stream answers no call
  CHECK(f.ks.matches_stream(&p, "crm", reads) == nullptr);
  CHECK(f.ks.matches_stream(&p, "billing", deletes) == nullptr);  // another upstream's delete_record
  auto k = f.ks.matches_stream(&p, "crm", deletes);
  REQUIRE(k != nullptr);
  CHECK(k->kind == KillKind::kTool);
  f.engage(KillKind::kOwner, "alice@example.com");
  CHECK(f.ks.matches_stream(&p, "crm") != nullptr);
}

TEST_CASE("lifting a switch stops it matching and lifting an unknown id reports nothing") {
  Fixture f;
  auto k = f.engage(KillKind::kAgent, "bot");
  auto p = principal("bot");
  REQUIRE(f.ks.match(&p, "crm", "t") != nullptr);
  auto lifted = f.ks.lift(k.id);
  REQUIRE(lifted.has_value());
  CHECK(lifted->kill_switch.id == k.id);
  CHECK(f.ks.match(&p, "crm", "t") == nullptr);
  CHECK(f.ks.list().empty());
  CHECK_FALSE(f.ks.lift(k.id).has_value());
}

TEST_CASE("engaging the same kind and target twice returns the existing switch") {
  Fixture f;
  auto a = f.ks.engage(KillKind::kAgent, "bot", "first", "ops");
  auto b = f.ks.engage(KillKind::kAgent, "bot", "second", "ops");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->created);
  CHECK_FALSE(b->created);
  CHECK(b->kill_switch.id == a->kill_switch.id);
  CHECK(f.ks.list().size() == 1);
}

TEST_CASE("engage refuses an empty target and an over-long reason") {
  Fixture f;
  CHECK_FALSE(f.ks.engage(KillKind::kAgent, "", "r", "ops").ok());
  CHECK_FALSE(f.ks.engage(KillKind::kUser, "u", std::string(2000, 'x'), "ops").ok());
  CHECK(f.ks.list().empty());
}

TEST_CASE("switch ids are random and distinct") {
  Fixture f;
  auto a = f.engage(KillKind::kAgent, "a");
  auto b = f.engage(KillKind::kAgent, "b");
  CHECK(a.id != b.id);
  CHECK(a.id.rfind("ks_", 0) == 0);
  CHECK(a.id.size() == 3 + 16);
}

TEST_CASE("on_change runs after engage and lift and the version moves") {
  Fixture f;
  int calls = 0;
  f.ks.on_change([&] { ++calls; });
  auto v0 = f.ks.version();
  auto k = f.engage(KillKind::kAgent, "bot");
  CHECK(calls == 1);
  CHECK(f.ks.version() > v0);
  (void)f.ks.lift(k.id);
  CHECK(calls == 2);
}

TEST_CASE("a matched switch stays valid after it is lifted") {
  Fixture f;
  auto k = f.engage(KillKind::kAgent, "bot");
  auto p = principal("bot");
  auto m = f.ks.match(&p, "crm", "t");
  REQUIRE(m != nullptr);
  (void)f.ks.lift(k.id);
  f.engage(KillKind::kAgent, "other");
  CHECK(m->target == "bot");  // shares ownership of the old snapshot
}

TEST_CASE("a switch engaged on one thread is seen by a reader thread that has cached an older snapshot") {
  Fixture f;
  auto p = principal("bot");
  std::atomic<bool> seen{false}, stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      if (f.ks.match(&p, "crm", "t")) seen = true;
      reads.fetch_add(1);
    }
  });
  while (reads.load() < 100) std::this_thread::yield();
  f.engage(KillKind::kAgent, "bot");
  for (int i = 0; i < 2000 && !seen.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stop = true;
  reader.join();
  CHECK(seen.load());
}

TEST_CASE("kill switches persisted in the store are loaded at construction") {
  MemoryStateStore store;
  {
    KillSwitches ks(store);
    REQUIRE(ks.engage(KillKind::kUpstream, "crm", "outage", "ops").ok());
  }
  KillSwitches again(store);
  auto p = principal("bot");
  CHECK(again.match(&p, "crm", "t") != nullptr);
}

// A store whose saves fail: the switch still takes effect (fail safe).
class FailingStore final : public StateStore {
 public:
  std::vector<KillSwitch> kill_switches() const override { return {}; }
  Status save_kill_switches(const std::vector<KillSwitch>&) override { return Err("disk full"); }
  std::vector<ApprovalRecord> approval_records() const override { return {}; }
  Status record_approval(const ApprovalRecord&) override { return Err("disk full"); }
  policy::LimitCounter& limit_counter() override { return limits_; }

 private:
  policy::InMemoryLimitCounter limits_;
};

TEST_CASE("a switch whose persistence fails is still in effect and says it was not persisted") {
  FailingStore store;
  KillSwitches ks(store);
  auto r = ks.engage(KillKind::kAgent, "bot", "r", "ops");
  REQUIRE(r.ok());
  CHECK_FALSE(r->persisted);
  CHECK(r->error.find("disk full") != std::string::npos);
  auto p = principal("bot");
  CHECK(ks.match(&p, "crm", "t") != nullptr);
}

TEST_CASE("switches from another replica are applied, saved locally, and run the change callbacks") {
  MemoryStateStore store;
  KillSwitches ks(store);
  int changes = 0;
  ks.on_change([&] { ++changes; });
  auto local = ks.engage(KillKind::kAgent, "bot", "here", "ops");
  REQUIRE(local);
  KillSwitch remote;
  remote.id = "ks_remote";
  remote.kind = KillKind::kUser;
  remote.target = "mallory";
  remote.created_at = std::chrono::system_clock::now();
  ks.apply_remote({remote}, {});
  auto p = principal("other", "", "mallory");
  auto m = ks.match(&p, "crm", "");
  REQUIRE(m != nullptr);
  CHECK(m->id == "ks_remote");
  CHECK(store.kill_switches().size() == 2);
  CHECK(changes == 2);
  ks.apply_remote({remote}, {});  // known already: nothing happens
  CHECK(changes == 2);
  ks.apply_remote({}, {local->kill_switch.id});
  auto bot = principal("bot");
  CHECK(ks.match(&bot, "crm", "") == nullptr);
  CHECK(ks.list().size() == 1);
  CHECK(store.kill_switches().size() == 1);
  CHECK(changes == 3);
}

}  // namespace
}  // namespace portcullis::admin
