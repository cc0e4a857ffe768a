// Metrics: Prometheus counters, gauges and histograms of the gateway, rendered
// in the Prometheus text format for GET /metrics.
//
// The recording functions are called on the hot path from any thread. They
// take plain strings and numbers (no prometheus-cpp type leaks out of this
// header). Each labelled metric caches its children per label set: a call
// builds the key in a thread-local buffer, takes a shared lock and does one
// hash lookup (heterogeneous, no allocation); only the first call with a new
// label set takes the exclusive lock and registers the child. Unlabelled
// metrics are plain pointers set up in the constructor.
//
// Cardinality is bounded: rpc_method is reduced to the MCP method names
// (anything else is "other"; a client chooses the method, so it must not
// choose the label), an empty label value becomes "none", and each labelled
// metric keeps at most `max_label_sets` label sets; beyond that a call is
// recorded under label values "overflow" and counted in
// portcullis_metrics_label_overflow_total{metric}.
//
// Gauges that are cheaper to read than to track (open streams, held
// approvals, queue depth) can be filled at scrape time: add_collector()
// registers a callback that render() calls before serializing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace portcullis::admin {

class Metrics {
 public:
  explicit Metrics(std::size_t max_label_sets = 2000);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One request answered by the gateway: portcullis_requests_total{route,
  // method,status} and portcullis_request_duration_seconds{route,method}.
  // `route` is the configured route name ("" when no route matched),
  // `rpc_method` the JSON-RPC method ("" for GET/DELETE without a body),
  // `status` the HTTP status sent.
  void request(std::string_view route, std::string_view rpc_method, int status, double seconds);

  // One policy decision: portcullis_policy_decisions_total{effect,rule}
  // (effect: allow | deny | require_approval ...; rule: the rule id, "" for
  // the default).
  void decision(std::string_view effect, std::string_view rule);
  // Time spent deciding: portcullis_policy_decision_duration_seconds.
  void policy_latency(double seconds);

  // Upstream round trip (to the response headers):
  // portcullis_upstream_duration_seconds{route}.
  void upstream_latency(std::string_view route, double seconds);
  // A failed upstream exchange: portcullis_upstream_errors_total{route,class}
  // (class: connect | timeout | tls | protocol | reset ..., the gateway's words).
  void upstream_error(std::string_view route, std::string_view error_class);

  // Gauges: portcullis_open_streams, portcullis_held_approvals,
  // portcullis_audit_queue_depth, portcullis_kill_switches_engaged.
  void set_open_streams(double n);
  void set_held_approvals(double n);
  void audit_queue_depth(double n);
  void set_kill_switches_engaged(double n);
  // portcullis_shared_state_reachable: 1 while the shared state (Redis) is
  // reachable, 0 while not (only set with `state: redis`).
  void set_shared_state_reachable(bool up);

  // One audit batch written (and synced): portcullis_audit_write_duration_seconds.
  void audit_write_latency(double seconds);

  // portcullis_jwks_refresh_total{issuer,result} and
  // portcullis_credential_refresh_total{provider,result}; result is ok | error.
  // `n`: how many fetches (a collector adds what happened since its last run).
  void jwks_refresh(std::string_view issuer, bool ok, std::uint64_t n = 1);
  void credential_refresh(std::string_view provider, bool ok, std::uint64_t n = 1);

  // Called by render() before serializing, in registration order, on the
  // scraping thread. A collector typically calls the set_* gauges above. It
  // must not call add_collector() or render(). Exceptions are swallowed and
  // counted in portcullis_metrics_collector_errors_total.
  void add_collector(std::function<void(Metrics&)> collector);

  // Every metric in the Prometheus text exposition format (version 0.0.4);
  // serve it with Content-Type: text/plain; version=0.0.4; charset=utf-8.
  std::string render();

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // The label value recorded for a JSON-RPC method: the MCP method itself when
  // it is one of the spec's, "none" when empty, otherwise "other".
  static std::string_view method_label(std::string_view rpc_method);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::admin
