#include "common/url.h"

#include <arpa/inet.h>

#include <algorithm>

namespace portcullis {
namespace {

bool is_reg_name(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
  });
}

}  // namespace

bool parse_port(std::string_view s, std::uint16_t& out, bool allow_zero) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535 || (v == 0 && !allow_zero)) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}


std::optional<ParsedUrl> parse_url(std::string_view url) {
  ParsedUrl u;
  std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  u.scheme = std::string(url.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  if (url.find_first_of(" \t\r\n#") != std::string_view::npos) return std::nullopt;
  std::string_view rest = url.substr(sep + 3);
  std::size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    if (!is_ipv6(u.host)) return std::nullopt;
    u.ipv6 = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return std::nullopt;
      port = after.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
      if (port.empty()) return std::nullopt;
    }
    if (!is_reg_name(authority)) return std::nullopt;
    u.host = std::string(authority);
  }
  if (port.empty()) {
    u.port = u.scheme == "https" ? 443 : 80;
  } else if (!parse_port(port, u.port, false)) {
    return std::nullopt;
  }
  u.target = std::string(target);
  if (u.target.empty() || u.target[0] == '?') u.target.insert(u.target.begin(), '/');
  return u;
}

}  // namespace portcullis
