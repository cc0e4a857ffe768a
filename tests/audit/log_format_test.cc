#include "audit/log_format.h"

#include <doctest/doctest.h>

#include "common/sha256.h"

namespace portcullis::audit {
namespace {

std::string body_for(std::uint64_t seq, const std::string& prev = std::string(kGenesisHash)) {
  nlohmann::json j = {{"schema", "portcullis.audit/v1"}, {"seq", seq}, {"time", "2026-11-22T08:00:00.000000001Z"},
                      {"instance", "gw-1"}, {"kind", "decision"}, {"prev", prev}, {"agent", "a"}};
  return canonical_json(j);
}

TEST_CASE("a framed line decodes to the same body and its hash is SHA-256 of the body") {
  std::string body = body_for(1);
  std::string hash;
  std::string line = encode_line(body, &hash);
  CHECK(line.back() == '\n');
  CHECK(hash == "sha256:" + sha256_hex(body));
  CHECK(line.rfind("{\"hash\":\"" + hash + "\",", 0) == 0);
  auto parsed = nlohmann::json::parse(line);  // the line itself is plain JSON
  CHECK(parsed["hash"] == hash);
  std::string why;
  auto d = decode_line(std::string_view(line).substr(0, line.size() - 1), &why);
  REQUIRE(d);
  CHECK(d->hash == hash);
  CHECK(d->seq == 1);
  CHECK(d->body == nlohmann::json::parse(body));
}

TEST_CASE("a line with one changed byte fails its hash") {
  std::string line = encode_line(body_for(1), nullptr);
  auto pos = line.find("\"agent\":\"a\"");
  line[pos + 9] = 'b';
  std::string why;
  CHECK_FALSE(decode_line(std::string_view(line).substr(0, line.size() - 1), &why));
  CHECK(why.find("hash mismatch") != std::string::npos);
}

TEST_CASE("a line without the envelope fields is rejected") {
  std::string line = encode_line("{\"a\":1}", nullptr);
  std::string why;
  CHECK_FALSE(decode_line(std::string_view(line).substr(0, line.size() - 1), &why));
  CHECK(why.find("envelope") != std::string::npos);
}

TEST_CASE("a scan stops at an incomplete last line and calls it a torn tail") {
  std::string hash;
  std::string data = encode_line(body_for(1), &hash);
  std::size_t good = data.size();
  std::string second = encode_line(body_for(2, hash), nullptr);
  data += second.substr(0, second.size() / 2);
  SegmentScan s = scan_segment(data);
  CHECK(s.entries.size() == 1);
  CHECK(s.valid_end == good);
  CHECK(s.bad);
  CHECK(s.incomplete_tail);
  CHECK_FALSE(s.valid_after_bad);
}

TEST_CASE("a scan reports damage followed by valid records as not a torn tail") {
  std::string h1, h2;
  std::string l1 = encode_line(body_for(1), &h1);
  std::string l2 = encode_line(body_for(2, h1), &h2);
  std::string l3 = encode_line(body_for(3, h2), nullptr);
  l2[40] ^= 1;
  SegmentScan s = scan_segment(l1 + l2 + l3);
  CHECK(s.entries.size() == 1);
  CHECK(s.bad);
  CHECK_FALSE(s.incomplete_tail);
  CHECK(s.valid_after_bad);
  CHECK(s.bad_offset == l1.size());
}

TEST_CASE("zeros after the last line end a scan as a preallocated tail, not as damage") {
  std::string h1;
  std::string lines = encode_line(body_for(1), &h1) + encode_line(body_for(2, h1), nullptr);
  SegmentScan s = scan_segment(lines + std::string(4096, '\0'));
  CHECK(s.entries.size() == 2);
  CHECK_FALSE(s.bad);
  CHECK(s.valid_end == lines.size());
  CHECK(s.zero_tail == 4096);
  CHECK(scan_segment(lines).zero_tail == 0);
  CHECK(scan_segment(std::string(100, '\0')).entries.empty());
  CHECK_FALSE(scan_segment(std::string(100, '\0')).bad);
}

TEST_CASE("half a line before the zeros is a torn tail; zeros before a line are damage") {
  std::string h1, h2;
  std::string l1 = encode_line(body_for(1), &h1);
  std::string l2 = encode_line(body_for(2, h1), &h2);
  SegmentScan torn = scan_segment(l1 + l2.substr(0, l2.size() / 2) + std::string(4096, '\0'));
  CHECK(torn.entries.size() == 1);
  CHECK(torn.bad);
  CHECK(torn.incomplete_tail);
  CHECK(torn.zero_tail == 0);
  CHECK(torn.valid_end == l1.size());
  // A record blanked out in the middle: the zeros run into the next line.
  SegmentScan blanked = scan_segment(std::string(l1.size(), '\0') + l2);
  CHECK(blanked.entries.empty());
  CHECK(blanked.bad);
  CHECK_FALSE(blanked.incomplete_tail);
}

TEST_CASE("segment names carry the first seq in 20 digits and sort by it") {
  CHECK(segment_name(42) == "audit-00000000000000000042.log");
  CHECK(parse_segment_name("audit-00000000000000000042.log") == 42u);
  CHECK_FALSE(parse_segment_name("audit-42.log"));
  CHECK_FALSE(parse_segment_name("audit-00000000000000000042.log.corrupt-1"));
  auto s = sorted_segments({"audit-00000000000000000100.log", "x", "audit-00000000000000000002.log"});
  REQUIRE(s.size() == 2);
  CHECK(s[0] == "audit-00000000000000000002.log");
}

}  // namespace
}  // namespace portcullis::audit

