// Internal: the legacy HTTP+SSE transport (MCP 2024-11-05) on routes whose
// upstream has `transport: sse`. The session (connection.cc) runs the same
// stages as for Streamable HTTP (Origin, authentication, kill switch, decision,
// durable record, approval) and calls these at four points:
//
//   legacy_refuse   before authentication: what the route does not serve
//                   gets 404/405 naming the transport to use (legacy_route.h);
//   legacy_admit    after the kill switch: a POST's sealed handle must open for
//                   this route and this identity (400/404), else nothing is
//                   decided or recorded;
//   legacy_reply    a call answered by the gateway itself (denied, hidden,
//                   not approved): the answer is delivered into the agent's
//                   SSE stream, and the POST gets 202 like any other (while a
//                   call is held, legacy_notify adds keepalives and progress);
//   legacy_forward  in place of forward(): GET opens the upstream's stream with
//                   the gateway's credential and relays it (endpoint event
//                   rewritten, tools/list answers filtered per agent, open
//                   requests answered with an error if the upstream ends);
//                   POST delivers the message to the upstream's endpoint.
//
// The stream may live on another worker than a POST. Each stream registers in
// its worker's registries (Worker::add_stream for the kill switch,
// Worker::add_legacy_stream for POSTs); a POST reaches it by posting one
// closure to that worker and resuming when it ran, so no lock is taken.
#pragma once

#include <string>

#include "gateway/conn.h"

namespace portcullis::gateway {

// Each returns whether the connection may serve another request; `replied`
// says the request was answered (the caller returns).
Awaitable<bool> legacy_refuse(Conn& c, RequestContext& ctx, const http::request_header<>& h, bool& replied);
Awaitable<bool> legacy_admit(Conn& c, RequestContext& ctx, const http::request_header<>& h, bool& replied);
Awaitable<bool> legacy_reply(Conn& c, RequestContext& ctx, std::string answer);
// While a POSTed call is held: the keepalive comment and progress event go
// into the agent's stream (where its client reads everything); false when the
// stream is gone.
Awaitable<bool> legacy_notify(Conn& c, RequestContext& ctx, std::string events);
Awaitable<bool> legacy_forward(Conn& c, RequestContext& ctx, Request& req);

}  // namespace portcullis::gateway
