#include "admin/inventory.h"

#include <doctest/doctest.h>

#include "admin/file_state_store.h"
#include "tests/admin/test_util.h"

namespace portcullis::admin {
namespace {

using testing::principal;
using Clock = std::chrono::system_clock;

std::vector<config::AgentConfig> registry() {
  return {{"support-bot", "alice@example.com", {"support"}, ""}, {"billing-bot", "bob@example.com", {}, ""}};
}

const AgentInfo* find(const std::vector<AgentInfo>& list, std::string_view id) {
  for (const auto& a : list)
    if (a.id == id) return &a;
  return nullptr;
}

TEST_CASE("registered agents are listed before they are seen") {
  Inventory inv(registry());
  auto list = inv.list();
  REQUIRE(list.size() == 2);
  CHECK(list[0].id == "billing-bot");  // sorted by id
  const AgentInfo* s = find(list, "support-bot");
  REQUIRE(s);
  CHECK(s->registered);
  CHECK(s->owner == "alice@example.com");
  CHECK_FALSE(s->last_seen.has_value());
  CHECK(s->status == "active");
}

TEST_CASE("requests and denials are counted with first and last seen") {
  Inventory inv(registry());
  auto p = principal("support-bot", "alice@example.com");
  auto t0 = Clock::now();
  inv.record_request(p, false, t0);
  inv.record_request(p, true, t0 + std::chrono::seconds(5));
  auto list = inv.list();
  const AgentInfo* s = find(list, "support-bot");
  REQUIRE(s);
  CHECK(s->requests == 2);
  CHECK(s->denials == 1);
  CHECK(*s->first_seen == t0);
  CHECK(*s->last_seen == t0 + std::chrono::seconds(5));
}

TEST_CASE("an agent seen with a valid token but not registered is listed as unregistered") {
  Inventory inv(registry());
  inv.record_request(principal("stranger"), true);
  auto list = inv.list();
  const AgentInfo* s = find(list, "stranger");
  REQUIRE(s);
  CHECK_FALSE(s->registered);
  CHECK(s->status == "unregistered");
  CHECK(s->denials == 1);
}

TEST_CASE("unregistered agents beyond the bound are dropped and counted") {
  Inventory inv(registry(), 2);
  inv.record_request(principal("u1"), false);
  inv.record_request(principal("u2"), false);
  inv.record_request(principal("u3"), false);
  CHECK(inv.list().size() == 4);
  CHECK(inv.dropped_unregistered() == 1);
}

TEST_CASE("an agent covered by an agent or owner kill switch is listed as killed") {
  Inventory inv(registry());
  MemoryStateStore store;
  KillSwitches ks(store);
  auto k = ks.engage(KillKind::kOwner, "alice@example.com", "", "ops");
  REQUIRE(k.ok());
  auto list = inv.list(&ks);
  CHECK(find(list, "support-bot")->status == "killed");
  CHECK(find(list, "support-bot")->killed_by == k->kill_switch.id);
  CHECK(find(list, "billing-bot")->status == "active");
}

TEST_CASE("a reload that unregisters a seen agent keeps its counts and flags it") {
  Inventory inv(registry());
  inv.record_request(principal("support-bot", "alice@example.com"), false);
  inv.set_registered({{"billing-bot", "bob@example.com", {}, ""}});
  auto list = inv.list();
  const AgentInfo* s = find(list, "support-bot");
  REQUIRE(s);
  CHECK_FALSE(s->registered);
  CHECK(s->requests == 1);
  inv.set_registered(registry());
  list = inv.list();
  CHECK(find(list, "support-bot")->registered);
}

}  // namespace
}  // namespace portcullis::admin
