#include <doctest/doctest.h>

#include "gateway/mcp2026.h"

using namespace portcullis::gateway;
using namespace portcullis::gateway::mcp2026;
using nlohmann::json;

namespace {

const json kMeta = {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                    {"io.modelcontextprotocol/clientCapabilities", json::object()}};

RpcBody body_of(json msg) {
  auto r = parse_rpc_body(msg.dump(), false);
  REQUIRE(r.ok());
  return std::move(r.value());
}

json call(const std::string& name, json args = json::object()) {
  return {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/call"},
          {"params", {{"name", name}, {"arguments", std::move(args)}, {"_meta", kMeta}}}};
}

MirroredHeaders headers(std::string method, std::optional<std::string> name = std::nullopt,
                        std::string version = "2026-07-28") {
  MirroredHeaders h;
  h.protocol_version = std::move(version);
  h.count_protocol_version = 1;
  h.method = std::move(method);
  h.count_method = 1;
  if (name) {
    h.name = std::move(name);
    h.count_name = 1;
  }
  return h;
}

}  // namespace

TEST_CASE("version selection: the era is modern from 2026-07-28 on, by header or by _meta claim") {
  CHECK(is_modern_version("2026-07-28"));
  CHECK(is_modern_version("2027-01-01"));
  CHECK_FALSE(is_modern_version("2025-11-25"));
  CHECK_FALSE(is_modern_version("v999.0.0"));
  CHECK_FALSE(is_modern_version("2026-7-28"));
  CHECK(is_supported_version("2026-07-28"));
  CHECK(is_supported_version("2025-03-26"));
  CHECK_FALSE(is_supported_version("2027-01-01"));

  MirroredHeaders none;
  CHECK(is_modern_request(body_of(call("echo")), none));  // claim in the body
  json legacy = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"}};
  CHECK_FALSE(is_modern_request(body_of(legacy), none));
  CHECK(is_modern_request(body_of(legacy), headers("tools/list")));  // header names a modern revision
  CHECK_FALSE(is_modern_request(body_of(legacy), headers("tools/list", std::nullopt, "2025-11-25")));
  json response = {{"jsonrpc", "2.0"}, {"id", 1}, {"result", json::object()}};
  CHECK_FALSE(is_modern_request(body_of(response), headers("x")));
}

TEST_CASE("a well-formed modern tools/call passes, with the name Base64-encoded or plain") {
  CHECK_FALSE(check_modern_request(body_of(call("echo")), headers("tools/call", "echo"), nullptr));
  CHECK_FALSE(check_modern_request(body_of(call("echo")), headers("tools/call", "  echo "), nullptr));
  CHECK_FALSE(check_modern_request(body_of(call("Grüße")), headers("tools/call", encode_header_value("Grüße")), nullptr));
  CHECK(encode_header_value("Hello, 世界") == "=?base64?SGVsbG8sIOS4lueVjA==?=");
  CHECK(encode_header_value(" padded ") == "=?base64?IHBhZGRlZCA=?=");
  CHECK(encode_header_value("=?base64?literal?=") == "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=");
  CHECK(encode_header_value("us-west1") == "us-west1");
}

TEST_CASE("header/body mismatches are -32020 with HTTP 400") {
  auto expect_mismatch = [](const RpcBody& b, const MirroredHeaders& h) {
    auto r = check_modern_request(b, h, nullptr);
    REQUIRE(r);
    CHECK(r->http_status == 400);
    CHECK(r->code == kHeaderMismatch);
  };
  auto b = body_of(call("echo"));
  expect_mismatch(b, headers("tools/call", "other"));
  expect_mismatch(b, headers("tools/list", "echo"));
  expect_mismatch(b, headers("TOOLS/CALL", "echo"));  // values are case-sensitive
  expect_mismatch(b, headers("tools/call"));          // Mcp-Name missing
  auto no_method = headers("tools/call", "echo");
  no_method.count_method = 0;
  no_method.method.reset();
  expect_mismatch(b, no_method);
  auto no_version = headers("tools/call", "echo");
  no_version.count_protocol_version = 0;
  no_version.protocol_version.reset();
  expect_mismatch(b, no_version);
  expect_mismatch(b, headers("tools/call", "echo", "2025-11-25"));  // altered version header
  auto twice = headers("tools/call", "echo");
  twice.count_name = 2;
  expect_mismatch(b, twice);
  expect_mismatch(b, headers("tools/call", "=?base64?not base64?="));
  expect_mismatch(b, headers("tools/call", "=?base64?ZWNobw?=X"));  // not the sentinel: plain, differs
  // resources/read names the URI, tasks/* the taskId.
  json read = {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "resources/read"},
               {"params", {{"uri", "file:///a b"}, {"_meta", kMeta}}}};
  CHECK_FALSE(check_modern_request(body_of(read), headers("resources/read", "file:///a b"), nullptr));
  expect_mismatch(body_of(read), headers("resources/read", "file:///other"));
  json task = {{"jsonrpc", "2.0"}, {"id", 3}, {"method", "tasks/get"}, {"params", {{"taskId", "t-1"}, {"_meta", kMeta}}}};
  CHECK_FALSE(check_modern_request(body_of(task), headers("tasks/get", "t-1"), nullptr));
  expect_mismatch(body_of(task), headers("tasks/get"));
}

