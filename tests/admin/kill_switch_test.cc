#include "admin/kill_switch.h"

#include <doctest/doctest.h>

namespace portcullis::admin {
namespace {

TEST_CASE("every kill kind round-trips through its name") {
  for (KillKind k : {KillKind::kAgent, KillKind::kOwner, KillKind::kUser, KillKind::kToken, KillKind::kUpstream,
                     KillKind::kTool, KillKind::kAll}) {
    auto parsed = parse_kill_kind(kill_kind_name(k));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == k);
  }
  CHECK_FALSE(parse_kill_kind("Agent").has_value());
  CHECK_FALSE(parse_kill_kind("").has_value());
}

TEST_CASE("a kill switch round-trips through JSON to the millisecond") {
  KillSwitch k{"ks_0011223344556677", KillKind::kTool, "crm/delete_record", "incident", "ops",
               std::chrono::system_clock::time_point(std::chrono::milliseconds(1795000000123))};
  auto j = to_json(k);
  CHECK(j["created_at"] == "2026-11-18T11:06:40.123Z");
  auto back = kill_switch_from_json(j);
  REQUIRE(back.ok());
  CHECK(back->id == k.id);
  CHECK(back->kind == k.kind);
  CHECK(back->target == k.target);
  CHECK(back->reason == k.reason);
  CHECK(back->created_by == k.created_by);
  CHECK(back->created_at == k.created_at);
}

TEST_CASE("the all switch has no target in JSON") {
  KillSwitch k{"ks_1", KillKind::kAll, "", "", "ops", std::chrono::system_clock::now()};
  CHECK_FALSE(to_json(k).contains("target"));
  CHECK(kill_switch_from_json(to_json(k)).ok());
}

TEST_CASE("malformed kill switch JSON is rejected") {
  CHECK_FALSE(kill_switch_from_json(nlohmann::json::array()).ok());
  CHECK_FALSE(kill_switch_from_json({{"kind", "agent"}, {"target", "x"}, {"created_at", "2026-01-01T00:00:00Z"}}).ok());
  CHECK_FALSE(kill_switch_from_json({{"id", "ks_1"}, {"kind", "agent"}, {"created_at", "2026-01-01T00:00:00Z"}}).ok());
  CHECK_FALSE(
      kill_switch_from_json({{"id", "ks_1"}, {"kind", "agent"}, {"target", 7}, {"created_at", "2026-01-01T00:00:00Z"}})
          .ok());
  CHECK_FALSE(kill_switch_from_json({{"id", "ks_1"}, {"kind", "agent"}, {"target", "x"}, {"created_at", "yesterday"}}).ok());
  CHECK(kill_switch_from_json({{"id", "ks_1"}, {"kind", "agent"}, {"target", "x"}, {"created_at", "2026-01-01T00:00:00Z"}})
            .ok());
}

}  // namespace
}  // namespace portcullis::admin
