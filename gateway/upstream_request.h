// What every request to an upstream carries, whichever transport relays it
// (Streamable HTTP in proxy.cc, legacy HTTP+SSE in legacy_sse.cc).
#pragma once

#include <string>

#include "config/config.h"
#include "credentials/provider.h"
#include "gateway/request_context.h"

namespace portcullis::gateway {

// The Host header for the upstream: host[:port], IPv6 in brackets, the
// scheme's default port left out.
std::string host_header(const config::UpstreamConfig& up);

// Whom the upstream credential is for: the agent (or "anonymous"), its user,
// and the agent's token where a provider exchanges it (RFC 8693).
credentials::CallIdentity call_identity(const RequestContext& ctx);

}  // namespace portcullis::gateway