TEST_CASE("_meta problems are -32602, unsupported versions -32022, removed methods 404/-32601") {
  json no_meta = {{"jsonrpc", "2.0"}, {"id", 101}, {"method", "server/discover"}, {"params", json::object()}};
  auto r = check_modern_request(body_of(no_meta), headers("server/discover"), nullptr);
  REQUIRE(r);
  CHECK(r->code == -32602);
  CHECK(r->http_status == 400);
  CHECK(json::parse(r->body(101))["id"] == 101);

  json no_caps = {{"jsonrpc", "2.0"}, {"id", 104}, {"method", "server/discover"},
                  {"params", {{"_meta", {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}}}}}};
  r = check_modern_request(body_of(no_caps), headers("server/discover"), nullptr);
  REQUIRE(r);
  CHECK(r->code == -32602);

  json future = {{"jsonrpc", "2.0"}, {"id", 301}, {"method", "server/discover"},
                 {"params", {{"_meta", {{"io.modelcontextprotocol/protocolVersion", "v999.0.0"},
                                        {"io.modelcontextprotocol/clientCapabilities", json::object()}}}}}};
  r = check_modern_request(body_of(future), headers("server/discover", std::nullopt, "v999.0.0"), nullptr);
  REQUIRE(r);
  CHECK(r->code == kUnsupportedProtocolVersion);
  CHECK(r->data["supported"] == json::array({"2026-07-28"}));
  CHECK(r->data["requested"] == "v999.0.0");
  // Body and header disagree: the mismatch wins.
  r = check_modern_request(body_of(future), headers("server/discover"), nullptr);
  REQUIRE(r);
  CHECK(r->code == kHeaderMismatch);

  for (const char* m : {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}) {
    json removed = {{"jsonrpc", "2.0"}, {"id", 500}, {"method", m}, {"params", {{"_meta", kMeta}}}};
    r = check_modern_request(body_of(removed), headers(m), nullptr);
    REQUIRE(r);
    CHECK(r->http_status == 404);
    CHECK(r->code == -32601);
  }
}

TEST_CASE("Mcp-Param-* headers are checked against the arguments at their x-mcp-header path") {
  json schema = json::parse(R"({"type":"object","properties":{
      "region":{"type":"string","x-mcp-header":"Region"},
      "limit":{"type":"integer","x-mcp-header":"Limit"},
      "dry":{"type":"boolean","x-mcp-header":"Dry"},
      "target":{"type":"object","properties":{"tenant":{"type":"string","x-mcp-header":"Tenant"}}},
      "query":{"type":"string"}}})");
  std::vector<ParamHeader> declared;
  std::string why;
  REQUIRE(x_mcp_headers(schema, declared, why));
  CHECK(declared.size() == 4);

  auto b = body_of(call("sql", {{"region", "us-west1"}, {"limit", 42}, {"dry", true},
                                {"target", {{"tenant", "Ünïcode"}}}, {"query", "select"}}));
  auto h = headers("tools/call", "sql");
  h.params = {{"Region", "us-west1"}, {"limit", "42.0"}, {"DRY", "true"}, {"Tenant", encode_header_value("Ünïcode")}};
  CHECK_FALSE(check_modern_request(b, h, &schema));
  // Unknown to Portcullis (no schema): only well-formedness is checked.
  CHECK_FALSE(check_modern_request(b, h, nullptr));

  auto wrong = h;
  wrong.params[0].second = "eu-west1";
  auto r = check_modern_request(b, wrong, &schema);
  REQUIRE(r);
  CHECK(r->code == kHeaderMismatch);
  wrong = h;
  wrong.params[1].second = "43";
  CHECK(check_modern_request(b, wrong, &schema));
  wrong = h;
  wrong.params.pop_back();  // value in the body, header missing
  CHECK(check_modern_request(b, wrong, &schema));
  wrong = h;
  wrong.params.push_back({"Region", "us-west1"});  // repeated
  CHECK(check_modern_request(b, wrong, &schema));
  wrong = h;
  wrong.params.push_back({"Other", "=?base64?%%%?="});  // malformed even though unknown
  CHECK(check_modern_request(b, wrong, nullptr));

  // Absent (or null) argument: the header must be absent too.
  auto partial = body_of(call("sql", {{"region", "us-west1"}, {"limit", nullptr}}));
  auto hp = headers("tools/call", "sql");
  hp.params = {{"Region", "us-west1"}};
  CHECK_FALSE(check_modern_request(partial, hp, &schema));
  hp.params.push_back({"Limit", "1"});
  CHECK(check_modern_request(partial, hp, &schema));
}

