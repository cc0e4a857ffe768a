#include "gateway/admin_session.h"

#include <chrono>
#include <memory>

#include "gateway/await_callback.h"

namespace portcullis::gateway {
namespace {

using namespace std::chrono_literals;

// Runs the handler on `blocking` and resumes on the connection's loop. The
// request and handler are shared so the pool thread never refers to a frame
// that shutdown destroyed.
Awaitable<admin::AdminResponse> handle_off_loop(std::shared_ptr<const AdminHandler> handler,
                                                std::shared_ptr<const admin::AdminRequest> req,
                                                net::any_io_executor blocking) {
  // Named before the co_await (GCC 12: see record_decisions in connection.cc).
  auto start = [handler, req, blocking](auto done) {
    net::post(blocking, [handler, req, done]() mutable { done((*handler)(*req)); });
  };
  co_return co_await await_callback<admin::AdminResponse>(std::move(start));
}

Awaitable<void> serve_admin(beast::tcp_stream stream, std::shared_ptr<const AdminHandler> handler,
                            net::any_io_executor blocking) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(admin::AdminApi::kMaxBody);
    stream.expires_after(30s);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      http::response<http::string_body> res{http::status::payload_too_large, 11};
      res.set(http::field::content_type, "application/json");
      res.body() = R"({"error":{"code":"too_large","message":"request too large"}})";
      res.keep_alive(false);
      res.prepare_payload();
      co_await http::async_write(stream, res, kNoThrow);
      break;
    }
    if (ec) break;
    auto& req = parser.get();
    auto areq = std::make_shared<admin::AdminRequest>();
    areq->method = std::string(req.method_string());
    areq->target = std::string(req.target());
    for (const auto& f : req) areq->headers[std::string(f.name_string())] = std::string(f.value());
    areq->body = std::move(req.body());
    // An if, not ?: around the co_await (GCC 12 miscompiles a co_await inside
    // a conditional expression).
    admin::AdminResponse ares;
    if (areq->target.rfind("/admin/", 0) == 0) ares = co_await handle_off_loop(handler, areq, blocking);
    else ares = (*handler)(*areq);
    http::response<http::string_body> res{static_cast<http::status>(ares.status), 11};
    res.set(http::field::content_type, ares.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [k, v] : ares.headers) res.set(k, v);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(ares.body);
    res.prepare_payload();
    stream.expires_after(30s);
    auto [wec, wn] = co_await http::async_write(stream, res, kNoThrow);
    if (wec || !res.keep_alive()) break;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

void spawn_admin_connection(Worker& w, tcp::socket socket, std::shared_ptr<const AdminHandler> handler,
                            net::any_io_executor blocking) {
  net::co_spawn(w.ioc(), serve_admin(beast::tcp_stream(std::move(socket)), std::move(handler), std::move(blocking)),
                net::detached);
}

}  // namespace portcullis::gateway
