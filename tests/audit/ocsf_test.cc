#include "audit/ocsf.h"

#include <doctest/doctest.h>

namespace portcullis::audit {
namespace {

nlohmann::json decision() {
  return {{"schema", "portcullis.audit/v1"}, {"seq", 7}, {"time", "2026-11-22T08:00:00.123456789Z"},
          {"instance", "gw-1"}, {"kind", "decision"}, {"prev", "sha256:00"}, {"hash", "sha256:11"},
          {"decision_id", "d-1"}, {"decision", "deny"}, {"agent", "support-bot"}, {"owner", "alice"},
          {"user", "u-17"}, {"issuer", "http://idp"}, {"upstream", "crm"}, {"method", "tools/call"},
          {"tool", "delete_record"}, {"tool_fingerprint", "sha256:t"}, {"action", "delete"},
          {"sensitivity", "confidential"}, {"rules", {"no-deletes"}}, {"reason", "rule no-deletes denies"},
          {"policy", {{"version", "v1"}, {"revision", "sha256:p"}, {"mode", "enforce"}}}, {"src_ip", "10.0.0.8"}};
}

TEST_CASE("a decision becomes an OCSF API Activity with actor, api, authorization and policy") {
  auto e = to_ocsf(decision());
  CHECK(e["class_uid"] == 6003);
  CHECK(e["category_uid"] == 6);
  CHECK(e["activity_id"] == 4);  // Delete
  CHECK(e["type_uid"] == 600304);
  CHECK(e["time"] == 1795334400123LL);
  CHECK(e["status"] == "Failure");
  CHECK(e["actor"]["app_name"] == "support-bot");
  CHECK(e["actor"]["user"]["uid"] == "u-17");
  const auto& auth = e["actor"]["authorizations"][0];
  CHECK(auth["decision"] == "deny");
  CHECK(auth["policy"]["name"] == "no-deletes");
  CHECK(auth["policy"]["uid"] == "sha256:p");
  CHECK(auth["policy"]["version"] == "v1");
  CHECK(e["api"]["operation"] == "tools/call");
  CHECK(e["api"]["service"]["name"] == "crm");
  CHECK(e["api"]["request"]["uid"] == "d-1");
  CHECK(e["src_endpoint"]["ip"] == "10.0.0.8");
  CHECK(e["resources"][0]["name"] == "delete_record");
  CHECK(e["metadata"]["sequence"] == 7);
  CHECK(e["unmapped"]["hash"] == "sha256:11");
}

TEST_CASE("an outcome and an audit_failure map to success/failure and severity") {
  nlohmann::json o = {{"kind", "outcome"}, {"status", "ok"}, {"http_status", 200}, {"upstream_latency_us", 5000},
                      {"decision_id", "d-1"}, {"time", "2026-11-22T08:00:00.000000000Z"}};
  auto e = to_ocsf(o);
  CHECK(e["status"] == "Success");
  CHECK(e["api"]["response"]["code"] == 200);
  CHECK(e["duration"] == 5);
  auto f = to_ocsf({{"kind", "audit_failure"}, {"reason", "write_failed"}});
  CHECK(f["status"] == "Failure");
  CHECK(f["severity_id"] == 5);
  CHECK(to_ocsf("not an object").empty());
}

}  // namespace
}  // namespace portcullis::audit
