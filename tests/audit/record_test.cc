#include "audit/record.h"

#include <doctest/doctest.h>

#include "audit/keyed_hasher.h"

namespace portcullis::audit {
namespace {

DecisionFacts facts() {
  DecisionFacts f;
  f.decision_id = "d-1";
  f.decision = "allow";
  f.config_revision = "sha256:cfg";
  f.policy_version = "2026.11.22";
  f.policy_revision = "sha256:pol";
  f.agent = "support-bot";
  f.owner = "alice@example.com";
  f.user = "u-17";
  f.issuer = "http://idp";
  f.token_id = "secret-token-id";
  f.upstream = "crm";
  f.method = "tools/call";
  f.tool = "read_record";
  f.tool_fingerprint = "sha256:tool";
  f.action = "read";
  f.sensitivity = "internal";
  f.resources = {{{"argument", "/id"}, {"value", "r-1"}}};
  f.arguments = {{"id", "r-1"}, {"api_key", "k-123"}, {"note", std::string(300, 'x')}, {"card", "4111"}};
  f.redact = {"/card"};
  f.rules = {"support-reads"};
  f.reason = "rule support-reads allows";
  f.credential_kind = "client_credentials";
  f.latency = std::chrono::microseconds(42);
  return f;
}

TEST_CASE("a decision record keeps only keyed hashes of the token id and arguments") {
  auto h = KeyedHasher::create(std::string(32, 'k'));
  REQUIRE(h);
  Record r = make_decision_record(facts(), **h);
  CHECK(r.kind == "decision");
  std::string text = r.fields.dump();
  CHECK(text.find("secret-token-id") == std::string::npos);
  CHECK(text.find("k-123") == std::string::npos);
  CHECK(r.fields["token_hmac"] == (*h)->hash("secret-token-id"));
  CHECK(r.fields["token_hmac"].get<std::string>().rfind("hmac-sha256:" + (*h)->key_id() + ":", 0) == 0);
  CHECK(r.fields["args_hmac"] == (*h)->hash(facts().arguments.dump()));
  CHECK(r.fields["policy"]["version"] == "2026.11.22");
  CHECK(r.fields["policy"]["mode"] == "enforce");
  CHECK(r.fields["latency_us"] == 42);
  CHECK(r.fields["rules"] == nlohmann::json::array({"support-reads"}));
  for (auto it = r.fields.begin(); it != r.fields.end(); ++it) CHECK_FALSE(is_reserved_field(it.key()));
}

TEST_CASE("the redacted arguments mask secret-looking keys, listed pointers and long strings") {
  auto red = redact_arguments(facts().arguments, {"/card"});
  CHECK(red["id"] == "r-1");
  CHECK(red["api_key"] == "[REDACTED]");
  CHECK(red["card"] == "[REDACTED]");
  CHECK(red["note"].get<std::string>().size() < 300);
  CHECK(red["note"].get<std::string>().find("[truncated 300 bytes]") != std::string::npos);
}

TEST_CASE("an outcome record carries the decision id, status, latency, size and error class") {
  OutcomeFacts o{"d-1", "error", 502, std::chrono::milliseconds(12), 0, "upstream_error"};
  Record r = make_outcome_record(o);
  CHECK(r.kind == "outcome");
  CHECK(r.fields["decision_id"] == "d-1");
  CHECK(r.fields["upstream_latency_us"] == 12000);
  CHECK(r.fields["error_class"] == "upstream_error");
}

TEST_CASE("times are RFC 3339 UTC with nanoseconds") {
  std::chrono::system_clock::time_point t{std::chrono::nanoseconds(1763798400123456789LL)};
  CHECK(format_time(t) == "2025-11-22T08:00:00.123456789Z");
}

}  // namespace
}  // namespace portcullis::audit
