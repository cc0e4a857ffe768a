#include "audit/record.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <ctime>

#include "audit/keyed_hasher.h"
#include "audit/log_format.h"

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
  nlohmann::json fields = r.fields_json();
  std::string text = fields.dump();
  CHECK(text.find("secret-token-id") == std::string::npos);
  CHECK(text.find("k-123") == std::string::npos);
  CHECK(fields["token_hmac"] == (*h)->hash("secret-token-id"));
  CHECK(fields["token_hmac"].get<std::string>().rfind("hmac-sha256:" + (*h)->key_id() + ":", 0) == 0);
  CHECK(fields["args_hmac"] == (*h)->hash(facts().arguments.dump()));
  CHECK(fields["policy"]["version"] == "2026.11.22");
  CHECK(fields["policy"]["mode"] == "enforce");
  CHECK(fields["latency_us"] == 42);
  CHECK(fields["rules"] == nlohmann::json::array({"support-reads"}));
  CHECK(fields["args_redacted"]["api_key"] == "[REDACTED]");
  CHECK(fields["args_redacted"]["card"] == "[REDACTED]");
  for (auto it = fields.begin(); it != fields.end(); ++it) CHECK_FALSE(is_reserved_field(it.key()));
}

TEST_CASE("secret-looking keys are found in any case and anywhere in the key") {
  nlohmann::json args = {{"X-Api-Key", "a"}, {"userPASSWORD2", "b"}, {"tok", "c"}, {"AUTHORIZATION", "d"},
                         {"session_Token_id", "e"}, {"passw", "f"}, {std::string(300, 'x') + "Secret", "g"}};
  auto red = redact_arguments(args, {});
  CHECK(red["X-Api-Key"] == "a");  // "api-key" is not "api_key"
  CHECK(red["userPASSWORD2"] == "[REDACTED]");
  CHECK(red["tok"] == "c");
  CHECK(red["AUTHORIZATION"] == "[REDACTED]");
  CHECK(red["session_Token_id"] == "[REDACTED]");
  CHECK(red["passw"] == "f");
  CHECK(red[std::string(300, 'x') + "Secret"] == "[REDACTED]");
}

TEST_CASE("arguments_ref (the caller's tree, not a copy) gives the same record as arguments") {
  auto h = KeyedHasher::create(std::string(32, 'k'));
  REQUIRE(h);
  auto copied = facts();
  auto referenced = facts();
  const nlohmann::json args = referenced.arguments;
  referenced.arguments = nlohmann::json();  // null: only the reference holds them
  referenced.arguments_ref = &args;
  nlohmann::json a = make_decision_record(copied, **h).fields_json();
  nlohmann::json b = make_decision_record(referenced, **h).fields_json();
  CHECK(a == b);
  CHECK(b["args_hmac"] == (*h)->hash(args.dump()));
  CHECK(b["args_redacted"]["api_key"] == "[REDACTED]");
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
  nlohmann::json fields = r.fields_json();
  CHECK(fields == nlohmann::json{{"decision_id", "d-1"},
                                 {"status", "error"},
                                 {"http_status", 502},
                                 {"upstream_latency_us", 12000},
                                 {"result_bytes", 0},
                                 {"error_class", "upstream_error"}});
}