namespace portcullis::audit {
namespace {

TEST_CASE("canonical JSON is nlohmann's compact sorted dump, byte for byte") {
  nlohmann::json j = {{"z", 1},
                      {"a", {{"nested", {1, -2, 3.5, true, false, nullptr}}}},
                      {"big", 18446744073709551615ull},
                      {"neg", -9223372036854775807LL},
                      {"ctl", std::string("tab\there \"q\" back\\slash nl\n cr\r bell\x07 del\x7f")},
                      {"utf8", "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"},
                      {"empty", nlohmann::json::object()},
                      {"arr", nlohmann::json::array()}};
  CHECK(canonical_json(j) == j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

TEST_CASE("canonical JSON replaces invalid UTF-8 and stays parseable") {
  nlohmann::json j = {{"bad", std::string("a\xFF" "b\xC3" "c\xED\xA0\x80" "d\xF4\x90\x80\x80")}};
  std::string out = canonical_json(j);
  auto back = nlohmann::json::parse(out, nullptr, false);
  REQUIRE_FALSE(back.is_discarded());
  CHECK(back["bad"].get<std::string>().find("\xEF\xBF\xBD") != std::string::npos);
}

}  // namespace
}  // namespace portcullis::audit

namespace portcullis::audit {
namespace {

TEST_CASE("a record body with its envelope is the canonical JSON of the merged object") {
  nlohmann::json fields = {{"agent", "a"}, {"zeta", {1, 2}}, {"checkpoint", {{"x", 1}}}, {"reason", "r\n"},
                           {"a", nullptr}, {"schemas", "after schema"}, {"tool", "t"}};
  std::string got;
  canonical_record_into(got, fields, Envelope{"gw-1", "decision", kGenesisHash, 42, "2026-11-22T08:00:00.000000001Z"});
  nlohmann::json merged = fields;
  merged["instance"] = "gw-1";
  merged["kind"] = "decision";
  merged["prev"] = kGenesisHash;
  merged["schema"] = "portcullis.audit/v1";
  merged["seq"] = 42;
  merged["time"] = "2026-11-22T08:00:00.000000001Z";
  CHECK(got == canonical_json(merged));
  std::string empty;
  canonical_record_into(empty, nlohmann::json::object(), Envelope{"i", "k", "p", 1, "t"});
  CHECK(nlohmann::json::parse(empty)["seq"] == 1);
}

}  // namespace
}  // namespace portcullis::audit
