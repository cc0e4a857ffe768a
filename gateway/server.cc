#include "gateway/server.h"

#include <boost/asio/signal_set.hpp>
#include <openssl/crypto.h>

#include <thread>
#include <vector>

#include "config/loader.h"
#include "gateway/log.h"
#include "gateway/worker.h"

namespace portcullis::gateway {
namespace {

using namespace std::chrono_literals;

// 32 bytes as 64 hex digits or standard/url-safe base64.
bool decode_session_key(const std::string& text, SessionSealer::Key& key) {
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (text.size() == 64) {
    for (int i = 0; i < 32; ++i) {
      int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
      if (hi < 0 || lo < 0) return false;
      key[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    return true;
  }
  if (text.size() == 32) {  // raw bytes (e.g. a vault entry made with `generate`)
    std::copy(text.begin(), text.end(), key.begin());
    return true;
  }
  return false;
}

}  // namespace

struct Server::Impl {
  config::ConfigPtr config;
  std::string config_path;
  GatewayState state;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::signal_set> signals;
  std::shared_ptr<const SessionSealer> random_sealer;  // kept across reloads
  std::uint64_t generation = 0;
  std::size_t next_worker = 0;
  std::atomic<bool> reloading{false};

  Result<RuntimePtr> build_runtime(config::ConfigPtr cfg);
  Awaitable<void> accept_loop();
  void on_signal(int sig);
  void reload();
  void drain();
  Worker& main_worker() { return *workers[0]; }
};

Result<RuntimePtr> Server::Impl::build_runtime(config::ConfigPtr cfg) {
  auto rt = std::make_shared<Runtime>();
  rt->config = cfg;
  rt->generation = ++generation;
  const auto& sk = cfg->server.session_key;
  if (sk.empty()) {
    if (!random_sealer) {
      random_sealer = std::make_shared<SessionSealer>(SessionSealer::random_key());
      log::warn("server.session_key is not set: using a random key; sessions will not survive a restart "
                "or span replicas");
    }
    rt->sealer = random_sealer;
  } else if (sk.kind == config::SecretRef::Kind::kLiteral) {
    SessionSealer::Key key{};
    if (!decode_session_key(sk.value, key))
      return Err("server.session_key must be 32 bytes as 64 hex digits");
    rt->sealer = std::make_shared<SessionSealer>(key);
    OPENSSL_cleanse(key.data(), key.size());
  } else {
    return Err("server.session_key: vault references need the embedded vault (credentials.vault)");
  }
  try {
    for (const auto& up : cfg->upstreams) rt->upstream_tls[up.name] = make_upstream_tls(up);
    if (cfg->server.tls) {
      auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
      ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
      ctx->use_certificate_chain_file(cfg->server.tls->cert_file);
      ctx->use_private_key_file(cfg->server.tls->key_file, ssl::context::pem);
      rt->server_tls = ctx;
    }
  } catch (const std::exception& e) {
    return Err(std::string("TLS setup: ") + e.what());
  }
  return RuntimePtr(std::move(rt));
}

Awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    Worker& w = *workers[next_worker];
    next_worker = (next_worker + 1) % workers.size();
    auto [ec, socket] = co_await acceptor->async_accept(w.ioc(), kNoThrow);
    if (ec == net::error::operation_aborted || !acceptor->is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      log::error("accept failed", {{"error", ec.message()}});
      net::steady_timer t(acceptor->get_executor(), 100ms);
      co_await t.async_wait(kNoThrow);
      continue;
    }
    if (state.active_connections.load() >= config->server.max_connections) {
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    net::post(w.ioc(), [&w, s = std::move(socket)]() mutable { spawn_connection(w, std::move(s)); });
  }
}

void Server::Impl::reload() {
  if (reloading.exchange(true)) return;
  // Reading and validating files is blocking work: never on an I/O thread.
  std::thread([this] {
    auto loaded = config::load_config_file(config_path);
    if (!loaded) {
      nlohmann::json errs = nlohmann::json::array();
      for (const auto& e : loaded.error()) errs.push_back(e.to_string());
      log::error("reload rejected: the old configuration keeps serving", {{"errors", errs}});
      reloading = false;
      return;
    }
    auto cfg = std::move(loaded.value());
    net::post(main_worker().ioc(), [this, cfg] {
      auto rt = build_runtime(cfg);
      if (!rt) {
        log::error("reload rejected: the old configuration keeps serving", {{"errors", {rt.error().message}}});
      } else {
        if (cfg->server.listen.host != config->server.listen.host ||
            cfg->server.listen.port != config->server.listen.port)
          log::warn("server.listen changed: a restart is needed to move the listener");
        config = cfg;
        for (auto& w : workers) w->set_runtime(*rt);
        log::info("configuration reloaded", {{"revision", cfg->revision}, {"generation", (*rt)->generation}});
      }
      reloading = false;
    });
  }).detach();
}

void Server::Impl::drain() {
  if (state.draining.exchange(true)) return;
  log::info("draining", {{"active_connections", state.active_connections.load()}});
  error_code ignored;
  acceptor->close(ignored);
  for (auto& w : workers) net::post(w->ioc(), [wp = w.get()] { wp->close_idle(); });
  auto deadline = std::chrono::steady_clock::now() + config->server.drain_timeout;
  net::co_spawn(
      main_worker().ioc(),
      [this, deadline]() -> Awaitable<void> {
        net::steady_timer t(co_await net::this_coro::executor);
        while (state.active_connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
          for (auto& w : workers) net::post(w->ioc(), [wp = w.get()] { wp->close_idle(); });
          t.expires_after(50ms);
          co_await t.async_wait(kNoThrow);
        }
        log::info("drained", {{"remaining_connections", state.active_connections.load()}});
        for (auto& w : workers) w->stop();
      },
      net::detached);
}

void Server::Impl::on_signal(int sig) {
  if (sig == SIGHUP) {
    log::info("SIGHUP: reloading configuration");
    reload();
  } else {
    drain();
    return;  // no more signals wanted after drain starts, except a second one
  }
  signals->async_wait([this](error_code ec, int s) {
    if (!ec) on_signal(s);
  });
}

Server::Server(config::ConfigPtr config, std::string config_path) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->config_path = std::move(config_path);
}

Server::~Server() = default;

int Server::run() {
  auto& d = *impl_;
  int threads = d.config->server.threads > 0 ? d.config->server.threads
                                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) d.workers.push_back(std::make_unique<Worker>(i, d.state));

