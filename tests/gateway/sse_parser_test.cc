#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "gateway/sse_parser.h"

using namespace portcullis::gateway;

TEST_CASE("events split across reads are emitted whole, once complete") {
  SseParser p;
  std::vector<SseEvent> ev;
  CHECK(p.feed("event: message\ndata: {\"a\"", ev));
  CHECK(ev.empty());
  CHECK(p.feed(":1}\n", ev));
  CHECK(ev.empty());
  CHECK(p.feed("\nid: 2\ndata: x\n\n", ev));
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].type == "message");
  CHECK(ev[0].data == "{\"a\":1}");
  CHECK(ev[0].raw == "event: message\ndata: {\"a\":1}\n\n");
  CHECK(ev[1].id == "2");
  CHECK(p.pending() == 0);
}

TEST_CASE("CRLF, CR and multi-line data are understood") {
  SseParser p;
  std::vector<SseEvent> ev;
  CHECK(p.feed("data: a\r\ndata: b\r\n\r\ndata: c\r\rdata: d", ev));
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].data == "a\nb");
  CHECK(ev[1].data == "c");
}

TEST_CASE("a CR at the end of a read waits for the next byte") {
  SseParser p;
  std::vector<SseEvent> ev;
  CHECK(p.feed("data: a\r", ev));
  CHECK(p.feed("\n\r", ev));
  CHECK(ev.empty());
  CHECK(p.feed("\n", ev));
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].raw == "data: a\r\n\r\n");
}

TEST_CASE("comments are keepalives and priming events keep their id") {
  SseParser p;
  std::vector<SseEvent> ev;
  CHECK(p.feed(": ping\n\nid: 42\ndata: \n\n", ev));
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].comment_only);
  CHECK(ev[1].id == "42");
  CHECK(ev[1].data.empty());
  CHECK_FALSE(ev[1].comment_only);
}

TEST_CASE("an event over the bound fails the stream") {
  SseParser p(16);
  std::vector<SseEvent> ev;
  CHECK_FALSE(p.feed("data: 0123456789abcdef", ev));
}

TEST_CASE("byte-by-byte input gives the same events") {
  std::string stream = "event: message\ndata: {\"x\":1}\n\n: keep\n\ndata: y\n\n";
  SseParser p;
  std::vector<SseEvent> ev;
  for (char c : stream) CHECK(p.feed(std::string_view(&c, 1), ev));
  REQUIRE(ev.size() == 3);
  CHECK(ev[2].data == "y");
}

TEST_CASE("append_data_lines: a pretty-printed JSON body streamed in pieces reads back as the same JSON") {
  const std::string body = "{\r\n  \"jsonrpc\": \"2.0\",\n  \"id\": 7,\r  \"result\": {\"text\": \"a\\nb\"}\n}\n";
  std::string out = "event: message\ndata: ";
  // Split at every position a read could end, including inside "\r\n".
  append_data_lines(out, body.substr(0, 2));
  append_data_lines(out, body.substr(2, 9));
  append_data_lines(out, body.substr(11));
  out += "\n\n";
  SseParser p;
  std::vector<SseEvent> ev;
  REQUIRE(p.feed(out, ev));
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].type == "message");
  CHECK(p.pending() == 0);
  nlohmann::json got = nlohmann::json::parse(ev[0].data);
  CHECK(got == nlohmann::json::parse(body));
  CHECK(got["result"]["text"] == "a\nb");  // an escaped newline inside a string stays one
  // A compact body stays one data line.
  std::string compact = "data: ";
  append_data_lines(compact, "{\"a\":1}");
  CHECK(compact == "data: {\"a\":1}");
}
