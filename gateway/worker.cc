#include "gateway/worker.h"

#include <openssl/rand.h>

#include <cstdio>

namespace portcullis::gateway {

Worker::Worker(int index, GatewayState& state)
    : index_(index), state_(state), work_(net::make_work_guard(ioc_)) {
  unsigned char r[4];
  RAND_bytes(r, sizeof r);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
  id_prefix_ = buf;
}

Worker::~Worker() {
  stop();
  join();
}

void Worker::start() {
  if (!idle_hook_) {
    thread_ = std::thread([this] { ioc_.run(); });
    return;
  }
  // run() with a hook where the loop would block: run_one() waits for and
  // runs one handler, poll() runs whatever else is ready (ending with one
  // non-blocking epoll_wait), then the loop is idle.
  thread_ = std::thread([this] {
    while (ioc_.run_one() > 0) {
      ioc_.poll();
      idle_hook_();
    }
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::set_runtime(RuntimePtr rt) {
  net::post(ioc_, [this, rt = std::move(rt)]() mutable {
    // Pools whose upstream changed address are rebuilt on next use.
    for (auto it = pools_.begin(); it != pools_.end();) {
      const auto* up = rt->config->upstream_by_name(it->first);
      if (!up || up->url != it->second->config().url || rt->upstream_tls.count(it->first) == 0 ||
          up->tls.verify != it->second->config().tls.verify || up->tls.ca_file != it->second->config().tls.ca_file)
        it = pools_.erase(it);
      else
        ++it;
    }
    runtime_ = std::move(rt);
  });
}

UpstreamPool& Worker::pool(const config::UpstreamConfig& up) {
  auto it = pools_.find(up.name);
  if (it == pools_.end()) {
    auto tls = runtime_->upstream_tls.count(up.name) ? runtime_->upstream_tls.at(up.name) : nullptr;
    it = pools_.emplace(up.name, std::make_unique<UpstreamPool>(ioc_.get_executor(), up, tls)).first;
  }
  return *it->second;
}

std::string Worker::next_request_id() {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s%02x%08llx", id_prefix_.c_str(), index_ & 0xff,
                static_cast<unsigned long long>(++request_counter_));
  return buf;
}

std::list<Worker::ConnHandle>::iterator Worker::track(tcp::socket* s) {
  conns_.push_back({s, true});
  return std::prev(conns_.end());
}

void Worker::untrack(std::list<ConnHandle>::iterator it) { conns_.erase(it); }

std::list<Worker::ActiveStream>::iterator Worker::add_stream(ActiveStream s) {
  streams_.push_back(std::move(s));
  return std::prev(streams_.end());
}

void Worker::remove_stream(std::list<ActiveStream>::iterator it) { streams_.erase(it); }

std::size_t Worker::cut_streams(const StreamCover& covering) {
  std::size_t n = 0;
  // cut() only closes sockets or starts a last write; the relays notice and
  // unregister later.
  for (auto& s : streams_) {
    if (!s.cut) continue;
    if (auto ks = covering(s)) {
      auto cut = std::move(s.cut);
      s.cut = nullptr;
      cut(*ks);
      ++n;
    }
  }
  return n;
}

void Worker::close_idle() {
  for (auto& c : conns_) {
    if (c.idle && c.socket && c.socket->is_open()) {
      error_code ec;
      c.socket->cancel(ec);
    }
  }
}

}  // namespace portcullis::gateway
