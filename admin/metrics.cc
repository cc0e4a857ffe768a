#include "admin/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace portcullis::admin {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Registry;

constexpr std::string_view kNone = "none";
constexpr std::string_view kOverflow = "overflow";

std::string_view or_none(std::string_view v) { return v.empty() ? kNone : v; }

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Children of one labelled metric, keyed by the joined label values. `V` is a
// small copyable value (pointers to prometheus children).
template <class V>
class LabelCache {
 public:
  LabelCache(std::size_t max, Counter* overflow_counter) : max_(max), overflow_counter_(overflow_counter) {}

  // The value for `key`; `make()` creates it (under the exclusive lock, once
  // per key), `make_overflow()` the shared one used once the cache is full.
  template <class Make, class MakeOverflow>
  V get(std::string_view key, Make&& make, MakeOverflow&& make_overflow) {
    {
      std::shared_lock lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) return it->second;
      if (overflow_) {
        overflow_counter_->Increment();
        return *overflow_;
      }
    }
    std::unique_lock lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second;
    if (map_.size() >= max_) {
      if (!overflow_) overflow_ = make_overflow();
      overflow_counter_->Increment();
      return *overflow_;
    }
    V v = make();
    map_.emplace(std::string(key), v);
    return v;
  }

 private:
  const std::size_t max_;
  Counter* const overflow_counter_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, V, StringHash, std::equal_to<>> map_;
  std::optional<V> overflow_;
};

// The key of a label set: values joined by \x1f, built in a per-thread buffer
// that keeps its capacity (no allocation once warm).
template <class... Parts>
std::string_view make_key(Parts... parts) {
  thread_local std::string buf;
  buf.clear();
  ((buf.append(parts), buf.push_back('\x1f')), ...);
  return buf;
}

const Histogram::BucketBoundaries& request_buckets() {
  static const Histogram::BucketBoundaries b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,      2.5,   5,    10,    30,   60,  300};
  return b;
}
const Histogram::BucketBoundaries& policy_buckets() {
  static const Histogram::BucketBoundaries b{1e-6,   2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5,
                                             1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3,   1e-2};
  return b;
}
const Histogram::BucketBoundaries& audit_buckets() {
  static const Histogram::BucketBoundaries b{1e-5,  2.5e-5, 5e-5,  1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
                                             5e-3, 1e-2,   2.5e-2, 5e-2, 0.1,    0.25, 1};
  return b;
}

// MCP methods (2025-06-18 spec) kept as label values; anything else is "other".
constexpr std::array<std::string_view, 23> kMcpMethods = {
    "completion/complete",
    "elicitation/create",
    "initialize",
    "logging/setLevel",
    "notifications/cancelled",
    "notifications/initialized",
    "notifications/message",
    "notifications/progress",
    "notifications/prompts/list_changed",
    "notifications/resources/list_changed",
    "notifications/resources/updated",
    "notifications/roots/list_changed",
    "notifications/tools/list_changed",
    "ping",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/read",
    "resources/subscribe",
    "resources/templates/list",
    "resources/unsubscribe",
    "roots/list",
    "sampling/createMessage",
};
static_assert(std::is_sorted(kMcpMethods.begin(), kMcpMethods.end()));

}  // namespace

