// Internal: keep-alive connections to one upstream, owned by one worker (one
// thread), so acquiring and releasing takes no lock. Connect, TLS handshake
// and DNS are asynchronous and bounded by the upstream's connect timeout.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "gateway/io.h"

namespace portcullis::gateway {

struct UpstreamConn {
  AnyStream stream;
  beast::flat_buffer buffer;
  bool reused = false;
  std::chrono::steady_clock::time_point idle_since;
  // Beast reads as much as the buffer's free capacity (at least 512 bytes):
  // from an empty buffer a 1 KB answer took three reads and four writes to
  // the agent. A page takes a typical JSON answer in one read.
  explicit UpstreamConn(AnyStream&& s) : stream(std::move(s)) { buffer.reserve(4096); }
};
using UpstreamConnPtr = std::unique_ptr<UpstreamConn>;

enum class UpstreamFailure { kConnect, kTimeout, kTls, kProtocol, kClosed };
struct UpstreamError {
  UpstreamFailure kind;
  std::string detail;
};

class UpstreamPool {
 public:
  // `tls` is null for http upstreams; it must outlive the pool.
  UpstreamPool(net::any_io_executor ex, config::UpstreamConfig cfg, std::shared_ptr<ssl::context> tls);

  // An idle connection, or a new one.
  Awaitable<std::pair<UpstreamConnPtr, std::string>> acquire(bool fresh = false);
  // Returns a connection whose last response was read completely.
  void release(UpstreamConnPtr conn);
  const config::UpstreamConfig& config() const { return cfg_; }
  std::size_t idle() const { return idle_.size(); }

 private:
  net::any_io_executor ex_;
  config::UpstreamConfig cfg_;
  std::shared_ptr<ssl::context> tls_;
  std::vector<UpstreamConnPtr> idle_;
};

// A TLS client context for an upstream: system roots or `ca_file`, peer
// verification unless `verify: false`.
std::shared_ptr<ssl::context> make_upstream_tls(const config::UpstreamConfig& cfg);

}  // namespace portcullis::gateway
