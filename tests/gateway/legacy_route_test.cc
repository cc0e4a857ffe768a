#include <doctest/doctest.h>

#include "gateway/legacy_route.h"

using namespace portcullis;
using namespace portcullis::gateway;

namespace {

config::Config two_routes() {
  config::Config c;
  config::UpstreamConfig legacy;
  legacy.name = "old";
  legacy.path = "/mcp/old";
  legacy.transport = config::UpstreamTransport::kSse;
  config::UpstreamConfig modern;
  modern.name = "crm";
  modern.path = "/mcp/crm";
  c.upstreams = {legacy, modern};
  return c;
}

}  // namespace

TEST_CASE("a legacy route serves its stream at <path>/sse and at <path>, its messages at <path>/messages") {
  auto c = two_routes();
  auto stream = match_legacy_route(c, "/mcp/old/sse");
  REQUIRE(stream);
  CHECK(stream->upstream->name == "old");
  CHECK(stream->path == LegacyPath::kStream);
  auto bare = match_legacy_route(c, "/mcp/old");
  REQUIRE(bare);
  CHECK(bare->path == LegacyPath::kStream);
  auto messages = match_legacy_route(c, "/mcp/old/messages");
  REQUIRE(messages);
  CHECK(messages->path == LegacyPath::kMessages);
}

TEST_CASE("Streamable HTTP routes and unknown paths are not legacy business") {
  auto c = two_routes();
  CHECK_FALSE(match_legacy_route(c, "/mcp/crm"));
  CHECK_FALSE(match_legacy_route(c, "/mcp/old/other"));
  CHECK_FALSE(match_legacy_route(c, "/mcp/oldsse"));
  CHECK_FALSE(match_legacy_route(c, "/mcp/old/sse/x"));
  CHECK_FALSE(match_legacy_route(c, "/healthz"));
}

TEST_CASE("the legacy paths of a Streamable HTTP route are refused with 404 naming its transport") {
  auto c = two_routes();
  auto r = match_legacy_route(c, "/mcp/crm/sse");
  REQUIRE(r);
  CHECK(r->path == LegacyPath::kOtherTransport);
  auto refusal = legacy_refusal(*r, "GET");
  REQUIRE(refusal);
  CHECK(refusal->status == 404);
  CHECK(refusal->message.find("Streamable HTTP") != std::string::npos);
  CHECK(match_legacy_route(c, "/mcp/crm/messages")->path == LegacyPath::kOtherTransport);
}

TEST_CASE("a route's own path wins over a legacy suffix of another route") {
  auto c = two_routes();
  config::UpstreamConfig sse_named;
  sse_named.name = "x";
  sse_named.path = "/mcp/crm/sse";
  c.upstreams.push_back(sse_named);
  CHECK_FALSE(match_legacy_route(c, "/mcp/crm/sse"));
}

TEST_CASE("a Streamable HTTP client on a legacy route gets 405 saying how to connect, not a hang") {
  auto c = two_routes();
  auto r = *match_legacy_route(c, "/mcp/old");
  CHECK_FALSE(legacy_refusal(r, "GET"));
  for (const char* m : {"POST", "DELETE", "PUT"}) {
    CAPTURE(m);
    auto refusal = legacy_refusal(r, m);
    REQUIRE(refusal);
    CHECK(refusal->status == 405);
    CHECK(refusal->allow == "GET");
    CHECK(refusal->message.find("GET /mcp/old/sse") != std::string::npos);
  }
}

TEST_CASE("the messages path takes POST only") {
  auto c = two_routes();
  auto r = *match_legacy_route(c, "/mcp/old/messages");
  CHECK_FALSE(legacy_refusal(r, "POST"));
  auto refusal = legacy_refusal(r, "GET");
  REQUIRE(refusal);
  CHECK(refusal->status == 405);
  CHECK(refusal->allow == "POST");
}
