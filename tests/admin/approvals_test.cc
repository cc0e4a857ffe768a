#include "admin/approvals.h"

#include <doctest/doctest.h>

#include "admin/file_state_store.h"
#include "tests/admin/test_util.h"

namespace portcullis::admin {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

HeldCall call(std::string agent = "support-bot", std::string owner = "alice@example.com") {
  HeldCall c;
  c.agent = std::move(agent);
  c.owner = std::move(owner);
  c.user = "carol";
  c.token_id = "tid-1";
  c.upstream = "crm";
  c.tool = "delete_record";
  c.arguments_redacted = {{"id", "r-1"}};
  c.arguments_hash = "aa11";
  c.rule_id = "support-deletes-need-approval";
  c.decision_id = "d-1";
  c.created = Clock::now();
  c.deadline = c.created + 5min;
  return c;
}

// Records every resolution of one held call.
struct Probe {
  int calls = 0;
  ApprovalOutcome last;
  ApprovalResolver resolver() {
    return [this](const ApprovalOutcome& o) {
      ++calls;
      last = o;
    };
  }
};

TEST_CASE("an approved call resolves once as approved, naming the approver") {
  Approvals a;
  Probe p;
  auto id = a.hold(call(), p.resolver());
  REQUIRE(id.ok());
  CHECK(a.list().size() == 1);
  auto r = a.approve(*id, "ops-bob", "bob@example.com");
  REQUIRE(r.ok());
  CHECK(r->outcome == "approved");
  CHECK(r->decided_by == "ops-bob");
  CHECK(p.calls == 1);
  CHECK(p.last.approved());
  CHECK(p.last.decided_by == "ops-bob");
  CHECK(a.list().empty());
}

TEST_CASE("a denied call resolves as denied with the reason") {
  Approvals a;
  Probe p;
  auto id = a.hold(call(), p.resolver());
  REQUIRE(id.ok());
  auto r = a.deny(*id, "ops-bob", "not today");
  REQUIRE(r.ok());
  CHECK(p.calls == 1);
  CHECK(p.last.kind == ApprovalOutcomeKind::kDenied);
  CHECK(p.last.reason == "not today");
}

TEST_CASE("a call past its deadline times out and is denied") {
  Approvals a;
  Probe early, late;
  auto c1 = call();
  c1.deadline = c1.created + 1s;
  auto c2 = call();
  c2.deadline = c2.created + 10min;
  REQUIRE(a.hold(c1, early.resolver()).ok());
  REQUIRE(a.hold(c2, late.resolver()).ok());
  CHECK(a.next_deadline() == c1.deadline);
  CHECK(a.expire_due(c1.created) == 0);
  CHECK(a.expire_due(c1.created + 2s) == 1);
  CHECK(early.calls == 1);
  CHECK(early.last.kind == ApprovalOutcomeKind::kTimedOut);
  CHECK_FALSE(early.last.approved());
  CHECK(late.calls == 0);
  CHECK(a.pending_count() == 1);
}

TEST_CASE("the owner of the agent cannot approve its call, in any letter case") {
  Approvals a;
  Probe p;
  auto id = a.hold(call("support-bot", "alice@example.com"), p.resolver());
  REQUIRE(id.ok());
  auto r = a.approve(*id, "alice", "Alice@Example.com");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ApprovalError::Code::kSelfApproval);
  CHECK(p.calls == 0);
  CHECK(a.pending_count() == 1);  // still waiting for someone else
  REQUIRE(a.approve(*id, "bob", "bob@example.com").ok());
  CHECK(p.last.approved());
}

TEST_CASE("a second approve or deny of the same call is refused as already resolved") {
  Approvals a;
  Probe p;
  auto id = a.hold(call(), p.resolver());
  REQUIRE(id.ok());
  REQUIRE(a.approve(*id, "bob", "bob").ok());
  auto again = a.approve(*id, "bob", "bob");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == ApprovalError::Code::kAlreadyResolved);
  auto deny = a.deny(*id, "bob");
  REQUIRE_FALSE(deny.ok());
  CHECK(deny.error().code == ApprovalError::Code::kAlreadyResolved);
  CHECK(p.calls == 1);
}

