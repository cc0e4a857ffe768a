// Internal: the state of one downstream connection while it serves a request,
// and the reply helpers every stage uses to end a request locally.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/io.h"
#include "gateway/request_context.h"
#include "gateway/runtime.h"
#include "gateway/worker.h"

namespace portcullis::gateway {

using Request = http::request<http::string_body>;

struct Conn {
  Worker& worker;
  AnyStream stream;
  beast::flat_buffer buffer;
  RuntimePtr runtime;  // the generation the current request started with
  std::string peer;
  Conn(Worker& w, AnyStream&& s) : worker(w), stream(std::move(s)) {}
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// Writes a complete response; false when the connection is unusable.
Awaitable<bool> send_response(Conn& c, http::response<http::string_body>& res);
// A JSON-RPC error reply with an HTTP status (every HTTP error carries one).
Awaitable<bool> send_rpc_error(Conn& c, const RequestContext& ctx, unsigned status,
                               const nlohmann::json& id, int code, std::string_view message,
                               bool keep_alive, const Headers& extra = {});
Awaitable<bool> send_json(Conn& c, const RequestContext& ctx, unsigned status, const nlohmann::json& body,
                          bool keep_alive);

// The SSE body of a held call's answer (RequestContext::stream_open): one
// chunk of whole events, and the last event followed by the end of the body.
// Both return false when the connection is unusable; end_event_stream returns
// whether it may serve another request.
Awaitable<bool> write_event_chunk(Conn& c, std::string_view events);
Awaitable<bool> end_event_stream(Conn& c, const RequestContext& ctx, std::string_view events);

// Completes when the client closes its side (true) and never otherwise; bytes
// it sends meanwhile (a pipelined request) stay in the buffer (proxy.cc).
Awaitable<bool> watch_client(Conn& c);

// Forwards the request to the upstream and relays its answer (proxy.cc).
// Returns whether the downstream connection may serve another request.
Awaitable<bool> forward(Conn& c, RequestContext& ctx, Request& req);

}  // namespace portcullis::gateway
