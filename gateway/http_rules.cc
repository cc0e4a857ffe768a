#include "gateway/http_rules.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace portcullis::gateway {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The media type of one Accept/Content-Type element, without parameters.
std::string_view media_type(std::string_view element) {
  return trim(element.substr(0, element.find(';')));
}

template <class F>
bool any_element(std::string_view list, F f) {
  while (true) {
    auto comma = list.find(',');
    if (f(media_type(list.substr(0, comma)))) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

bool accepts(std::string_view accept, std::string_view type) {
  std::string_view major = type.substr(0, type.find('/'));
  return any_element(accept, [&](std::string_view m) {
    if (iequals(m, type) || m == "*/*") return true;
    return m.size() == major.size() + 2 && iequals(m.substr(0, major.size()), major) &&
           m.substr(major.size()) == "/*";
  });
}

}  // namespace

bool is_supported_protocol_version(std::string_view v) {
  static constexpr std::array<std::string_view, 4> kVersions = {"2024-11-05", "2025-03-26", "2025-06-18",
                                                                "2025-11-25"};
  return std::find(kVersions.begin(), kVersions.end(), v) != kVersions.end();
}

bool post_accept_ok(std::string_view accept) {
  return accepts(accept, "application/json") && accepts(accept, "text/event-stream");
}

bool get_accept_ok(std::string_view accept) { return accepts(accept, "text/event-stream"); }

bool is_json_content_type(std::string_view ct) { return iequals(media_type(ct), "application/json"); }
bool is_event_stream(std::string_view ct) { return iequals(media_type(ct), "text/event-stream"); }

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed) {
  if (origin.empty()) return true;
  for (const auto& a : allowed)
    if (iequals(a, origin)) return true;
  return false;
}

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

bool query_has_access_token(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return false;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    std::string_view raw_key = pair.substr(0, pair.find('='));
    // Percent-decode the name ("%61ccess_token" is access_token too).
    std::string key;
    for (std::size_t i = 0; i < raw_key.size(); ++i) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      if (raw_key[i] == '%' && i + 2 < raw_key.size() && hex(raw_key[i + 1]) >= 0 && hex(raw_key[i + 2]) >= 0) {
        key += static_cast<char>(hex(raw_key[i + 1]) * 16 + hex(raw_key[i + 2]));
        i += 2;
      } else {
        key += raw_key[i] == '+' ? ' ' : raw_key[i];
      }
    }
    if (iequals(key, "access_token")) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kHop = {
      "connection", "keep-alive",        "proxy-connection", "te",   "trailer",
      "upgrade",    "transfer-encoding", "proxy-authenticate", "proxy-authorization", "http2-settings"};
  for (auto h : kHop)
    if (iequals(h, name)) return true;
  return false;
}

}  // namespace portcullis::gateway
