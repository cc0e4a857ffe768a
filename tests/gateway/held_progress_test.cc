#include <doctest/doctest.h>

#include <vector>

#include "gateway/held_progress.h"
#include "gateway/jsonrpc.h"
#include "gateway/sse_parser.h"

using namespace portcullis::gateway;
using nlohmann::json;

namespace {

json call_with_meta(json meta) {
  return {{"jsonrpc", "2.0"}, {"id", 7}, {"method", "tools/call"},
          {"params", {{"name", "delete_record"}, {"arguments", {{"id", "r-1"}}}, {"_meta", std::move(meta)}}}};
}

}  // namespace

TEST_CASE("progress_token: a string or integer params._meta.progressToken, else null") {
  CHECK(progress_token(call_with_meta({{"progressToken", "tok-1"}})) == "tok-1");
  CHECK(progress_token(call_with_meta({{"progressToken", 7}})) == 7);
  CHECK(progress_token(call_with_meta({{"progressToken", -3}})) == -3);
  // The spec allows only strings and integers: anything else asks for nothing.
  CHECK(progress_token(call_with_meta({{"progressToken", 1.5}})).is_null());
  CHECK(progress_token(call_with_meta({{"progressToken", json::object()}})).is_null());
  CHECK(progress_token(call_with_meta({{"progressToken", nullptr}})).is_null());
  CHECK(progress_token(call_with_meta(json::object())).is_null());
  CHECK(progress_token(call_with_meta("not an object")).is_null());
  CHECK(progress_token(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/call"}}).is_null());
  CHECK(progress_token(json::array()).is_null());
}

TEST_CASE("held_progress_event: one SSE message event with a notifications/progress the parser reads back") {
  std::string ev = held_progress_event("tok-1", 3, "ap_0123");
  SseParser p;
  std::vector<SseEvent> out;
  REQUIRE(p.feed(ev, out));
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == "message");
  CHECK(p.pending() == 0);
  json m;
  REQUIRE(parse_json_strict(out[0].data, m));
  CHECK(m["jsonrpc"] == "2.0");
  CHECK(m["method"] == "notifications/progress");
  CHECK_FALSE(m.contains("id"));  // a notification
  CHECK(m["params"]["progressToken"] == "tok-1");
  CHECK(m["params"]["progress"] == 3);
  CHECK_FALSE(m["params"].contains("total"));  // unknown: how long a human takes
  CHECK(m["params"]["message"] == "held for approval (approval id ap_0123)");
  // An integer token stays an integer (the client matches it by value).
  json n;
  std::vector<SseEvent> out2;
  SseParser p2;
  REQUIRE(p2.feed(held_progress_event(42, 0, "ap_x"), out2));
  REQUIRE(parse_json_strict(out2[0].data, n));
  CHECK(n["params"]["progressToken"] == 42);
  CHECK(n["params"]["progress"] == 0);
}

TEST_CASE("the keepalive is a comment-only SSE event") {
  SseParser p;
  std::vector<SseEvent> out;
  REQUIRE(p.feed(kHeldKeepalive, out));
  REQUIRE(out.size() == 1);
  CHECK(out[0].comment_only);
  CHECK(out[0].data.empty());
}

TEST_CASE("shift_progress: the upstream's progress for the held token continues after the hold's") {
  json up = {{"jsonrpc", "2.0"}, {"method", "notifications/progress"},
             {"params", {{"progressToken", "tok"}, {"progress", 0}, {"total", 10}}}};
  CHECK(shift_progress(up, "tok", 4));
  CHECK(up["params"]["progress"] == 4);
  CHECK(up["params"]["progress"].is_number_integer());
  CHECK(up["params"]["total"] == 14);

  json frac = {{"jsonrpc", "2.0"}, {"method", "notifications/progress"},
               {"params", {{"progressToken", 9}, {"progress", 0.5}}}};
  CHECK(shift_progress(frac, 9, 2));
  CHECK(frac["params"]["progress"].get<double>() == doctest::Approx(2.5));
  CHECK_FALSE(frac["params"].contains("total"));

  // Not touched: another token, another method, nothing sent during the hold.
  json other = {{"jsonrpc", "2.0"}, {"method", "notifications/progress"},
                {"params", {{"progressToken", "other"}, {"progress", 1}}}};
  CHECK_FALSE(shift_progress(other, "tok", 4));
  CHECK(other["params"]["progress"] == 1);
  json log = {{"jsonrpc", "2.0"}, {"method", "notifications/message"}, {"params", {{"progressToken", "tok"}, {"progress", 1}}}};
  CHECK_FALSE(shift_progress(log, "tok", 4));
  json none = up;
  CHECK_FALSE(shift_progress(none, "tok", 0));
  CHECK_FALSE(shift_progress(up, nullptr, 4));
  json result = {{"jsonrpc", "2.0"}, {"id", 1}, {"result", json::object()}};
  CHECK_FALSE(shift_progress(result, "tok", 4));
}
