#include <doctest/doctest.h>

#include "gateway/jsonrpc.h"

using namespace portcullis::gateway;

TEST_CASE("a tools/call request yields its method, id, tool name and arguments") {
  auto r = parse_rpc_body(
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_record","arguments":{"id":"r-1","limit":10}}})",
      false);
  REQUIRE(r.ok());
  REQUIRE(r->messages.size() == 1);
  const auto& m = r->messages[0];
  CHECK(m.kind == RpcKind::kRequest);
  CHECK(m.method == "tools/call");
  CHECK(m.id == 7);
  CHECK(m.target == "read_record");
  REQUIRE(m.arguments != nullptr);
  CHECK((*m.arguments)["limit"] == 10);
  // A node of the body's own tree, which a move of the body keeps in place.
  CHECK(m.arguments == &r->json["params"]["arguments"]);
  CHECK(r->first_id() == 7);
  RpcBody moved = std::move(r.value());
  CHECK(moved.messages[0].arguments == &moved.json["params"]["arguments"]);
  CHECK((*moved.messages[0].arguments)["id"] == "r-1");
}

TEST_CASE("resources/read and prompts/get name their target") {
  auto r = parse_rpc_body(R"({"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"config://app"}})", false);
  REQUIRE(r.ok());
  CHECK(r->messages[0].target == "config://app");
  auto p = parse_rpc_body(R"({"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet","arguments":{"name":"x"}}})", false);
  REQUIRE(p.ok());
  CHECK(p->messages[0].target == "greet");
}

TEST_CASE("malformed JSON is a parse error with HTTP 400") {
  auto r = parse_rpc_body(R"({"jsonrpc":"2.0",)", false);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().http_status == 400);
  CHECK(r.error().code == -32700);
}

TEST_CASE("valid JSON that is not JSON-RPC is an invalid request") {
  for (const char* body : {R"({"hello":"world"})", R"({"jsonrpc":"1.0","id":1,"method":"x"})", R"("text")",
                           R"({"jsonrpc":"2.0","id":null,"method":"ping"})", R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})",
                           R"({"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}})",
                           R"({"jsonrpc":"2.0","id":1,"method":""})"}) {
    auto r = parse_rpc_body(body, false);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == -32600);
  }
}

TEST_CASE("a duplicate key anywhere in the body is refused") {
  auto r = parse_rpc_body(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","arguments":{"limit":1,"limit":10000}}})",
      false);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == -32600);
  auto top = parse_rpc_body(R"({"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"})", false);
  CHECK_FALSE(top.ok());
}

TEST_CASE("the same key in sibling objects is not a duplicate") {
  auto r = parse_rpc_body(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":{"x":1},"b":{"x":2}}}})",
      false);
  CHECK(r.ok());
}

TEST_CASE("batches are refused unless the revision allows them") {
  const char* batch = R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}])";
  auto refused = parse_rpc_body(batch, false);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == -32600);
  auto allowed = parse_rpc_body(batch, true);
  REQUIRE(allowed.ok());
  CHECK(allowed->batch);
  CHECK(allowed->messages.size() == 2);
  CHECK(allowed->messages[1].kind == RpcKind::kNotification);
  CHECK_FALSE(parse_rpc_body("[]", true).ok());
}

TEST_CASE("notifications and responses are classified") {
  auto n = parse_rpc_body(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}})", false);
  REQUIRE(n.ok());
  CHECK(n->messages[0].kind == RpcKind::kNotification);
  CHECK_FALSE(n->has_requests());
  auto resp = parse_rpc_body(R"({"jsonrpc":"2.0","id":"s-1","result":{"action":"accept"}})", false);
  REQUIRE(resp.ok());
  CHECK(resp->messages[0].kind == RpcKind::kResponse);
}

TEST_CASE("a tools/call without a tool name or with non-object arguments is invalid params") {
  auto r = parse_rpc_body(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}})", false);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == -32602);
  auto a = parse_rpc_body(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":[1]}})", false);
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == -32602);
}

TEST_CASE("error bodies are JSON-RPC error objects") {
  auto body = rpc_error_body(nullptr, -32700, "Parse error");
  CHECK(body == R"({"error":{"code":-32700,"message":"Parse error"},"id":null,"jsonrpc":"2.0"})");
}
