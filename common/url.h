// Absolute http(s) URLs and host:port syntax, shared by config validation and
// the gateway's outbound HTTP client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis {

struct ParsedUrl {
  std::string scheme, host, target;  // target: path and query, at least "/"
  std::uint16_t port = 0;
  bool ipv6 = false;  // host is an IPv6 literal, stored without brackets
};

// http(s)://host[:port][/path][?query]; no userinfo, no fragment.
std::optional<ParsedUrl> parse_url(std::string_view url);
bool parse_port(std::string_view s, std::uint16_t& out, bool allow_zero);
bool is_ipv4(const std::string& s);
bool is_ipv6(const std::string& s);

}  // namespace portcullis
