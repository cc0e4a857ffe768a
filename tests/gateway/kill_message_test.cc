#include <doctest/doctest.h>

#include "gateway/kill_message.h"

using namespace portcullis;
using portcullis::gateway::kill_message;

TEST_CASE("a kill message names the switch, its kind and target, and the operator's reason") {
  admin::KillSwitch ks;
  ks.id = "ks_d16b1e6ad1398000";
  ks.kind = admin::KillKind::kAgent;
  ks.target = "support-bot";
  ks.reason = "exfiltrating records, incident 42";
  CHECK(kill_message(ks) ==
        "Forbidden: stopped by kill switch ks_d16b1e6ad1398000 (agent: support-bot): exfiltrating records, incident 42");
}

TEST_CASE("a kill of everything has no target; no reason adds nothing") {
  admin::KillSwitch ks;
  ks.id = "ks_0000000000000001";
  ks.kind = admin::KillKind::kAll;
  CHECK(kill_message(ks) == "Forbidden: stopped by kill switch ks_0000000000000001 (all)");
  ks.kind = admin::KillKind::kTool;
  ks.target = "crm/delete_record";
  CHECK(kill_message(ks) == "Forbidden: stopped by kill switch ks_0000000000000001 (tool: crm/delete_record)");
}
