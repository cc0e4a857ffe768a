#include "common/encoding.h"

#include <array>
#include <cstdint>

#include "common/ascii.h"

namespace portcullis::encoding {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One table per alphabet choice: the 6-bit value of each character, -1 for
// characters outside it.
using Table = std::array<std::int8_t, 256>;
constexpr Table make_table(bool standard, bool url) {
  Table t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 62; ++i) t[static_cast<unsigned char>(kStandard[i])] = static_cast<std::int8_t>(i);
  if (standard) t['+'] = 62, t['/'] = 63;
  if (url) t['-'] = 62, t['_'] = 63;
  return t;
}
constexpr Table kStandardTable = make_table(true, false);
constexpr Table kUrlTable = make_table(false, true);
constexpr Table kEitherTable = make_table(true, true);

const Table& table_for(Base64Alphabet a) {
  switch (a) {
    case Base64Alphabet::kStandard: return kStandardTable;
    case Base64Alphabet::kUrl: return kUrlTable;
    case Base64Alphabet::kEither: break;
  }
  return kEitherTable;
}

std::string encode(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k])); };
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    out += alphabet[v & 63];
  }
  std::size_t rest = in.size() - i;
  if (rest == 0) return out;
  std::uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
  out += alphabet[v >> 18 & 63];
  out += alphabet[v >> 12 & 63];
  if (rest == 2) out += alphabet[v >> 6 & 63];
  if (pad) out.append(3 - rest, '=');
  return out;
}

}  // namespace

std::string hex_encode(std::string_view bytes) {
  std::string out(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHexDigits[b >> 4];
    out[2 * i + 1] = kHexDigits[b & 15];
  }
  return out;
}

bool hex_decode_into(std::string_view hex, unsigned char* out) {
  if (hex.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < hex.size() / 2; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

std::optional<std::string> hex_decode(std::string_view hex) {
  std::string out(hex.size() / 2, '\0');
  if (!hex_decode_into(hex, reinterpret_cast<unsigned char*>(out.data()))) return std::nullopt;
  return out;
}

std::string base64_encode(std::string_view bytes) { return encode(bytes, kStandard, true); }
std::string base64url_encode(std::string_view bytes) { return encode(bytes, kUrl, false); }

std::optional<std::size_t> base64_decode_into(std::string_view text, Base64Rules rules, unsigned char* out) {
  std::size_t pads = 0;
  while (pads < text.size() && text[text.size() - 1 - pads] == '=') ++pads;
  if (pads > 0) {
    // Only the padding of a whole final quantum: "QQ==" or "QUI=".
    if (rules.padding == Base64Padding::kForbidden || pads > 2 || text.size() % 4 != 0) return std::nullopt;
    text.remove_suffix(pads);
    if (text.size() % 4 != 4 - pads) return std::nullopt;
  } else if (rules.padding == Base64Padding::kRequired && text.size() % 4 != 0) {
    return std::nullopt;
  }
  if (text.size() % 4 == 1) return std::nullopt;  // no length encodes a quarter byte
  const Table& t = table_for(rules.alphabet);
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t n = 0;
  for (char c : text) {
    std::int8_t v = t[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<unsigned char>(acc >> bits & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return n;
}

std::optional<std::string> base64_decode(std::string_view text, Base64Rules rules) {
  std::string out(base64_decoded_max(text.size()), '\0');
  auto n = base64_decode_into(text, rules, reinterpret_cast<unsigned char*>(out.data()));
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

std::string form_urlencode(std::string_view s) {
  static constexpr char kUpperHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (char c : s) {
    if (ascii::is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      const auto u = static_cast<unsigned char>(c);
      out += '%';
      out += kUpperHex[u >> 4];
      out += kUpperHex[u & 15];
    }
  }
  return out;
}

}  // namespace portcullis::encoding
