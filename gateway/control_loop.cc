#include "gateway/control_loop.h"

#include <openssl/ssl.h>

#include <thread>

#include "common/url.h"
#include "gateway/io.h"

namespace portcullis::gateway {

struct ControlLoop::Impl {
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work{net::make_work_guard(ioc)};
  std::thread thread;
  ssl::context tls{ssl::context::tls_client};

  Impl() {
    tls.set_default_verify_paths();
    tls.set_verify_mode(ssl::verify_peer);
  }

  Awaitable<Result<HttpResponse>> exchange(HttpRequest req) {
    auto url = parse_url(req.url);
    if (!url) co_return Err("bad URL: " + req.url);
    auto ex = co_await net::this_coro::executor;
    tcp::resolver resolver(ex);
    beast::tcp_stream tcp_stream(ex);
    tcp_stream.expires_after(req.timeout);
    auto [rec, eps] = co_await resolver.async_resolve(url->host, std::to_string(url->port), kNoThrow);
    if (rec) co_return Err("resolve " + url->host + ": " + rec.message());
    auto [cec, ep] = co_await tcp_stream.async_connect(eps, kNoThrow);
    if (cec) co_return Err("connect " + url->host + ": " + cec.message());

    http::request<http::string_body> hr{req.method == "POST" ? http::verb::post : http::verb::get, url->target, 11};
    bool default_port = (url->scheme == "http" && url->port == 80) || (url->scheme == "https" && url->port == 443);
    std::string host = url->ipv6 ? "[" + url->host + "]" : url->host;
    hr.set(http::field::host, default_port ? host : host + ":" + std::to_string(url->port));
    hr.set(http::field::user_agent, "portcullis/0.1");
    for (const auto& [k, v] : req.headers) hr.set(k, v);
    hr.body() = std::move(req.body);
    hr.keep_alive(false);
    hr.prepare_payload();

    AnyStream stream = url->scheme == "https" ? AnyStream(std::move(tcp_stream), tls) : AnyStream(std::move(tcp_stream));
    if (auto* s = stream.tls()) {
      SSL_set_tlsext_host_name(s->native_handle(), url->host.c_str());
      s->set_verify_callback(ssl::host_name_verification(url->host));
      auto [hec] = co_await s->async_handshake(ssl::stream_base::client, kNoThrow);
      if (hec) co_return Err("TLS handshake with " + url->host + ": " + hec.message());
    }
    auto [wec, wn] = co_await stream.visit([&](auto& s) { return http::async_write(s, hr, kNoThrow); });
    if (wec) co_return Err("write to " + url->host + ": " + wec.message());
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(req.max_response_bytes);
    auto [ec, n] = co_await stream.visit([&](auto& s) { return http::async_read(s, buf, parser, kNoThrow); });
    // Clear the request body: it may hold a client secret.
    OPENSSL_cleanse(hr.body().data(), hr.body().size());
    if (ec) co_return Err("read from " + url->host + ": " + ec.message());
    HttpResponse out;
    auto& res = parser.get();
    out.status = res.result_int();
    for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(res.body());
    co_return out;
  }
};

ControlLoop::ControlLoop() : impl_(std::make_shared<Impl>()) {}
ControlLoop::~ControlLoop() { stop(); }

void ControlLoop::start() {
  impl_->thread = std::thread([impl = impl_] { impl->ioc.run(); });
}

void ControlLoop::stop() {
  impl_->work.reset();
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void ControlLoop::fetch(HttpRequest request, Callback done) {
  auto impl = impl_;
  net::co_spawn(
      impl->ioc,
      [impl, request = std::move(request), done = std::move(done)]() mutable -> Awaitable<void> {
        auto r = co_await impl->exchange(std::move(request));
        done(std::move(r));
      },
      net::detached);
}

void ControlLoop::run_after(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<net::steady_timer>(impl_->ioc, delay);
  timer->async_wait([timer, fn = std::move(fn)](error_code ec) {
    if (!ec) fn();
  });
}

}  // namespace portcullis::gateway
