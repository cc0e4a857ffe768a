#include "audit/log_format.h"

#include <algorithm>
#include <cstdio>

#include "audit/digest.h"

namespace portcullis::audit {

std::string canonical_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string encode_line(std::string_view body, std::string* hash) {
  std::string hex = to_hex(sha256(body));
  std::string line;
  line.reserve(kLineHeaderLen + body.size() + 1);
  line.append(kLinePrefix);
  line.append(hex);
  line.append("\",");
  line.append(body.substr(1));  // body without its opening brace
  line.push_back('\n');
  if (hash) *hash = "sha256:" + hex;
  return line;
}

std::optional<DecodedLine> decode_line(std::string_view line, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<DecodedLine> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (line.size() < kLineHeaderLen + 2 || line.substr(0, kLinePrefix.size()) != kLinePrefix ||
      line.substr(kLinePrefix.size() + 64, 2) != "\",")
    return fail("not a record line (bad framing)");
  std::string_view hex = line.substr(kLinePrefix.size(), 64);
  std::string body = "{";
  body.append(line.substr(kLineHeaderLen));
  if (to_hex(sha256(body)) != hex) return fail("hash mismatch (record altered or torn)");
  DecodedLine out;
  out.hash = "sha256:" + std::string(hex);
  out.body = nlohmann::json::parse(body, nullptr, false);
  if (out.body.is_discarded() || !out.body.is_object()) return fail("record is not a JSON object");
  const auto& b = out.body;
  auto str = [&](const char* k) { return b.contains(k) && b[k].is_string(); };
  if (!b.contains("seq") || !b["seq"].is_number_unsigned() || !str("time") || !str("instance") ||
      !str("kind") || !str("prev") || !str("schema") || b.contains("hash"))
    return fail("record envelope incomplete (schema, seq, time, instance, kind, prev)");
  out.seq = b["seq"].get<std::uint64_t>();
  return out;
}

std::string segment_name(std::uint64_t first_seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "audit-%020llu.log", static_cast<unsigned long long>(first_seq));
  return buf;
}

std::optional<std::uint64_t> parse_segment_name(std::string_view name) {
  constexpr std::string_view pre = "audit-", suf = ".log";
  if (name.size() != pre.size() + 20 + suf.size() || name.substr(0, pre.size()) != pre ||
      name.substr(name.size() - suf.size()) != suf)
    return std::nullopt;
  std::uint64_t v = 0;
  for (char c : name.substr(pre.size(), 20)) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::vector<std::string> sorted_segments(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names)
    if (parse_segment_name(n)) out.push_back(n);
  std::sort(out.begin(), out.end());  // fixed-width numbers sort as text
  return out;
}

SegmentScan scan_segment(std::string_view data) {
  SegmentScan s;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) {
      s.bad = true;
      s.incomplete_tail = true;
      s.bad_offset = pos;
      s.bad_reason = "incomplete last line (torn write or write in progress)";
      return s;
    }
    std::string why;
    auto d = decode_line(data.substr(pos, nl - pos), &why);
    if (!d) {
      s.bad = true;
      s.bad_offset = pos;
      s.bad_reason = why;
      // Is there any valid record after the bad one? Then this is not a torn
      // tail but damage in the middle.
      std::size_t p = nl + 1;
      while (p < data.size()) {
        std::size_t n2 = data.find('\n', p);
        if (n2 == std::string_view::npos) break;
        if (decode_line(data.substr(p, n2 - p), nullptr)) {
          s.valid_after_bad = true;
          break;
        }
        p = n2 + 1;
      }
      return s;
    }
    s.entries.push_back({pos, nl - pos, std::move(*d)});
    pos = nl + 1;
    s.valid_end = pos;
  }
  return s;
}

std::string checkpoint_message(std::string_view instance, std::uint64_t seq, std::string_view hash,
                               std::string_view time) {
  std::string m = "portcullis-audit-checkpoint/v1\n";
  m.append("instance ").append(instance).append("\n");
  m.append("seq ").append(std::to_string(seq)).append("\n");
  m.append("hash ").append(hash).append("\n");
  m.append("time ").append(time).append("\n");
  return m;
}

std::string rotation_message(std::string_view instance, std::uint64_t seq, std::string_view hash,
                             std::string_view new_public_key_b64) {
  std::string m = "portcullis-audit-key-rotation/v1\n";
  m.append("instance ").append(instance).append("\n");
  m.append("seq ").append(std::to_string(seq)).append("\n");
  m.append("hash ").append(hash).append("\n");
  m.append("new_key ").append(new_public_key_b64).append("\n");
  return m;
}

}  // namespace portcullis::audit