// The schema of a decision record as a JSON tree (how the builder worked
// before it wrote canonical text directly): both must give the same bytes.
nlohmann::json decision_as_tree(const DecisionFacts& f, const KeyedHasher& hasher) {
  nlohmann::json j;
  j["decision_id"] = f.decision_id;
  j["decision"] = f.decision;
  j["config_revision"] = f.config_revision;
  j["policy"] = {{"version", f.policy_version}, {"revision", f.policy_revision},
                 {"mode", f.shadow ? "shadow" : "enforce"}};
  j["agent"] = f.agent;
  j["owner"] = f.owner;
  j["user"] = f.user;
  j["issuer"] = f.issuer;
  j["token_hmac"] = f.token_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(hasher.hash(f.token_id));
  j["upstream"] = f.upstream;
  j["method"] = f.method;
  j["jsonrpc_id"] = f.jsonrpc_id;
  j["tool"] = f.tool;
  j["tool_fingerprint"] = f.tool_fingerprint;
  j["action"] = f.action;
  j["sensitivity"] = f.sensitivity;
  j["resources"] = f.resources.is_null() ? nlohmann::json::array() : f.resources;
  if (f.arguments.is_null()) {
    j["args_hmac"] = nullptr;
    j["args_redacted"] = nullptr;
  } else {
    j["args_hmac"] = hasher.hash(f.arguments.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    j["args_redacted"] = redact_arguments(f.arguments, f.redact);
  }
  j["rules"] = f.rules;
  j["reason"] = f.reason;
  j["credential_kind"] = f.credential_kind;
  j["src_ip"] = f.src_ip;
  j["latency_us"] = std::chrono::duration_cast<std::chrono::microseconds>(f.latency).count();
  return j;
}

std::string framed(const Record& r) {
  std::string out;
  Envelope env{"gw-1", r.kind, "sha256:00", 7, "2026-11-22T08:00:00.000000000Z"};
  if (r.canonical.empty()) canonical_record_into(out, r.fields, env);
  else canonical_record_into(out, r.canonical, env);
  return out;
}

TEST_CASE("a decision record written as canonical text has the bytes of its JSON tree") {
  auto h = KeyedHasher::create(std::string(32, 'k'));
  REQUIRE(h);
  nlohmann::json deep = "bottom";
  for (int i = 0; i < 20; ++i) deep = nlohmann::json{{"d", deep}, {"list", {i, "x", nullptr}}};
  std::vector<DecisionFacts> cases;
  cases.push_back(facts());
  {
    auto f = facts();  // nothing optional
    f.arguments = nullptr;
    f.token_id.clear();
    f.resources = nullptr;
    f.rules.clear();
    f.shadow = true;
    cases.push_back(f);
  }
  {
    auto f = facts();  // nesting, floats, unicode and invalid UTF-8, escapes, secrets at depth
    f.redact.clear();
    f.arguments = {{"deep", deep},
                   {"n", {1.5, -2, 18446744073709551615ull, true}},
                   {"text", "caf\u00e9 \"q\" \\ \n\t\x01 \xff\xfe end"},
                   {"nested", {{"Password", "p"}, {"inner", {{"session_token", "t"}, {"ok", "v"}}}}},
                   {"long", std::string(255, 'a') + "\u00e9" + std::string(40, 'b')}};
    f.agent = "agent \"x\"";
    f.reason = std::string("bad \xc3\x28 utf8");
    cases.push_back(f);
  }
  {
    auto f = facts();  // arguments that are not an object
    f.arguments = nlohmann::json::array({"a", 1});
    f.redact = {"/0"};
    cases.push_back(f);
  }
  for (const auto& f : cases) {
    Record built = make_decision_record(f, **h);
    Record tree{"decision", decision_as_tree(f, **h), {}};
    CHECK(framed(built) == framed(tree));
  }
}

TEST_CASE("an outcome record written as canonical text has the bytes of its JSON tree") {
  OutcomeFacts o{"d-\"1", "ok", 200, std::chrono::microseconds(1234), 18446744073709551615ull, ""};
  Record built = make_outcome_record(o);
  nlohmann::json j;
  j["decision_id"] = o.decision_id;
  j["status"] = o.status;
  j["http_status"] = o.http_status;
  j["upstream_latency_us"] = std::chrono::duration_cast<std::chrono::microseconds>(o.upstream_latency).count();
  j["result_bytes"] = o.result_bytes;
  j["error_class"] = o.error_class;
  CHECK(framed(built) == framed(Record{"outcome", j, {}}));
}

TEST_CASE("canonical fields refuse keys out of order and envelope names") {
  CanonicalFields c;
  c.add_string("b", "x");
  CHECK_THROWS_AS(c.add_string("a", "y"), std::logic_error);
  CanonicalFields d;
  CHECK_THROWS_AS(d.add_int("seq", 1), std::logic_error);
}

TEST_CASE("times are RFC 3339 UTC with nanoseconds") {
  std::chrono::system_clock::time_point t{std::chrono::nanoseconds(1763798400123456789LL)};
  CHECK(format_time(t) == "2025-11-22T08:00:00.123456789Z");
  CHECK(format_time(std::chrono::system_clock::time_point{}) == "1970-01-01T00:00:00.000000000Z");
  CHECK(format_time(std::chrono::system_clock::time_point{std::chrono::nanoseconds(-1)}) ==
        "1969-12-31T23:59:59.999999999Z");
  CHECK(format_time(std::chrono::system_clock::time_point{std::chrono::seconds(4102444799LL)}) ==
        "2099-12-31T23:59:59.000000000Z");
  CHECK(format_time(std::chrono::system_clock::time_point{std::chrono::seconds(951782400LL)}) ==
        "2000-02-29T00:00:00.000000000Z");  // a leap day of a year divisible by 400
}

TEST_CASE("format_time agrees with gmtime_r from 1900 to 2262") {
  // A fixed walk (no randomness): steps of 1,000,003 s plus odd nanoseconds
  // cross every month end, leap day and the 1900/2000/2100/2200 rules, up to
  // where nanoseconds since 1970 overflow 64 bits.
  std::int64_t secs = -2208988800LL;  // 1900-01-01
  int steps = 0;
  for (; secs < 9214646400LL; ++steps, secs += 1000003) {
    long ns = (steps * 7919L) % 1000000000L;
    std::chrono::system_clock::time_point t{std::chrono::seconds(secs) + std::chrono::nanoseconds(ns)};
    std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char want[64];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns);
    if (format_time(t) != want) {
      CHECK(format_time(t) == std::string(want));  // the first mismatch only
      break;
    }
  }
  CHECK(steps > 11000);  // walked the whole range
}

}  // namespace
}  // namespace portcullis::audit
