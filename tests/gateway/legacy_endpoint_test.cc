#include <doctest/doctest.h>

#include "gateway/legacy_endpoint.h"

using namespace portcullis;
using namespace portcullis::gateway;
using namespace std::chrono_literals;

namespace {

LegacyHandle sample(std::int64_t t) {
  LegacyHandle h;
  h.upstream = "old";
  h.principal = "https://idp|agent-a|";
  h.message_target = "/messages?sessionId=3f1c-upstream-uuid";
  h.instance = "a1b2c3d4e5f60718";
  h.worker = 1;
  h.stream = 42;
  h.issued_at = t;
  return h;
}

config::UpstreamConfig upstream(const std::string& scheme, const std::string& host, std::uint16_t port,
                                const std::string& target) {
  config::UpstreamConfig u;
  u.name = "old";
  u.scheme = scheme;
  u.host = host;
  u.port = port;
  u.target = target;
  return u;
}

}  // namespace

TEST_CASE("a sealed legacy handle opens to the same fields") {
  SessionSealer s(SessionSealer::random_key());
  auto id = seal_legacy_handle(s, sample(1000));
  for (char c : id) CHECK(((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'));
  auto h = open_legacy_handle(s, id, 3600s, 1010);
  REQUIRE(h.ok());
  CHECK(h->upstream == "old");
  CHECK(h->principal == "https://idp|agent-a|");
  CHECK(h->message_target == "/messages?sessionId=3f1c-upstream-uuid");
  CHECK(h->instance == "a1b2c3d4e5f60718");
  CHECK(h->worker == 1);
  CHECK(h->stream == 42);
  CHECK(h->issued_at == 1000);
}

TEST_CASE("the upstream's message URL and session id do not show in the handle") {
  SessionSealer s(SessionSealer::random_key());
  auto id = seal_legacy_handle(s, sample(1000));
  CHECK(id.find("3f1c-upstream-uuid") == std::string::npos);
  CHECK(id.find("messages") == std::string::npos);
  CHECK(seal_legacy_handle(s, sample(1000)) != id);  // fresh nonce
}

TEST_CASE("a handle sealed with another key, or tampered with, is forged") {
  SessionSealer a(SessionSealer::random_key()), b(SessionSealer::random_key());
  auto id = seal_legacy_handle(a, sample(1000));
  CHECK(open_legacy_handle(b, id, 3600s, 1000).error() == SessionError::kForged);
  id[id.size() / 2] = id[id.size() / 2] == 'A' ? 'B' : 'A';
  CHECK_FALSE(open_legacy_handle(a, id, 3600s, 1000).ok());
}

TEST_CASE("a legacy handle never opens as a session id, nor a session id as a legacy handle") {
  SessionSealer s(SessionSealer::random_key());
  auto handle = seal_legacy_handle(s, sample(1000));
  auto r = s.open(handle, 3600s, 1000);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == SessionError::kForged);
  auto sid = s.seal({"old", "/messages?sessionId=x", "p", "2024-11-05", 1000});
  auto h = open_legacy_handle(s, sid, 3600s, 1000);
  REQUIRE_FALSE(h.ok());
  CHECK(h.error() == SessionError::kForged);
}

TEST_CASE("an expired or future-dated handle is refused") {
  SessionSealer s(SessionSealer::random_key());
  auto id = seal_legacy_handle(s, sample(1000));
  CHECK(open_legacy_handle(s, id, 3600s, 1000 + 3601).error() == SessionError::kExpired);
  CHECK(open_legacy_handle(s, id, 3600s, 1000 - 301).error() == SessionError::kExpired);
  CHECK(open_legacy_handle(s, "", 3600s, 1000).error() == SessionError::kMalformed);
  CHECK(open_legacy_handle(s, "%%%", 3600s, 1000).error() == SessionError::kMalformed);
}

TEST_CASE("the SDK's relative endpoint resolves to a path on the upstream") {
  auto up = upstream("http", "127.0.0.1", 9000, "/sse");
  auto t = resolve_upstream_endpoint("/messages?sessionId=abc-123", up);
  REQUIRE(t.ok());
  CHECK(*t == "/messages?sessionId=abc-123");
}

TEST_CASE("relative endpoints resolve against the SSE URL's directory") {
  auto up = upstream("http", "127.0.0.1", 9000, "/v1/sse?tenant=a");
  CHECK(*resolve_upstream_endpoint("messages/?session_id=1", up) == "/v1/messages/?session_id=1");
  CHECK(*resolve_upstream_endpoint("?session_id=1", up) == "/v1/sse?session_id=1");
  CHECK(*resolve_upstream_endpoint("/m#frag", up) == "/m");
}

TEST_CASE("an absolute endpoint must name the upstream's own origin") {
  auto up = upstream("http", "127.0.0.1", 9000, "/sse");
  CHECK(*resolve_upstream_endpoint("http://127.0.0.1:9000/messages?sessionId=1", up) == "/messages?sessionId=1");
  CHECK(*resolve_upstream_endpoint("HTTP://127.0.0.1:9000/m", up) == "/m");
  CHECK(*resolve_upstream_endpoint("//127.0.0.1:9000/m", up) == "/m");
  auto other_port = resolve_upstream_endpoint("http://127.0.0.1:9001/messages", up);
  REQUIRE_FALSE(other_port.ok());
  CHECK(other_port.error().message.find("another origin") != std::string::npos);
  CHECK_FALSE(resolve_upstream_endpoint("http://evil.example/messages", up).ok());
  CHECK_FALSE(resolve_upstream_endpoint("https://127.0.0.1:9000/messages", up).ok());
  CHECK_FALSE(resolve_upstream_endpoint("//evil.example/m", up).ok());
  auto tls = upstream("https", "mcp.example.com", 443, "/sse");
  CHECK(*resolve_upstream_endpoint("https://MCP.example.com/m?x=1", tls) == "/m?x=1");
}

TEST_CASE("endpoints that could smuggle requests or leave the origin are refused") {
  auto up = upstream("http", "127.0.0.1", 9000, "/sse");
  for (std::string_view bad : {"", "/m x", "/m\r\nHost: evil", "/m\t", "javascript:alert(1)", "ftp://127.0.0.1:9000/m",
                               "/a/../admin", "/./m", "../m", "http://user@127.0.0.1:9000/m"}) {
    CAPTURE(bad);
    CHECK_FALSE(resolve_upstream_endpoint(bad, up).ok());
  }
  CHECK_FALSE(resolve_upstream_endpoint(std::string(3000, 'a'), up).ok());
}

TEST_CASE("the agent's endpoint names the route's messages path with the handle") {
  CHECK(gateway_endpoint("/mcp/old", "HANDLE_1-x") == "/mcp/old/messages?session=HANDLE_1-x");
  CHECK(endpoint_handle("/mcp/old/messages?session=HANDLE_1-x") == "HANDLE_1-x");
  CHECK(endpoint_handle("/mcp/old/messages?a=1&session=H&b=2") == "H");
  CHECK(endpoint_handle("/mcp/old/messages?sessions=H") == "");
  CHECK(endpoint_handle("/mcp/old/messages") == "");
  CHECK(endpoint_handle("/mcp/old/messages?") == "");
}
