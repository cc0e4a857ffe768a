// The `endpoint` event of the legacy HTTP+SSE transport (MCP 2024-11-05),
// rewritten: the agent never sees the upstream's message URL (it carries the
// upstream's session id). Its stream's endpoint event names a gateway URL
// instead, <route path>/messages?session=<handle>, where the handle is sealed
// with the gateway's session key (AES-256-GCM, its own associated data, so it
// never opens as an Mcp-Session-Id or the reverse) and binds:
//   - the route and the identity that opened the stream: a POST by another
//     identity, or on another route, is refused;
//   - the upstream's message target, where the POST goes;
//   - the process, worker and stream holding the agent's SSE stream, where the
//     answers a POST cannot carry (policy refusals) are delivered.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"
#include "gateway/legacy_route.h"
#include "gateway/session_sealer.h"

namespace portcullis::gateway {

struct LegacyHandle {
  std::string upstream;        // route (upstream) name
  std::string principal;       // identity key of the stream's opener ("anonymous" without auth)
  std::string message_target;  // the upstream's message endpoint: path and query on its origin
  std::string instance;        // the gateway process holding the stream (random per start)
  std::uint32_t worker = 0;    // its worker
  std::uint64_t stream = 0;    // and the stream's id there
  std::int64_t issued_at = 0;  // unix seconds
};

// What a request on a legacy route carries through the stages.
struct LegacyRequest {
  LegacyPath path = LegacyPath::kStream;
  std::optional<LegacyHandle> handle;  // POSTs, once the handle opened
};

std::string seal_legacy_handle(const SessionSealer& sealer, const LegacyHandle& handle);
// kMalformed, kForged, or kExpired (older than max_age).
Result<LegacyHandle, SessionError> open_legacy_handle(const SessionSealer& sealer, std::string_view id,
                                                      std::chrono::seconds max_age, std::int64_t now_unix);

// The data of the upstream's endpoint event resolved against its SSE URL: the
// target (path and query) to POST messages to. Fails closed: another origin,
// another scheme, dot segments, spaces or control characters are errors
// (messages and the gateway's credential go nowhere but the upstream's origin).
Result<std::string> resolve_upstream_endpoint(std::string_view data, const config::UpstreamConfig& up);

// The URI the agent's endpoint event carries: <route path>/messages?session=<handle>.
std::string gateway_endpoint(std::string_view route_path, std::string_view handle);

// The `session` query parameter of a request target; empty when absent.
std::string_view endpoint_handle(std::string_view target);

}  // namespace portcullis::gateway
