#include "gateway/legacy_endpoint.h"

#include "gateway/length_prefixed.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

#include "common/ascii.h"
#include "common/url.h"

namespace portcullis::gateway {
namespace {

constexpr std::string_view kPurpose = "portcullis-legacy-sse-endpoint-v1";
constexpr std::size_t kMaxTarget = 2048;

using length_prefixed::get;
using length_prefixed::put;
template <class Int>
bool get_int(std::string_view& in, Int& out) {
  std::string s;
  if (!get(in, s) || s.empty() || s.size() > 20) return false;
  bool negative = s[0] == '-';
  unsigned long long v = 0;
  for (std::size_t i = negative ? 1 : 0; i < s.size(); ++i) {
    if (!ascii::is_digit(s[i])) return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  out = negative ? static_cast<Int>(-static_cast<long long>(v)) : static_cast<Int>(v);
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool has_dot_segment(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  while (!path.empty()) {
    path.remove_prefix(1);  // the '/'
    std::string_view seg = path.substr(0, path.find('/'));
    if (seg == "." || seg == "..") return true;
    path.remove_prefix(seg.size());
  }
  return false;
}

}  // namespace

std::string seal_legacy_handle(const SessionSealer& sealer, const LegacyHandle& h) {
  std::string plain;
  put(plain, h.upstream);
  put(plain, h.principal);
  put(plain, h.message_target);
  put(plain, h.instance);
  put(plain, std::to_string(h.worker));
  put(plain, std::to_string(h.stream));
  put(plain, std::to_string(h.issued_at));
  std::string id = sealer.seal_bytes(plain, kPurpose);
  OPENSSL_cleanse(plain.data(), plain.size());
  return id;
}

Result<LegacyHandle, SessionError> open_legacy_handle(const SessionSealer& sealer, std::string_view id,
                                                      std::chrono::seconds max_age, std::int64_t now) {
  auto opened = sealer.open_bytes(id, kPurpose);
  if (!opened) return Err(opened.error());
  LegacyHandle h;
  std::string_view in(opened.value());
  if (!get(in, h.upstream) || !get(in, h.principal) || !get(in, h.message_target) || !get(in, h.instance) ||
      !get_int(in, h.worker) || !get_int(in, h.stream) || !get_int(in, h.issued_at) || !in.empty())
    return Err(SessionError::kMalformed);
  if (now - h.issued_at > max_age.count() || h.issued_at > now + 300) return Err(SessionError::kExpired);
  return h;
}

Result<std::string> resolve_upstream_endpoint(std::string_view data, const config::UpstreamConfig& up) {
  if (data.empty()) return Err("the endpoint event is empty");
  if (data.size() > kMaxTarget) return Err("the endpoint URI is longer than 2048 bytes");
  for (char ch : data)
    if (static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7f)
      return Err("the endpoint URI holds a space or a control character");
  data = data.substr(0, data.find('#'));

  std::string target;
  std::string_view scheme_part = data.substr(0, data.find_first_of("/?"));
  if (data.substr(0, 2) == "//" || scheme_part.find(':') != std::string_view::npos) {
    // Absolute (or scheme-relative): it must name the upstream's own origin.
    std::string absolute = data.substr(0, 2) == "//" ? up.scheme + ":" + std::string(data) : std::string(data);
    for (std::size_t i = 0; i < absolute.size() && absolute[i] != ':'; ++i)  // schemes are case-insensitive
      absolute[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(absolute[i])));
    auto u = parse_url(absolute);
    if (!u) return Err("the endpoint is not an http(s) URL");
    if (!iequals(u->scheme, up.scheme) || !iequals(u->host, up.host) || u->port != up.port)
      return Err("the endpoint names another origin than the upstream's (" + u->scheme + "://" + u->host + ":" +
                 std::to_string(u->port) + ")");
    target = u->target;
  } else if (data.front() == '/') {
    target = std::string(data);
  } else {
    // Relative to the SSE URL: its directory, or the SSE path itself for "?query".
    std::string_view base = std::string_view(up.target).substr(0, up.target.find('?'));
    if (data.front() == '?') target = std::string(base) + std::string(data);
    else target = std::string(base.substr(0, base.rfind('/') + 1)) + std::string(data);
  }
  if (target.empty() || target.front() != '/') return Err("the endpoint does not resolve to a path");
  if (has_dot_segment(target)) return Err("the endpoint holds a . or .. path segment");
  return target;
}

std::string gateway_endpoint(std::string_view route_path, std::string_view handle) {
  std::string out;
  out.reserve(route_path.size() + handle.size() + 20);
  out.append(route_path);
  out.append("/messages?session=");
  out.append(handle);
  return out;
}

std::string_view endpoint_handle(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    if (pair.substr(0, 8) == "session=") return pair.substr(8);
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
  }
  return {};
}

}  // namespace portcullis::gateway
