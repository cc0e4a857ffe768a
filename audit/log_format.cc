#include "audit/log_format.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <stdexcept>

#include "audit/record.h"
#include "common/sha256.h"

namespace portcullis::audit {

namespace {

// Length of the valid UTF-8 sequence at p (RFC 3629 table), 0 if invalid.
std::size_t utf8_len(const unsigned char* p, const unsigned char* end) {
  auto cont = [&](std::size_t i, unsigned char lo, unsigned char hi) {
    return p + i < end && p[i] >= lo && p[i] <= hi;
  };
  unsigned char c = p[0];
  if (c >= 0xC2 && c <= 0xDF) return cont(1, 0x80, 0xBF) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  return 0;
}

// The same bytes nlohmann's dump(-1, ' ', false, replace) writes for a
// string, copying clean runs in bulk instead of byte by byte (the writer
// thread spends most of its time here).
void write_string(std::string& out, std::string_view s) {
  out.push_back('"');
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  auto end = p + s.size();
  auto run = p;
  while (p < end) {
    unsigned char c = *p;
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++p;
      continue;
    }
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        }
      }
      ++p;
    } else if (std::size_t n = utf8_len(p, end)) {
      out.append(reinterpret_cast<const char*>(p), n);
      p += n;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for an invalid byte
      ++p;
    }
    run = p;
  }
  out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
  out.push_back('"');
}

void write_json(std::string& out, const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {  // std::map: sorted keys
        if (!first) out.push_back(',');
        first = false;
        write_string(out, it.key());
        out.push_back(':');
        write_json(out, it.value());
      }
      out.push_back('}');
      return;
    }
    case nlohmann::json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : j) {
        if (!first) out.push_back(',');
        first = false;
        write_json(out, e);
      }
      out.push_back(']');
      return;
    }
    case nlohmann::json::value_t::string:
      write_string(out, j.get_ref<const std::string&>());
      return;
    case nlohmann::json::value_t::number_integer: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, j.get<std::int64_t>());
      out.append(buf, r.ptr);
      return;
    }
    case nlohmann::json::value_t::number_unsigned: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, j.get<std::uint64_t>());
      out.append(buf, r.ptr);
      return;
    }
    case nlohmann::json::value_t::boolean:
      out += j.get<bool>() ? "true" : "false";
      return;
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      out += "null";
      return;
    default:  // floats and binary: rare, keep nlohmann's exact text
      out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
  }
}

}  // namespace

std::string canonical_json(const nlohmann::json& j) {
  std::string out;
  out.reserve(1024);
  write_json(out, j);
  return out;
}

void canonical_json_into(std::string& out, const nlohmann::json& j) { write_json(out, j); }

void canonical_string_into(std::string& out, std::string_view s) { write_string(out, s); }

namespace {

// The envelope keys in byte order, merged into the (sorted) field keys.
struct EnvelopeKey {
  std::string_view name;
  int which;
};
constexpr EnvelopeKey kEnvelopeKeys[] = {{"instance", 0}, {"kind", 1}, {"prev", 2},
                                         {"schema", 3},   {"seq", 4},  {"time", 5}};

void write_envelope_member(std::string& out, const EnvelopeKey& k, const Envelope& env) {
  write_string(out, k.name);
  out.push_back(':');
  switch (k.which) {
    case 0: write_string(out, env.instance); break;
    case 1: write_string(out, env.kind); break;
    case 2: write_string(out, env.prev); break;
    case 3: write_string(out, kSchema); break;
    case 4: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, env.seq);
      out.append(buf, r.ptr);
      break;
    }
    default: write_string(out, env.time); break;
  }
}

}  // namespace

void canonical_record_into(std::string& out, const nlohmann::json& fields, const Envelope& env) {
  const auto& kKeys = kEnvelopeKeys;
  auto emit_env = [&](const EnvelopeKey& k) { write_envelope_member(out, k, env); };
  out.push_back('{');
  bool first = true;
  std::size_t e = 0;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    while (e < std::size(kKeys) && kKeys[e].name < std::string_view(it.key())) {
      if (!first) out.push_back(',');
      first = false;
      emit_env(kKeys[e++]);
    }
    if (!first) out.push_back(',');
    first = false;
    write_string(out, it.key());
    out.push_back(':');
    write_json(out, it.value());
  }
  for (; e < std::size(kKeys); ++e) {
    if (!first) out.push_back(',');
    first = false;
    emit_env(kKeys[e]);
  }
  out.push_back('}');
}

void CanonicalFields::key(std::string_view k) {
  // Programmer errors (the builders in record.cc are fixed): caught by
  // record_test, which compares every builder with the JSON-tree path.
  if (!(last_key_.empty() || last_key_ < k) || is_reserved_field(k))
    throw std::logic_error("CanonicalFields: key '" + std::string(k) + "' out of order or reserved");
  last_key_ = k;
  while (envelope_placed_ < std::size(kEnvelopeKeys) && kEnvelopeKeys[envelope_placed_].name < k)
    envelope_at_[envelope_placed_++] = static_cast<std::uint32_t>(text_.size());
  text_.push_back(',');
  write_string(text_, k);
  text_.push_back(':');
}

void CanonicalFields::add_string(std::string_view k, std::string_view value) {
  key(k);
  write_string(text_, value);
}

void CanonicalFields::add_int(std::string_view k, std::int64_t value) {
  key(k);
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  text_.append(buf, r.ptr);
}

void CanonicalFields::add_uint(std::string_view k, std::uint64_t value) {
  key(k);
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  text_.append(buf, r.ptr);
}

void CanonicalFields::add_null(std::string_view k) {
  key(k);
  text_ += "null";
}

void CanonicalFields::add_json(std::string_view k, const nlohmann::json& value) {
  key(k);
  write_json(text_, value);
}

std::string& CanonicalFields::add_raw(std::string_view k) {
  key(k);
  return text_;
}

nlohmann::json CanonicalFields::to_json() const {
  if (text_.empty()) return nlohmann::json::object();
  return nlohmann::json::parse("{" + text_.substr(1) + "}");
}

void canonical_record_into(std::string& out, const CanonicalFields& fields, const Envelope& env) {
  // Every member is written with a leading comma; the first one becomes '{'.
  std::size_t start = out.size();
  std::string_view text = fields.text_;
  std::size_t pos = 0;
  for (std::size_t e = 0; e < std::size(kEnvelopeKeys); ++e) {
    std::size_t at = e < fields.envelope_placed_ ? fields.envelope_at_[e] : text.size();
    out.append(text.substr(pos, at - pos));
    pos = at;
    out.push_back(',');
    write_envelope_member(out, kEnvelopeKeys[e], env);
  }
  out.append(text.substr(pos));
  out[start] = '{';
  out.push_back('}');
}

void append_line(std::string& out, std::string_view body, std::string* hash) {
  std::string hex = sha256_hex(body);
  out.append(kLinePrefix);
  out.append(hex);
  out.append("\",");
  out.append(body.substr(1));  // body without its opening brace
  out.push_back('\n');
  if (hash) {
    hash->assign("sha256:");
    hash->append(hex);
  }
}

std::string encode_line(std::string_view body, std::string* hash) {
  std::string line;
  line.reserve(kLineHeaderLen + body.size() + 1);
  append_line(line, body, hash);
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
  if (sha256_hex(body) != hex) return fail("hash mismatch (record altered or torn)");
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
    if (data[pos] == '\0' && data.find_first_not_of('\0', pos) == std::string_view::npos) {
      s.zero_tail = data.size() - pos;
      return s;
    }
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
