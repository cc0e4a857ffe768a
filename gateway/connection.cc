// One downstream connection: read a request within size and time limits,
// route it, check the transport rules, parse the JSON-RPC body once, and hand
// it to forward(). Every local reply is a JSON-RPC error body with the right
// HTTP status.
#include <chrono>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/http_rules.h"
#include "gateway/log.h"

namespace portcullis::gateway {
namespace {

using namespace std::chrono_literals;

std::string header(const http::fields& f, std::string_view name) {
  auto it = f.find(beast::string_view(name.data(), name.size()));
  return it == f.end() ? std::string() : std::string(it->value());
}

bool has_body(const http::request_parser<http::empty_body>& p) {
  return p.chunked() || (p.content_length() && *p.content_length() > 0);
}

void access_log(const RequestContext& ctx, std::string_view path) {
  if (!log::enabled(log::Level::kInfo)) return;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - ctx.start).count();
  nlohmann::json f = {{"request_id", ctx.request_id}, {"method", ctx.http_method},
                      {"path", std::string(path)},
                      {"status", ctx.status}, {"duration_us", us}};
  if (ctx.upstream) f["upstream"] = ctx.upstream->name;
  if (!ctx.rpc.messages.empty()) {
    const auto& m = ctx.rpc.messages.front();
    if (!m.method.empty()) f["rpc_method"] = m.method;
    if (!m.target.empty()) f["rpc_target"] = m.target;
  }
  log::info("request", std::move(f));
}

class Session {
 public:
  Session(Worker& w, AnyStream&& s) : c_(w, std::move(s)) {}

  Awaitable<void> run();

 private:
  Awaitable<bool> handle(http::request_parser<http::empty_body>& hp);
  Awaitable<bool> handle_mcp(http::request_parser<http::empty_body>& hp, RequestContext& ctx);
  Conn c_;
};

Awaitable<void> Session::run() {
  auto& w = c_.worker;
  auto tracked = w.track(&c_.stream.tcp().socket());
  w.state().active_connections++;
  struct Untrack {
    Worker& w;
    std::list<Worker::ConnHandle>::iterator it;
    ~Untrack() {
      w.untrack(it);
      w.state().active_connections--;
    }
  } untrack{w, tracked};

  const auto& server = w.runtime()->config->server;
  if (auto* tls = c_.stream.tls()) {
    c_.stream.tcp().expires_after(server.header_timeout);
    auto [ec] = co_await tls->async_handshake(ssl::stream_base::server, kNoThrow);
    if (ec) co_return;
  }

  for (;;) {
    tracked->idle = true;
    if (w.state().draining) break;
    const auto& srv = w.runtime()->config->server;
    if (c_.buffer.size() == 0) {
      c_.stream.tcp().expires_after(srv.idle_timeout);
      auto [ec, n] = co_await c_.stream.visit(
          [&](auto& s) { return s.async_read_some(c_.buffer.prepare(8192), kNoThrow); });
      if (ec) break;
      c_.buffer.commit(n);
    }
    tracked->idle = false;
    // The whole header must arrive within header_timeout (slowloris).
    c_.stream.tcp().expires_after(srv.header_timeout);
    http::request_parser<http::empty_body> hp;
    hp.header_limit(static_cast<std::uint32_t>(srv.max_header_bytes));
    auto [ec, n] = co_await c_.stream.visit(
        [&](auto& s) { return http::async_read_header(s, c_.buffer, hp, kNoThrow); });
    if (ec) {
      RequestContext ctx;
      ctx.request_id = w.next_request_id();
      if (ec == http::error::header_limit) {
        co_await send_rpc_error(c_, ctx, 431, nullptr, kBadRequest, "Request header fields too large", false);
      } else if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != net::error::eof &&
                 ec != net::error::connection_reset && ec != net::error::operation_aborted &&
                 ec.category() == make_error_code(http::error::end_of_stream).category()) {
        co_await send_rpc_error(c_, ctx, 400, nullptr, kBadRequest, "Malformed HTTP request", false);
      }
      break;
    }
    if (!co_await handle(hp)) break;
  }
  error_code ignored;
  if (auto* tls = c_.stream.tls()) {
    c_.stream.tcp().expires_after(1s);
    co_await tls->async_shutdown(kNoThrow);
  }
  c_.stream.tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
  c_.stream.tcp().close();
}

