// What the stages of one request know about it. Filled by the session
// (routing, JSON-RPC inspection) and enriched by each stage in turn.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "config/config.h"
#include "gateway/jsonrpc.h"
#include "gateway/session_sealer.h"

namespace portcullis::gateway {

struct RequestContext {
  std::string request_id;
  std::chrono::steady_clock::time_point start;
  std::string http_method;
  const config::UpstreamConfig* upstream = nullptr;  // owned by the request's Runtime
  RpcBody rpc;                                       // POST bodies only
  std::optional<SessionClaims> session;              // from a valid Mcp-Session-Id
  std::string protocol_version;                      // header, else session, else default
  std::string principal_key = "anonymous";           // what sessions are bound to
  bool keep_alive = true;
  unsigned status = 0;  // the status sent downstream, for the access log
};

}  // namespace portcullis::gateway
