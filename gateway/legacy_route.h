// Which requests the legacy HTTP+SSE transport (MCP 2024-11-05) serves, as
// plain functions of the config, the path and the method, so the routing and
// the refusals are unit-tested without a socket.
//
// An upstream with `transport: sse` is served at its route path P:
//   GET  P/sse                    the agent's SSE stream (also GET P, so that a
//                                 client following the spec's backward-compatibility
//                                 procedure, POST then GET on one URL, finds it)
//   POST P/messages?session=H     one JSON-RPC message; H is the sealed handle
//                                 the stream's `endpoint` event named
// Anything else on those paths is refused with a JSON-RPC error that says which
// transport the route speaks, never a hang.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace portcullis::gateway {

enum class LegacyPath {
  kStream,          // GET opens the SSE stream
  kMessages,        // POST carries a message for an open stream
  kOtherTransport,  // P/sse or P/messages of a Streamable HTTP route
};

struct LegacyRoute {
  const config::UpstreamConfig* upstream = nullptr;  // owned by the Config
  LegacyPath path = LegacyPath::kStream;
};

// The legacy route `path` belongs to, or nullopt (then it is not legacy
// business: the Streamable HTTP routes and the gateway's own paths).
std::optional<LegacyRoute> match_legacy_route(const config::Config& cfg, std::string_view path);

// A request the legacy transport refuses before authentication.
struct LegacyRefusal {
  unsigned status;
  std::string message;
  std::string allow;  // Allow header for 405, else empty
};
// nullopt: go on (GET on a stream path, POST on the messages path).
std::optional<LegacyRefusal> legacy_refusal(const LegacyRoute& route, std::string_view http_method);

// The revision the legacy transport belongs to: the default when a POST
// carries no MCP-Protocol-Version header (no JSON-RPC batches).
inline constexpr std::string_view kLegacyProtocolVersion = "2024-11-05";

}  // namespace portcullis::gateway