TEST_CASE("approving an unknown id is not found") {
  Approvals a;
  auto r = a.approve("ap_nope", "bob", "bob");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ApprovalError::Code::kNotFound);
}

TEST_CASE("an approval bound to another arguments hash is refused and the call stays held") {
  Approvals a;
  Probe p;
  auto id = a.hold(call(), p.resolver());
  REQUIRE(id.ok());
  auto r = a.approve(*id, "bob", "bob", std::string_view("bb22"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ApprovalError::Code::kHashMismatch);
  CHECK(p.calls == 0);
  CHECK(a.approve(*id, "bob", "bob", std::string_view("aa11")).ok());
}

TEST_CASE("a cancelled call resolves as cancelled and can no longer be approved") {
  Approvals a;
  Probe p;
  auto id = a.hold(call(), p.resolver());
  REQUIRE(id.ok());
  CHECK(a.cancel(*id));
  CHECK(p.last.kind == ApprovalOutcomeKind::kCancelled);
  CHECK_FALSE(a.cancel(*id));
  auto r = a.approve(*id, "bob", "bob");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ApprovalError::Code::kAlreadyResolved);
}

TEST_CASE("deny_for_agent kills every held call of that agent and no other") {
  Approvals a;
  Probe p1, p2, other;
  REQUIRE(a.hold(call("bot"), p1.resolver()).ok());
  REQUIRE(a.hold(call("bot"), p2.resolver()).ok());
  REQUIRE(a.hold(call("other-bot"), other.resolver()).ok());
  CHECK(a.deny_for_agent("bot") == 2);
  CHECK(p1.last.kind == ApprovalOutcomeKind::kKilled);
  CHECK(p2.last.kind == ApprovalOutcomeKind::kKilled);
  CHECK(other.calls == 0);
  CHECK(a.pending_count() == 1);
}

TEST_CASE("kill_matching kills held calls covered by an owner, token or tool switch") {
  Approvals a;
  Probe p1, p2;
  REQUIRE(a.hold(call("bot", "alice@example.com"), p1.resolver()).ok());
  REQUIRE(a.hold(call("bot2", "bob@example.com"), p2.resolver()).ok());
  KillSwitch owner{"ks_1", KillKind::kOwner, "alice@example.com", "", "ops", Clock::now()};
  CHECK(a.kill_matching(owner) == 1);
  CHECK(p1.last.kind == ApprovalOutcomeKind::kKilled);
  CHECK(p2.calls == 0);
  KillSwitch tool{"ks_2", KillKind::kTool, "crm/delete_record", "", "ops", Clock::now()};
  CHECK(a.kill_matching(tool) == 1);
  CHECK(p2.last.kind == ApprovalOutcomeKind::kKilled);
}

TEST_CASE("a resolve callback may call back into Approvals without deadlock") {
  Approvals a;
  std::size_t seen = 99;
  auto id = a.hold(call(), [&](const ApprovalOutcome&) { seen = a.pending_count(); });
  REQUIRE(id.ok());
  REQUIRE(a.approve(*id, "bob", "bob").ok());
  CHECK(seen == 0);
}

TEST_CASE("hold refuses beyond max_pending") {
  Approvals::Options o;
  o.max_pending = 1;
  Approvals a(o);
  REQUIRE(a.hold(call(), {}).ok());
  CHECK_FALSE(a.hold(call(), {}).ok());
}

TEST_CASE("approve and deny decisions go to the ledger and seed recent after a restart") {
  MemoryStateStore store;
  std::string id;
  {
    Approvals::Options o;
    o.ledger = &store;
    Approvals a(o);
    auto held = a.hold(call(), {});
    REQUIRE(held.ok());
    id = *held;
    REQUIRE(a.deny(id, "bob", "no").ok());
  }
  REQUIRE(store.approval_records().size() == 1);
  Approvals::Options o;
  o.ledger = &store;
  Approvals again(o);
  REQUIRE(again.recent().size() == 1);
  CHECK(again.recent()[0].outcome == "denied");
  auto r = again.approve(id, "bob", "bob");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ApprovalError::Code::kAlreadyResolved);
}

}  // namespace
}  // namespace portcullis::admin
