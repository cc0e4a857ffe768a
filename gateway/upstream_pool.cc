#include "gateway/upstream_pool.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>

namespace portcullis::gateway {
namespace {

// An idle keep-alive connection the upstream has closed (or sent stray bytes
// on) must not carry the next request.
bool still_usable(UpstreamConn& c) {
  auto& sock = c.stream.tcp().socket();
  if (!sock.is_open()) return false;
  char byte;
  ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

UpstreamPool::UpstreamPool(net::any_io_executor ex, config::UpstreamConfig cfg,
                           std::shared_ptr<ssl::context> tls)
    : ex_(std::move(ex)), cfg_(std::move(cfg)), tls_(std::move(tls)) {}

Awaitable<std::pair<UpstreamConnPtr, std::string>> UpstreamPool::acquire(bool fresh) {
  auto now = std::chrono::steady_clock::now();
  while (!fresh && !idle_.empty()) {
    UpstreamConnPtr c = std::move(idle_.back());
    idle_.pop_back();
    // Upstreams commonly close idle keep-alive connections after ~5 s.
    if (now - c->idle_since < std::chrono::seconds(4) && still_usable(*c)) {
      c->reused = true;
      co_return std::pair{std::move(c), std::string()};
    }
  }

  tcp::resolver resolver(ex_);
  beast::tcp_stream tcp_stream(ex_);
  tcp_stream.expires_after(cfg_.timeouts.connect);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(cfg_.host, std::to_string(cfg_.port), kNoThrow);
  if (rec) co_return std::pair{UpstreamConnPtr(), "resolve " + cfg_.host + ": " + rec.message()};
  auto [cec, ep] = co_await tcp_stream.async_connect(endpoints, kNoThrow);
  if (cec) co_return std::pair{UpstreamConnPtr(), "connect " + cfg_.host + ":" + std::to_string(cfg_.port) + ": " + cec.message()};
  tcp_stream.socket().set_option(tcp::no_delay(true));

  if (!tls_) co_return std::pair{std::make_unique<UpstreamConn>(AnyStream(std::move(tcp_stream))), std::string()};

  auto conn = std::make_unique<UpstreamConn>(AnyStream(std::move(tcp_stream), *tls_));
  auto* s = conn->stream.tls();
  // SNI and host name verification against the configured host.
  if (!SSL_set_tlsext_host_name(s->native_handle(), cfg_.host.c_str()))
    co_return std::pair{UpstreamConnPtr(), std::string("TLS: cannot set SNI")};
  if (cfg_.tls.verify) s->set_verify_callback(ssl::host_name_verification(cfg_.host));
  conn->stream.tcp().expires_after(cfg_.timeouts.connect);
  auto [hec] = co_await s->async_handshake(ssl::stream_base::client, kNoThrow);
  if (hec) co_return std::pair{UpstreamConnPtr(), "TLS handshake with " + cfg_.host + ": " + hec.message()};
  co_return std::pair{std::move(conn), std::string()};
}

void UpstreamPool::release(UpstreamConnPtr conn) {
  if (!conn || idle_.size() >= cfg_.max_connections) return;
  conn->stream.tcp().expires_never();
  conn->idle_since = std::chrono::steady_clock::now();
  idle_.push_back(std::move(conn));
}

std::shared_ptr<ssl::context> make_upstream_tls(const config::UpstreamConfig& cfg) {
  if (cfg.scheme != "https") return nullptr;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (cfg.tls.verify) {
    ctx->set_verify_mode(ssl::verify_peer);
    if (!cfg.tls.ca_file.empty())
      ctx->load_verify_file(cfg.tls.ca_file);
    else
      ctx->set_default_verify_paths();
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

}  // namespace portcullis::gateway
