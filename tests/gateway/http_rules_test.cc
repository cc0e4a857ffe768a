#include <doctest/doctest.h>

#include "gateway/http_rules.h"

using namespace portcullis::gateway;

TEST_CASE("a POST must accept JSON and event streams") {
  CHECK(post_accept_ok("application/json, text/event-stream"));
  CHECK(post_accept_ok("text/event-stream;q=0.9, application/json"));
  CHECK(post_accept_ok("*/*"));
  CHECK_FALSE(post_accept_ok("application/json"));
  CHECK_FALSE(post_accept_ok(""));
  CHECK_FALSE(post_accept_ok("text/html"));
  CHECK(get_accept_ok("text/event-stream"));
  CHECK_FALSE(get_accept_ok("application/json"));
}

TEST_CASE("content type is matched on the media type only") {
  CHECK(is_json_content_type("application/json"));
  CHECK(is_json_content_type("Application/JSON; charset=utf-8"));
  CHECK_FALSE(is_json_content_type("text/plain"));
  CHECK_FALSE(is_json_content_type("application/jsonx"));
  CHECK(is_event_stream("text/event-stream; charset=utf-8"));
}

TEST_CASE("only known protocol revisions are supported") {
  CHECK(is_supported_protocol_version("2025-06-18"));
  CHECK(is_supported_protocol_version("2025-03-26"));
  CHECK(is_supported_protocol_version("2025-11-25"));
  CHECK_FALSE(is_supported_protocol_version("1999-01-01"));
  CHECK_FALSE(is_supported_protocol_version(""));
}

TEST_CASE("a missing Origin is fine and a present one must be listed") {
  std::vector<std::string> allowed = {"https://app.example.com"};
  CHECK(origin_allowed("", allowed));
  CHECK(origin_allowed("https://app.example.com", allowed));
  CHECK_FALSE(origin_allowed("https://evil.example.com", allowed));
  CHECK_FALSE(origin_allowed("http://localhost", {}));
}

TEST_CASE("access tokens in the query string are detected") {
  CHECK(query_has_access_token("/mcp/crm?access_token=abc"));
  CHECK(query_has_access_token("/mcp/crm?x=1&ACCESS_TOKEN=abc"));
  CHECK_FALSE(query_has_access_token("/mcp/crm?x=access_token"));
  CHECK(query_has_access_token("/mcp/crm?%61ccess_token=abc"));
  CHECK(query_has_access_token("/mcp/crm?access%5Ftoken=abc"));
  CHECK_FALSE(query_has_access_token("/mcp/crm?access%5"));
  CHECK_FALSE(query_has_access_token("/mcp/crm"));
  CHECK(target_path("/mcp/crm?x=1") == "/mcp/crm");
}

TEST_CASE("hop-by-hop headers are recognised in any case") {
  CHECK(is_hop_by_hop("Connection"));
  CHECK(is_hop_by_hop("transfer-encoding"));
  CHECK_FALSE(is_hop_by_hop("Content-Type"));
}
