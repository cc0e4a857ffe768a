// Internal: one event loop on one thread, with its own upstream pools and its
// own copy of the current Runtime. Connections are handed to a worker by the
// acceptor and live their whole life on it, so per-worker state needs no lock
// (Envoy's worker model).
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <functional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/io.h"
#include "gateway/runtime.h"
#include "gateway/upstream_pool.h"
#include "identity/principal.h"
#include "policy/limit_counter.h"

namespace portcullis::admin {
struct KillSwitch;
}

namespace portcullis::gateway {

class Worker;
class LegacyStream;  // legacy_sse.cc

// Process-wide flags read by every worker.
struct GatewayState {
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> active_connections{0};
  std::atomic<std::uint64_t> active_streams{0};
  std::atomic<std::uint64_t> requests{0};
  std::string instance;  // replica name in logs and records
  // The data-path workers by index; filled before they start, read-only after
  // (a legacy SSE POST posts to the worker holding its stream).
  std::vector<Worker*> workers;
};

class Worker {
 public:
  Worker(int index, GatewayState& state);
  ~Worker();

  net::io_context& ioc() { return ioc_; }
  int index() const { return index_; }
  GatewayState& state() { return state_; }

  void start();  // runs the loop on its own thread
  // Called on the worker's thread each time its loop has run everything that
  // is ready and is about to wait for I/O (the audit log's flush: records
  // queued during this turn need not wait for company). Set before start().
  void set_idle_hook(std::function<void()> hook) { idle_hook_ = std::move(hook); }
  void join();
  void stop() { ioc_.stop(); }

  // Posts a new Runtime to this worker; requests in flight keep theirs.
  void set_runtime(RuntimePtr rt);
  // Only on this worker's thread.
  const RuntimePtr& runtime() const { return runtime_; }
  UpstreamPool& pool(const config::UpstreamConfig& up);
  std::string next_request_id();

  // Connection bookkeeping for graceful drain (worker thread only).
  struct ConnHandle {
    tcp::socket* socket = nullptr;
    bool idle = true;
  };
  std::list<ConnHandle>::iterator track(tcp::socket* s);
  void untrack(std::list<ConnHandle>::iterator it);
  void close_idle();  // drain: idle keep-alive connections are closed now

  // Open SSE streams, so a kill switch can cut the streams of its target.
  struct ActiveStream {
    identity::PrincipalPtr principal;  // null on `auth: none` routes
    std::string upstream;
    std::vector<std::string> tools;  // tools/call targets this stream answers (none for a GET stream)
    // Ends the stream for the kill switch that covers it: closes the agent's
    // connection, after a last event answering the requests still open where
    // the stream is a POST's answer (proxy.cc). Runs on this worker; never blocks.
    std::function<void(const admin::KillSwitch&)> cut;
  };
  std::list<ActiveStream>::iterator add_stream(ActiveStream s);
  void remove_stream(std::list<ActiveStream>::iterator it);
  // Cuts every stream `covering` names a kill switch for (worker thread only).
  using StreamCover = std::function<std::shared_ptr<const admin::KillSwitch>(const ActiveStream&)>;
  std::size_t cut_streams(const StreamCover& covering);

  // Legacy HTTP+SSE streams by id: a POST served on any worker reaches its
  // stream by posting to this worker (legacy_sse.cc). Worker thread only.
  void add_legacy_stream(std::uint64_t id, LegacyStream* s) { legacy_streams_[id] = s; }
  void remove_legacy_stream(std::uint64_t id) { legacy_streams_.erase(id); }
  LegacyStream* legacy_stream(std::uint64_t id) const {
    auto it = legacy_streams_.find(id);
    return it == legacy_streams_.end() ? nullptr : it->second;
  }

  // state: redis: this worker's rate-limit counters, on a Redis link driven
  // by this worker's loop (no thread hop per call). Set before start(); null
  // otherwise (then PolicyState::shared_limits, if any, serves).
  void set_shared_limits(policy::SharedLimitCounter* s) { shared_limits_ = s; }
  policy::SharedLimitCounter* shared_limits() const { return shared_limits_; }

 private:
  int index_;
  GatewayState& state_;
  // Declared before ioc_, so destroyed after it: destroying the io_context
  // destroys the coroutine frames of connections still open at exit, whose
  // guards unregister from these (a stream open at SIGTERM crashed the
  // process after the drain otherwise).
  std::list<ConnHandle> conns_;
  std::list<ActiveStream> streams_;
  std::unordered_map<std::uint64_t, LegacyStream*> legacy_streams_;
  net::io_context ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread thread_;
  RuntimePtr runtime_;
  // After ioc_, so destroyed before it: idle sockets need their io_context.
  std::map<std::string, std::unique_ptr<UpstreamPool>> pools_;
  std::uint64_t request_counter_ = 0;
  std::string id_prefix_;
  policy::SharedLimitCounter* shared_limits_ = nullptr;
  std::function<void()> idle_hook_;
};

// Serves one accepted connection until it closes (connection.cc).
void spawn_connection(Worker& w, tcp::socket socket);

}  // namespace portcullis::gateway
