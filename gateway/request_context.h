// What the stages of one request know about it. Filled by the session
// (routing, JSON-RPC inspection) and enriched by each stage in turn.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "gateway/jsonrpc.h"
#include "gateway/legacy_endpoint.h"
#include "gateway/session_sealer.h"
#include "identity/principal.h"
#include "policy/decision.h"

namespace portcullis::gateway {

// One decided message of the request (tools/call, resources/read, prompts/get).
struct CallDecision {
  std::size_t message = 0;  // index into RequestContext::rpc.messages
  std::string decision_id;
  bool hidden = false;      // tools/call of a tool the agent may not see
  // What was decided when it is not the message's own target: a URI a
  // subscriptions/listen subscribes to (decided as a resources/read of it).
  std::string target;
  policy::Decision decision;
};

struct RequestContext {
  RequestContext() = default;
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;
  ~RequestContext();

  std::string request_id;
  std::chrono::steady_clock::time_point start;
  std::string http_method;
  const config::UpstreamConfig* upstream = nullptr;  // owned by the request's Runtime
  RpcBody rpc;                                       // POST bodies only
  std::optional<SessionClaims> session;              // from a valid Mcp-Session-Id
  std::optional<LegacyRequest> legacy;               // legacy HTTP+SSE routes only (legacy_sse.h)
  std::string protocol_version;                      // header, else session, else default
  bool modern = false;                               // a 2026-07-28 (stateless) request
  std::string principal_key = "anonymous";           // what sessions are bound to
  identity::PrincipalPtr principal;                  // null on `auth: none` routes
  // The agent's raw token: only a token_exchange provider reads it (as the
  // subject token); it never goes upstream as such. Wiped with the context.
  std::string bearer;
  std::vector<CallDecision> decisions;                 // set by the decide stage
  bool keep_alive = true;
  unsigned status = 0;  // the status sent downstream, for the access log
  // A held call's answer began as an SSE stream (header sent, body chunked):
  // whatever answers the call goes into it as events (connection.cc, proxy.cc).
  bool stream_open = false;
  nlohmann::json progress_token;    // the held request's progress token, when it asked for progress
  std::uint64_t progress_sent = 0;  // progress notifications the hold sent for it
  // Filled by forward for the outcome record.
  unsigned upstream_status = 0;
  std::uint64_t result_bytes = 0;
  std::string error_class;  // empty: ok
  std::chrono::steady_clock::time_point forwarded_at;
};

}  // namespace portcullis::gateway
