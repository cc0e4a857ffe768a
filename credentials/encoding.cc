#include "credentials/encoding.h"

#include <cstdint>

namespace portcullis::credentials {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

std::string b64(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (std::uint8_t(in[i]) << 16) | (std::uint8_t(in[i + 1]) << 8) | std::uint8_t(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  std::size_t rest = in.size() - i;
  if (rest == 1) {
    std::uint32_t v = std::uint8_t(in[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    std::uint32_t v = (std::uint8_t(in[i]) << 16) | (std::uint8_t(in[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

// Decodes into `out` (pre-sized by the caller to an upper bound); returns the
// decoded length or -1.
long b64_decode_into(std::string_view text, unsigned char* out) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return -1;
  std::uint32_t acc = 0;
  int bits = 0;
  long n = 0;
  for (char c : text) {
    int v = b64_value(c);
    if (v < 0) return -1;
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<unsigned char>((acc >> bits) & 0xff);
    }
  }
  // Canonical encodings only: leftover bits must be zero, so two different
  // texts never decode to the same bytes (the vault relies on this).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return -1;
  return n;
}

}  // namespace

std::string hex_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::optional<Secret> hex_decode_secret(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  Secret out = Secret::zeroed(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.mutable_data()[i] = static_cast<unsigned char>((hi << 4) | lo);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) { return b64(bytes, kB64, true); }
std::string base64url_encode(std::string_view bytes) { return b64(bytes, kB64Url, false); }

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out(text.size() * 3 / 4 + 3, '\0');
  long n = b64_decode_into(text, reinterpret_cast<unsigned char*>(out.data()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<Secret> base64_decode_secret(std::string_view text) {
  Secret buf = Secret::zeroed(text.size() * 3 / 4 + 3);
  long n = b64_decode_into(text, buf.mutable_data());
  if (n < 0) return std::nullopt;
  return Secret(std::string_view(reinterpret_cast<const char*>(buf.data()), static_cast<std::size_t>(n)));
}

std::string form_urlencode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4] - ('a' - 'A') * (kHex[c >> 4] >= 'a');
      out += kHex[c & 15] - ('a' - 'A') * (kHex[c & 15] >= 'a');
    }
  }
  return out;
}

}  // namespace portcullis::credentials