  auto rt = d.build_runtime(d.config);
  if (!rt) {
    log::error("cannot start", {{"error", rt.error().message}});
    return 1;
  }
  for (auto& w : d.workers) w->set_runtime(*rt);

  const auto& listen = d.config->server.listen;
  error_code ec;
  auto addr = net::ip::make_address(listen.host == "localhost" ? "127.0.0.1" : listen.host, ec);
  if (ec) {
    log::error("cannot start: bad listen address", {{"listen", listen.host}});
    return 1;
  }
  d.acceptor = std::make_unique<tcp::acceptor>(d.main_worker().ioc());
  tcp::endpoint ep(addr, listen.port);
  d.acceptor->open(ep.protocol(), ec);
  if (!ec) d.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) d.acceptor->bind(ep, ec);
  if (!ec) d.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    log::error("cannot listen", {{"listen", listen.host + ":" + std::to_string(listen.port)}, {"error", ec.message()}});
    return 1;
  }

  d.signals = std::make_unique<net::signal_set>(d.main_worker().ioc(), SIGHUP, SIGTERM, SIGINT);
  d.signals->async_wait([&d](error_code e, int s) {
    if (!e) d.on_signal(s);
  });
  net::co_spawn(d.main_worker().ioc(), d.accept_loop(), net::detached);

  auto bound = d.acceptor->local_endpoint();
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& up : d.config->upstreams) routes.push_back(up.path + " -> " + up.url);
  log::info("listening", {{"address", bound.address().to_string()}, {"port", bound.port()},
                          {"tls", d.config->server.tls.has_value()}, {"workers", threads},
                          {"routes", routes}, {"config_revision", d.config->revision}});
  for (auto& w : d.workers) w->start();
  for (auto& w : d.workers) w->join();
  log::info("stopped");
  return 0;
}

}  // namespace portcullis::gateway
