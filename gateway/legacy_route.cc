#include "gateway/legacy_route.h"

namespace portcullis::gateway {

std::optional<LegacyRoute> match_legacy_route(const config::Config& cfg, std::string_view path) {
  using config::UpstreamTransport;
  // A route's own path wins (a Streamable HTTP route may be named .../sse).
  if (const auto* up = cfg.upstream_by_path(path)) {
    if (up->transport == UpstreamTransport::kSse) return LegacyRoute{up, LegacyPath::kStream};
    return std::nullopt;
  }
  for (const auto& up : cfg.upstreams) {
    bool sse = up.transport == UpstreamTransport::kSse;
    if (path.size() <= up.path.size() || path.substr(0, up.path.size()) != up.path) continue;
    std::string_view rest = path.substr(up.path.size());
    if (rest == "/sse") return LegacyRoute{&up, sse ? LegacyPath::kStream : LegacyPath::kOtherTransport};
    if (rest == "/messages") return LegacyRoute{&up, sse ? LegacyPath::kMessages : LegacyPath::kOtherTransport};
  }
  return std::nullopt;
}

std::optional<LegacyRefusal> legacy_refusal(const LegacyRoute& route, std::string_view method) {
  const std::string& p = route.upstream->path;
  switch (route.path) {
    case LegacyPath::kOtherTransport:
      return LegacyRefusal{404,
                           "Not found: " + p + " serves the Streamable HTTP transport (POST and GET " + p +
                               "); the legacy HTTP+SSE transport (2024-11-05) is served only for upstreams with "
                               "transport: sse",
                           ""};
    case LegacyPath::kStream:
      if (method == "GET") return std::nullopt;
      return LegacyRefusal{405,
                           "Method not allowed: " + p +
                               " serves the legacy HTTP+SSE transport (2024-11-05), not Streamable HTTP: open "
                               "GET " + p + "/sse and POST each message to the URL of its endpoint event",
                           "GET"};
    case LegacyPath::kMessages:
      if (method == "POST") return std::nullopt;
      return LegacyRefusal{405,
                           "Method not allowed: POST messages here, with the session the endpoint event of GET " +
                               p + "/sse named",
                           "POST"};
  }
  return std::nullopt;
}

}  // namespace portcullis::gateway