Awaitable<bool> Session::handle(http::request_parser<http::empty_body>& hp) {
  auto& w = c_.worker;
  c_.runtime = w.runtime();
  const auto& cfg = *c_.runtime->config;
  const auto& h = hp.get();
  RequestContext ctx;
  ctx.request_id = w.next_request_id();
  ctx.start = std::chrono::steady_clock::now();
  ctx.http_method = std::string(h.method_string());
  // A body we do not read poisons the connection: close after early replies.
  ctx.keep_alive = h.keep_alive() && !has_body(hp) && !w.state().draining;
  w.state().requests++;

  // Copied: the header moves into the body parser during the request.
  const std::string path(target_path(std::string_view(h.target().data(), h.target().size())));
  bool ok = true;

  if (path == "/healthz") {
    nlohmann::json body = nlohmann::json::object();
    body["status"] = std::string("ok");
    ok = co_await send_json(c_, ctx, 200, body, ctx.keep_alive);
    ctx.status = 200;
  } else if (path == "/readyz") {
    bool ready = !w.state().draining;
    nlohmann::json body = nlohmann::json::object();
    body["status"] = std::string(ready ? "ready" : "draining");
    body["config_revision"] = cfg.revision;
    ctx.status = ready ? 200 : 503;
    ok = co_await send_json(c_, ctx, ctx.status, body, ctx.keep_alive);
  } else if (const auto* up = cfg.upstream_by_path(path)) {
    ctx.upstream = up;
    ok = co_await handle_mcp(hp, ctx);
  } else {
    ok = co_await send_rpc_error(c_, ctx, 404, nullptr, kBadRequest, "Not found: no route for this path",
                                 ctx.keep_alive);
  }
  access_log(ctx, path);
  co_return ok && ctx.keep_alive;
}