TEST_CASE("invalid x-mcp-header annotations drop the tool from tools/list") {
  json list = json::parse(R"({"tools":[
      {"name":"ok","inputSchema":{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"A"}}}},
      {"name":"number","inputSchema":{"type":"object","properties":{"a":{"type":"number","x-mcp-header":"A"}}}},
      {"name":"in-items","inputSchema":{"type":"object","properties":{"a":{"type":"array","items":{"type":"string","x-mcp-header":"A"}}}}},
      {"name":"in-oneof","inputSchema":{"type":"object","oneOf":[{"properties":{"a":{"type":"string","x-mcp-header":"A"}}}]}},
      {"name":"dup","inputSchema":{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"X"},"b":{"type":"string","x-mcp-header":"x"}}}},
      {"name":"bad-token","inputSchema":{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"A B"}}}},
      {"name":"plain","inputSchema":{"type":"object"}}]})");
  auto dropped = drop_invalid_tools(list);
  CHECK(dropped.size() == 5);
  REQUIRE(list["tools"].size() == 2);
  CHECK(list["tools"][0]["name"] == "ok");
  CHECK(list["tools"][1]["name"] == "plain");
}

TEST_CASE("a filtered result is never passed on as publicly cacheable") {
  json r = {{"resultType", "complete"}, {"tools", json::array()}, {"ttlMs", 60000}, {"cacheScope", "public"}};
  CHECK(make_private(r));
  CHECK(r["cacheScope"] == "private");
  CHECK(r["ttlMs"] == 0);
  CHECK_FALSE(make_private(r));
  json legacy = {{"tools", json::array()}};
  CHECK_FALSE(make_private(legacy));
  CHECK_FALSE(legacy.contains("cacheScope"));
}

TEST_CASE("header values: sentinel decoding is strict") {
  CHECK(decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=") == std::optional<std::string>("Hello, 世界"));
  CHECK(decode_header_value("  plain  ") == std::optional<std::string>("plain"));
  CHECK_FALSE(decode_header_value("=?base64?/w==?="));       // not UTF-8
  CHECK_FALSE(decode_header_value("=?base64?SGVsbG8*?="));    // not base64
  CHECK_FALSE(decode_header_value("=?base64?SGVsbG8?="));     // padding missing
  CHECK_FALSE(decode_header_value("=?base64?SGVs!!!bG8=?="));  // foreign characters
  CHECK(decode_header_value("=?base64?SGVsbG8=?=") == std::optional<std::string>("Hello"));
  CHECK(decode_header_value("=?base64?SGVsbG8=") == std::optional<std::string>("=?base64?SGVsbG8="));  // no suffix: literal
  CHECK_FALSE(decode_header_value("caf\xc3\xa9"));            // raw non-ASCII
  CHECK_FALSE(decode_header_value(std::string("a\x01z")));    // control character
  CHECK(decode_header_value("=?BASE64?eA==?=") == std::optional<std::string>("=?BASE64?eA==?="));  // markers are case-sensitive
}

TEST_CASE("Portcullis's own results carry resultType for modern clients") {
  auto out = json::parse(with_result_type(R"({"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}})"));
  CHECK(out["result"]["resultType"] == "complete");
  std::string error = R"({"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unknown tool: x"}})";
  CHECK(with_result_type(error) == error);
  std::string typed = R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}})";
  CHECK(with_result_type(typed) == typed);
}
