#include "identity/principal.h"

#include <doctest/doctest.h>

using namespace portcullis::identity;
using nlohmann::json;

namespace {

AgentRegistry registry() {
  portcullis::config::AgentConfig a;
  a.id = "support-bot";
  a.owner = "alice@example.com";
  a.groups = {"support"};
  a.clearance = "confidential";
  portcullis::config::UserConfig u;
  u.sub = "bob";
  u.clearance = "internal";
  return AgentRegistry({a}, {u});
}

}  // namespace

TEST_CASE("a client-credentials token names the agent and no user") {
  auto p = build_principal({{"client_id", "support-bot"}, {"sub", "support-bot"}, {"scope", "b a a"}}, "client_id",
                           registry());
  CHECK(p.agent_id == "support-bot");
  CHECK(p.user.empty());
  CHECK(p.scopes == std::vector<std::string>{"a", "b"});
  CHECK(p.registered);
  REQUIRE(p.agent);
  CHECK(p.agent->owner == "alice@example.com");
}

TEST_CASE("a user-delegated token names the user as sub, with the user's clearance from users:") {
  auto p = build_principal({{"client_id", "support-bot"}, {"sub", "bob"}}, "client_id", registry());
  CHECK(p.agent_id == "support-bot");
  CHECK(p.user == "bob");
  CHECK(p.user_clearance == "internal");
  // Not listed: the lowest level (empty), whatever the agent's clearance.
  auto q = build_principal({{"client_id", "support-bot"}, {"sub", "mallory"}}, "client_id", registry());
  CHECK(q.user == "mallory");
  CHECK(q.user_clearance.empty());
  // The same sub without delegation (it is the agent) is no user at all.
  auto r = build_principal({{"client_id", "bob"}, {"sub", "bob"}}, "client_id", registry());
  CHECK(r.user.empty());
  CHECK(r.user_clearance.empty());
}

TEST_CASE("the agent falls back to azp then sub") {
  CHECK(build_principal({{"azp", "x"}, {"sub", "y"}}, "client_id", registry()).agent_id == "x");
  auto p = build_principal({{"sub", "y"}}, "client_id", registry());
  CHECK(p.agent_id == "y");
  CHECK(p.user.empty());
  CHECK_FALSE(p.registered);
}

TEST_CASE("a configured agent claim is used") {
  CHECK(build_principal({{"agent", "a1"}, {"client_id", "c"}}, "agent", registry()).agent_id == "a1");
}

TEST_CASE("an act chain makes the current actor the agent and sub the user") {
  json claims = {{"sub", "bob"},
                 {"client_id", "exchanger"},
                 {"act", {{"sub", "support-bot"}, {"act", {{"sub", "planner"}}}}}};
  auto p = build_principal(claims, "client_id", registry());
  CHECK(p.agent_id == "support-bot");
  CHECK(p.user == "bob");
  CHECK(p.act_chain == std::vector<std::string>{"support-bot", "planner"});
  CHECK(p.registered);
}

TEST_CASE("an act claim without a current actor names no agent") {
  auto p = build_principal({{"sub", "bob"}, {"act", {{"act", {{"sub", "planner"}}}}}}, "client_id", registry());
  CHECK(p.agent_id.empty());
}

TEST_CASE("scp arrays, groups, audiences, jti and exp are read") {
  auto p = build_principal({{"sub", "a"}, {"scp", {"x", "y"}}, {"groups", {"g"}}, {"aud", "r"}, {"jti", "j"}, {"exp", 100}},
                           "client_id", registry());
  CHECK(p.has_scope("x"));
  CHECK_FALSE(p.has_scope("z"));
  CHECK(p.groups == std::vector<std::string>{"g"});
  CHECK(p.audiences == std::vector<std::string>{"r"});
  CHECK(p.jti == "j");
  CHECK(p.expires_at == std::chrono::system_clock::time_point(std::chrono::seconds(100)));
}