Awaitable<bool> Session::handle_mcp(http::request_parser<http::empty_body>& hp, RequestContext& ctx) {
  const auto& cfg = *c_.runtime->config;
  const auto& h = hp.get();
  std::string_view target(h.target().data(), h.target().size());

  // DNS-rebinding protection: a present Origin must be allowed (403).
  if (!origin_allowed(header(h, "Origin"), cfg.server.allowed_origins))
    co_return co_await send_rpc_error(c_, ctx, 403, nullptr, kForbidden, "Forbidden: Origin not allowed",
                                      ctx.keep_alive);
  if (query_has_access_token(target)) {
    Headers challenge{{std::string("WWW-Authenticate"), std::string("Bearer error=\"invalid_request\"")}};
    co_return co_await send_rpc_error(c_, ctx, 401, nullptr, kUnauthorized,
                                      "Access tokens are not accepted in the query string", ctx.keep_alive,
                                      challenge);
  }

  auto verb = h.method();
  if (verb != http::verb::post && verb != http::verb::get && verb != http::verb::delete_) {
    Headers allow{{std::string("Allow"), std::string("GET, POST, DELETE")}};
    co_return co_await send_rpc_error(c_, ctx, 405, nullptr, kBadRequest, "Method not allowed", ctx.keep_alive,
                                      allow);
  }

  std::string version = header(h, "MCP-Protocol-Version");
  if (!version.empty() && !is_supported_protocol_version(version))
    co_return co_await send_rpc_error(c_, ctx, 400, nullptr, kBadRequest,
                                      "Bad Request: Unsupported protocol version: " + version.substr(0, 64),
                                      ctx.keep_alive);

  std::string sid = header(h, "Mcp-Session-Id");
  if (!sid.empty()) {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    auto claims = c_.runtime->sealer->open(
        sid, std::chrono::duration_cast<std::chrono::seconds>(cfg.server.session_ttl), now);
    // Unknown, forged, expired, other route, or other identity: all 404, so
    // a client re-initializes and nothing tells a prober which it was.
    if (!claims || claims->upstream != ctx.upstream->name || claims->principal != ctx.principal_key)
      co_return co_await send_rpc_error(c_, ctx, 404, nullptr, kSessionNotFound, "Session not found",
                                        ctx.keep_alive);
    ctx.session = std::move(claims.value());
  }
  ctx.protocol_version = !version.empty() ? version
                         : ctx.session && !ctx.session->protocol_version.empty()
                             ? ctx.session->protocol_version
                             : std::string(kDefaultProtocolVersion);

  if (verb == http::verb::get) {
    if (!get_accept_ok(header(h, "Accept")))
      co_return co_await send_rpc_error(c_, ctx, 406, nullptr, kBadRequest,
                                        "Not Acceptable: Client must accept text/event-stream", ctx.keep_alive);
  }

  if (verb == http::verb::post) {
    if (!is_json_content_type(header(h, "Content-Type")))
      co_return co_await send_rpc_error(c_, ctx, 415, nullptr, kBadRequest,
                                        "Unsupported Media Type: Content-Type must be application/json",
                                        ctx.keep_alive);
    if (!post_accept_ok(header(h, "Accept")))
      co_return co_await send_rpc_error(
          c_, ctx, 406, nullptr, kBadRequest,
          "Not Acceptable: Client must accept both application/json and text/event-stream", ctx.keep_alive);
  }

  // Read the body within max_body (413) and the header timeout's sibling.
  http::request_parser<http::string_body> p(std::move(hp));
  p.body_limit(cfg.server.max_body);
  if (p.content_length() && *p.content_length() > cfg.server.max_body) {
    ctx.keep_alive = false;
    co_return co_await send_rpc_error(c_, ctx, 413, nullptr, kBadRequest, "Payload too large", false);
  }
  c_.stream.tcp().expires_after(cfg.upstream_by_name(ctx.upstream->name)->timeouts.request);
  auto [ec, n] = co_await c_.stream.visit([&](auto& s) { return http::async_read(s, c_.buffer, p, kNoThrow); });
  if (ec == http::error::body_limit) {
    ctx.keep_alive = false;
    co_return co_await send_rpc_error(c_, ctx, 413, nullptr, kBadRequest, "Payload too large", false);
  }
  if (ec) co_return false;
  ctx.keep_alive = p.get().keep_alive() && !c_.worker.state().draining;
  Request req = p.release();

  if (verb == http::verb::post) {
    auto parsed = parse_rpc_body(req.body(), ctx.protocol_version == "2025-03-26");
    if (!parsed) {
      const auto& e = parsed.error();
      co_return co_await send_rpc_error(c_, ctx, e.http_status, nullptr, e.code, e.message, ctx.keep_alive);
    }
    ctx.rpc = std::move(parsed.value());
    if (!ctx.session && !sid.empty()) co_return false;  // unreachable: handled above
  }

  co_return co_await forward(c_, ctx, req);
}

}  // namespace

Awaitable<bool> send_response(Conn& c, http::response<http::string_body>& res) {
  res.prepare_payload();
  c.stream.tcp().expires_after(30s);
  auto [ec, n] = co_await c.stream.visit([&](auto& s) { return http::async_write(s, res, kNoThrow); });
  co_return !ec;
}

Awaitable<bool> send_rpc_error(Conn& c, const RequestContext& ctx, unsigned status, const nlohmann::json& id,
                               int code, std::string_view message, bool keep_alive, const Headers& extra) {
  const_cast<RequestContext&>(ctx).status = status;
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set("X-Request-Id", ctx.request_id);
  for (const auto& [k, v] : extra) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = rpc_error_body(id, code, message);
  bool ok = co_await send_response(c, res);
  co_return ok && keep_alive;
}

Awaitable<bool> send_json(Conn& c, const RequestContext& ctx, unsigned status, const nlohmann::json& body,
                          bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set("X-Request-Id", ctx.request_id);
  res.keep_alive(keep_alive);
  res.body() = body.dump();
  bool ok = co_await send_response(c, res);
  co_return ok && keep_alive;
}

void spawn_connection(Worker& w, tcp::socket socket) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  beast::tcp_stream stream(std::move(socket));
  std::shared_ptr<Session> session;
  const auto& rt = w.runtime();
  if (rt->server_tls)
    session = std::make_shared<Session>(w, AnyStream(std::move(stream), *rt->server_tls));
  else
    session = std::make_shared<Session>(w, AnyStream(std::move(stream)));
  net::co_spawn(w.ioc(), [session]() -> Awaitable<void> { co_await session->run(); }, net::detached);
}

}  // namespace portcullis::gateway