struct Metrics::Impl {
  explicit Impl(std::size_t max_label_sets)
      : registry(std::make_shared<Registry>()),
        overflow_family(prometheus::BuildCounter()
                            .Name("portcullis_metrics_label_overflow_total")
                            .Help("Calls recorded under the overflow label set because a metric had too many label sets")
                            .Register(*registry)),
        requests_family(prometheus::BuildCounter()
                            .Name("portcullis_requests_total")
                            .Help("Requests answered by the gateway, by route, JSON-RPC method and HTTP status")
                            .Register(*registry)),
        request_duration_family(prometheus::BuildHistogram()
                                    .Name("portcullis_request_duration_seconds")
                                    .Help("Time from request received to response complete, by route and JSON-RPC method")
                                    .Register(*registry)),
        decisions_family(prometheus::BuildCounter()
                             .Name("portcullis_policy_decisions_total")
                             .Help("Policy decisions by effect and rule id (none: the default)")
                             .Register(*registry)),
        policy_duration_family(prometheus::BuildHistogram()
                                   .Name("portcullis_policy_decision_duration_seconds")
                                   .Help("Time spent evaluating the policy for one call")
                                   .Register(*registry)),
        upstream_duration_family(prometheus::BuildHistogram()
                                     .Name("portcullis_upstream_duration_seconds")
                                     .Help("Upstream round trip to the response headers, by route")
                                     .Register(*registry)),
        upstream_errors_family(prometheus::BuildCounter()
                                   .Name("portcullis_upstream_errors_total")
                                   .Help("Failed upstream exchanges by route and error class")
                                   .Register(*registry)),
        open_streams_family(prometheus::BuildGauge()
                                .Name("portcullis_open_streams")
                                .Help("Open SSE streams relayed to clients")
                                .Register(*registry)),
        held_family(prometheus::BuildGauge()
                        .Name("portcullis_held_approvals")
                        .Help("Calls held waiting for an approval")
                        .Register(*registry)),
        audit_depth_family(prometheus::BuildGauge()
                               .Name("portcullis_audit_queue_depth")
                               .Help("Audit records queued and not yet written")
                               .Register(*registry)),
        kills_family(prometheus::BuildGauge()
                         .Name("portcullis_kill_switches_engaged")
                         .Help("Kill switches engaged")
                         .Register(*registry)),
        shared_family(prometheus::BuildGauge()
                          .Name("portcullis_shared_state_reachable")
                          .Help("1 while the state shared by replicas (Redis) is reachable, else 0")
                          .Register(*registry)),
        audit_write_family(prometheus::BuildHistogram()
                               .Name("portcullis_audit_write_duration_seconds")
                               .Help("Time to write and sync one audit batch")
                               .Register(*registry)),
        jwks_family(prometheus::BuildCounter()
                        .Name("portcullis_jwks_refresh_total")
                        .Help("JWKS fetches by issuer and result (ok | error)")
                        .Register(*registry)),
        credential_family(prometheus::BuildCounter()
                              .Name("portcullis_credential_refresh_total")
                              .Help("Upstream credential refreshes by provider and result (ok | error)")
                              .Register(*registry)),
        collector_errors_family(prometheus::BuildCounter()
                                    .Name("portcullis_metrics_collector_errors_total")
                                    .Help("Scrape-time collectors that threw")
                                    .Register(*registry)),
        start_family(prometheus::BuildGauge()
                         .Name("portcullis_start_time_seconds")
                         .Help("Start time of the process since the Unix epoch, in seconds")
                         .Register(*registry)),
        policy_latency(&policy_duration_family.Add({}, policy_buckets())),
        open_streams(&open_streams_family.Add({})),
        held(&held_family.Add({})),
        audit_depth(&audit_depth_family.Add({})),
        kills(&kills_family.Add({})),
        audit_write(&audit_write_family.Add({}, audit_buckets())),
        collector_errors(&collector_errors_family.Add({})),
        requests(max_label_sets, &overflow_family.Add({{"metric", "portcullis_requests_total"}})),
        decisions(max_label_sets, &overflow_family.Add({{"metric", "portcullis_policy_decisions_total"}})),
        upstream_latency(max_label_sets, &overflow_family.Add({{"metric", "portcullis_upstream_duration_seconds"}})),
        upstream_errors(max_label_sets, &overflow_family.Add({{"metric", "portcullis_upstream_errors_total"}})),
        jwks(max_label_sets, &overflow_family.Add({{"metric", "portcullis_jwks_refresh_total"}})),
        credential(max_label_sets, &overflow_family.Add({{"metric", "portcullis_credential_refresh_total"}})) {
    start_family.Add({}).Set(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }

  std::shared_ptr<Registry> registry;
  Family<Counter>& overflow_family;
  Family<Counter>& requests_family;
  Family<Histogram>& request_duration_family;
  Family<Counter>& decisions_family;
  Family<Histogram>& policy_duration_family;
  Family<Histogram>& upstream_duration_family;
  Family<Counter>& upstream_errors_family;
  Family<Gauge>& open_streams_family;
  Family<Gauge>& held_family;
  Family<Gauge>& audit_depth_family;
  Family<Gauge>& kills_family;
  Family<Gauge>& shared_family;
  Family<Histogram>& audit_write_family;
  Family<Counter>& jwks_family;
  Family<Counter>& credential_family;
  Family<Counter>& collector_errors_family;
  Family<Gauge>& start_family;

  Histogram* policy_latency;
  Gauge* open_streams;
  Gauge* held;
  Gauge* audit_depth;
  Gauge* kills;
  Histogram* audit_write;
  Counter* collector_errors;

  struct RequestChildren {
    Counter* count;
    Histogram* duration;
  };
  LabelCache<RequestChildren> requests;
  LabelCache<Counter*> decisions;
  LabelCache<Histogram*> upstream_latency;
  LabelCache<Counter*> upstream_errors;
  LabelCache<Counter*> jwks;
  LabelCache<Counter*> credential;

  std::mutex collectors_mu;
  std::vector<std::shared_ptr<const std::function<void(Metrics&)>>> collectors;
  std::mutex render_mu;  // one scrape at a time runs the collectors
};

Metrics::Metrics(std::size_t max_label_sets) : impl_(std::make_unique<Impl>(std::max<std::size_t>(max_label_sets, 1))) {}
Metrics::~Metrics() = default;

std::string_view Metrics::method_label(std::string_view m) {
  if (m.empty()) return kNone;
  if (m == "tools/call") return "tools/call";
  if (m == "tools/list") return "tools/list";
  auto it = std::lower_bound(kMcpMethods.begin(), kMcpMethods.end(), m);
  if (it != kMcpMethods.end() && *it == m) return *it;
  return "other";
}

void Metrics::request(std::string_view route, std::string_view rpc_method, int status, double seconds) {
  route = or_none(route);
  std::string_view method = method_label(rpc_method);
  char status_buf[16];
  auto [end, ec] = std::to_chars(status_buf, status_buf + sizeof status_buf, status);
  std::string_view status_s(status_buf, ec == std::errc() ? static_cast<std::size_t>(end - status_buf) : 0);
  auto& im = *impl_;
  auto c = im.requests.get(
      make_key(route, method, status_s),
      [&] {
        std::string r(route), m(method), s(status_s);
        return Impl::RequestChildren{&im.requests_family.Add({{"route", r}, {"method", m}, {"status", s}}),
                                     &im.request_duration_family.Add({{"route", r}, {"method", m}}, request_buckets())};
      },
      [&] {
        std::string o(kOverflow);
        return Impl::RequestChildren{&im.requests_family.Add({{"route", o}, {"method", o}, {"status", o}}),
                                     &im.request_duration_family.Add({{"route", o}, {"method", o}}, request_buckets())};
      });
  c.count->Increment();
  c.duration->Observe(seconds);
}

void Metrics::decision(std::string_view effect, std::string_view rule) {
  effect = or_none(effect);
  rule = or_none(rule);
  auto& im = *impl_;
  im.decisions
      .get(
          make_key(effect, rule),
          [&] { return &im.decisions_family.Add({{"effect", std::string(effect)}, {"rule", std::string(rule)}}); },
          [&] { return &im.decisions_family.Add({{"effect", std::string(kOverflow)}, {"rule", std::string(kOverflow)}}); })
      ->Increment();
}

void Metrics::policy_latency(double seconds) { impl_->policy_latency->Observe(seconds); }

void Metrics::upstream_latency(std::string_view route, double seconds) {
  route = or_none(route);
  auto& im = *impl_;
  im.upstream_latency
      .get(
          make_key(route),
          [&] { return &im.upstream_duration_family.Add({{"route", std::string(route)}}, request_buckets()); },
          [&] { return &im.upstream_duration_family.Add({{"route", std::string(kOverflow)}}, request_buckets()); })
      ->Observe(seconds);
}

void Metrics::upstream_error(std::string_view route, std::string_view error_class) {
  route = or_none(route);
  error_class = or_none(error_class);
  auto& im = *impl_;
  im.upstream_errors
      .get(
          make_key(route, error_class),
          [&] {
            return &im.upstream_errors_family.Add({{"route", std::string(route)}, {"class", std::string(error_class)}});
          },
          [&] {
            return &im.upstream_errors_family.Add({{"route", std::string(kOverflow)}, {"class", std::string(kOverflow)}});
          })
      ->Increment();
}

void Metrics::set_open_streams(double n) { impl_->open_streams->Set(n); }
void Metrics::set_held_approvals(double n) { impl_->held->Set(n); }
void Metrics::audit_queue_depth(double n) { impl_->audit_depth->Set(n); }
void Metrics::set_kill_switches_engaged(double n) { impl_->kills->Set(n); }
void Metrics::set_shared_state_reachable(bool up) { impl_->shared_family.Add({}).Set(up ? 1 : 0); }
void Metrics::audit_write_latency(double seconds) { impl_->audit_write->Observe(seconds); }

namespace {
template <class Cache>
void count_result(Cache& cache, Family<Counter>& family, const char* label, std::string_view name, bool ok,
                  std::uint64_t n) {
  name = or_none(name);
  std::string_view result = ok ? "ok" : "error";
  cache
      .get(
          make_key(name, result),
          [&] { return &family.Add({{label, std::string(name)}, {"result", std::string(result)}}); },
          [&] { return &family.Add({{label, std::string(kOverflow)}, {"result", std::string(kOverflow)}}); })
      ->Increment(static_cast<double>(n));
}
}  // namespace

void Metrics::jwks_refresh(std::string_view issuer, bool ok, std::uint64_t n) {
  if (n > 0) count_result(impl_->jwks, impl_->jwks_family, "issuer", issuer, ok, n);
}
void Metrics::credential_refresh(std::string_view provider, bool ok, std::uint64_t n) {
  if (n > 0) count_result(impl_->credential, impl_->credential_family, "provider", provider, ok, n);
}

void Metrics::add_collector(std::function<void(Metrics&)> collector) {
  if (!collector) return;
  std::lock_guard lock(impl_->collectors_mu);
  impl_->collectors.push_back(std::make_shared<const std::function<void(Metrics&)>>(std::move(collector)));
}

std::string Metrics::render() {
  std::lock_guard render_lock(impl_->render_mu);
  std::vector<std::shared_ptr<const std::function<void(Metrics&)>>> collectors;
  {
    std::lock_guard lock(impl_->collectors_mu);
    collectors = impl_->collectors;
  }
  for (const auto& c : collectors) {
    try {
      (*c)(*this);
    } catch (...) {
      impl_->collector_errors->Increment();
    }
  }
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace portcullis::admin
