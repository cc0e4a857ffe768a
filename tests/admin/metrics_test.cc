#include "admin/metrics.h"

#include <doctest/doctest.h>

#include <atomic>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::admin {
namespace {

// The value of the sample line that starts with `series` (name plus labels
// exactly as rendered), or -1 when absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

TEST_CASE("unlabelled metrics are rendered before anything is recorded; labelled ones once seen") {
  Metrics m;
  std::string text = m.render();
  for (std::string name :
       {"portcullis_policy_decision_duration_seconds", "portcullis_open_streams", "portcullis_held_approvals",
        "portcullis_audit_queue_depth", "portcullis_kill_switches_engaged", "portcullis_audit_write_duration_seconds",
        "portcullis_start_time_seconds", "portcullis_metrics_label_overflow_total",
        "portcullis_metrics_collector_errors_total"}) {
    CAPTURE(name);
    CHECK(contains(text, "# TYPE " + name + " "));
  }
  // prometheus-cpp leaves out a family without children.
  CHECK_FALSE(contains(text, "# TYPE portcullis_requests_total"));
  CHECK(sample(text, "portcullis_open_streams") == 0);
  CHECK(sample(text, "portcullis_start_time_seconds") > 1.6e9);

  m.request("r", "tools/call", 200, 0.01);
  m.decision("allow", "x");
  m.upstream_latency("r", 0.01);
  m.upstream_error("r", "connect");
  m.jwks_refresh("i", true);
  m.credential_refresh("p", true);
  text = m.render();
  for (std::string name :
       {"portcullis_requests_total counter", "portcullis_request_duration_seconds histogram",
        "portcullis_policy_decisions_total counter", "portcullis_upstream_duration_seconds histogram",
        "portcullis_upstream_errors_total counter", "portcullis_jwks_refresh_total counter",
        "portcullis_credential_refresh_total counter"}) {
    CAPTURE(name);
    CHECK(contains(text, "# TYPE " + name + "\n"));
  }
}

TEST_CASE("requests are counted by route, method and status with a duration histogram") {
  Metrics m;
  m.request("github", "tools/call", 200, 0.003);
  m.request("github", "tools/call", 200, 0.2);
  m.request("github", "tools/call", 403, 0.001);
  m.request("", "", 404, 0.0001);
  std::string text = m.render();
  CHECK(sample(text, R"(portcullis_requests_total{method="tools/call",route="github",status="200"})") == 2);
  CHECK(sample(text, R"(portcullis_requests_total{method="tools/call",route="github",status="403"})") == 1);
  CHECK(sample(text, R"(portcullis_requests_total{method="none",route="none",status="404"})") == 1);
  CHECK(sample(text, R"(portcullis_request_duration_seconds_count{method="tools/call",route="github"})") == 3);
  CHECK(sample(text, R"(portcullis_request_duration_seconds_sum{method="tools/call",route="github"})") ==
        doctest::Approx(0.204));
  CHECK(sample(text, R"(portcullis_request_duration_seconds_bucket{method="tools/call",route="github",le="0.005"})") ==
        2);
  CHECK(sample(text, R"(portcullis_request_duration_seconds_bucket{method="tools/call",route="github",le="+Inf"})") ==
        3);
}

TEST_CASE("client-chosen methods do not become label values") {
  CHECK(Metrics::method_label("tools/call") == "tools/call");
  CHECK(Metrics::method_label("resources/read") == "resources/read");
  CHECK(Metrics::method_label("initialize") == "initialize");
  CHECK(Metrics::method_label("notifications/initialized") == "notifications/initialized");
  CHECK(Metrics::method_label("") == "none");
  CHECK(Metrics::method_label("tools/call2") == "other");
  CHECK(Metrics::method_label("x\"}\n# evil") == "other");

  Metrics m;
  for (int i = 0; i < 100; ++i) m.request("r", "made/up/" + std::to_string(i), 200, 0.01);
  std::string text = m.render();
  CHECK(sample(text, R"(portcullis_requests_total{method="other",route="r",status="200"})") == 100);
  CHECK_FALSE(contains(text, "made/up"));
}

TEST_CASE("label sets beyond the limit go to the overflow series and are counted") {
  Metrics m(3);
  for (int i = 0; i < 5; ++i) m.upstream_error("route" + std::to_string(i), "connect");
  m.upstream_error("route0", "connect");  // known: still its own series
  std::string text = m.render();
  CHECK(sample(text, R"(portcullis_upstream_errors_total{class="connect",route="route0"})") == 2);
  CHECK(sample(text, R"(portcullis_upstream_errors_total{class="connect",route="route2"})") == 1);
  CHECK(sample(text, R"(portcullis_upstream_errors_total{class="connect",route="route3"})") == -1);
  CHECK(sample(text, R"(portcullis_upstream_errors_total{class="overflow",route="overflow"})") == 2);
  CHECK(sample(text, R"(portcullis_metrics_label_overflow_total{metric="portcullis_upstream_errors_total"})") == 2);
  CHECK(sample(text, R"(portcullis_metrics_label_overflow_total{metric="portcullis_requests_total"})") == 0);
}

TEST_CASE("decisions, latencies, gauges and refresh results") {
  Metrics m;
  m.decision("allow", "read-only");
  m.decision("deny", "");
  m.decision("deny", "");
  m.policy_latency(4e-6);
  m.upstream_latency("github", 0.05);
  m.set_open_streams(3);
  m.set_held_approvals(2);
  m.audit_queue_depth(17);
  m.set_kill_switches_engaged(1);
  m.audit_write_latency(0.0004);
  m.jwks_refresh("https://idp.example", true);
  m.jwks_refresh("https://idp.example", false);
  m.credential_refresh("vault", true);
  std::string text = m.render();
  CHECK(sample(text, R"(portcullis_policy_decisions_total{effect="allow",rule="read-only"})") == 1);
  CHECK(sample(text, R"(portcullis_policy_decisions_total{effect="deny",rule="none"})") == 2);
  CHECK(sample(text, "portcullis_policy_decision_duration_seconds_count") == 1);
  CHECK(sample(text, R"(portcullis_policy_decision_duration_seconds_bucket{le="5e-06"})") == 1);
  CHECK(sample(text, R"(portcullis_upstream_duration_seconds_count{route="github"})") == 1);
  CHECK(sample(text, "portcullis_open_streams") == 3);
  CHECK(sample(text, "portcullis_held_approvals") == 2);
  CHECK(sample(text, "portcullis_audit_queue_depth") == 17);
  CHECK(sample(text, "portcullis_kill_switches_engaged") == 1);
  CHECK(sample(text, "portcullis_audit_write_duration_seconds_count") == 1);
  CHECK(sample(text, R"(portcullis_jwks_refresh_total{issuer="https://idp.example",result="ok"})") == 1);
  CHECK(sample(text, R"(portcullis_jwks_refresh_total{issuer="https://idp.example",result="error"})") == 1);
  CHECK(sample(text, R"(portcullis_credential_refresh_total{provider="vault",result="ok"})") == 1);
}

TEST_CASE("label values are escaped in the text format") {
  Metrics m;
  m.upstream_error("r", "bad\"class\\\n");
  std::string text = m.render();
  CHECK(contains(text, R"(class="bad\"class\\\n")"));
}

TEST_CASE("collectors fill gauges at scrape time; a throwing one is counted and skipped") {
  Metrics m;
  int scrapes = 0;
  m.add_collector([&](Metrics& mm) { mm.set_open_streams(++scrapes * 10); });
  m.add_collector([](Metrics&) { throw std::runtime_error("boom"); });
  m.add_collector([](Metrics& mm) { mm.set_held_approvals(5); });
  m.add_collector({});  // ignored
  std::string text = m.render();
  CHECK(sample(text, "portcullis_open_streams") == 10);
  CHECK(sample(text, "portcullis_held_approvals") == 5);
  CHECK(sample(text, "portcullis_metrics_collector_errors_total") == 1);
  text = m.render();
  CHECK(sample(text, "portcullis_open_streams") == 20);
  CHECK(sample(text, "portcullis_metrics_collector_errors_total") == 2);
}

TEST_CASE("recording from many threads while scraping loses nothing") {
  Metrics m;
  constexpr int kThreads = 4, kCalls = 20000;
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) (void)m.render();
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    std::string rule = std::string("r").append(std::to_string(t));  // not "r" + ...: GCC 12 -Wrestrict false positive
    threads.emplace_back([&m, rule] {
      for (int i = 0; i < kCalls; ++i) {
        m.request(i % 2 ? "a" : "b", "tools/call", 200 + (i % 3), 0.001);
        m.decision("allow", rule);
        m.policy_latency(1e-6);
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  scraper.join();
  std::string text = m.render();
  double total = 0;
  for (const char* route : {"a", "b"})
    for (int s : {200, 201, 202})
      total += sample(text, std::string("portcullis_requests_total{method=\"tools/call\",route=\"") + route +
                                "\",status=\"" + std::to_string(s) + "\"}");
  CHECK(total == kThreads * kCalls);
  CHECK(sample(text, R"(portcullis_policy_decisions_total{effect="allow",rule="r3"})") == kCalls);
  CHECK(sample(text, "portcullis_policy_decision_duration_seconds_count") == kThreads * kCalls);
}

}  // namespace
}  // namespace portcullis::admin
