// Decision latency of policy::decide() for 10, 100, 1,000 and 10,000 rules.
//
// The policy is generated: 20 upstreams with read/write/delete tool classes
// and a resource level each; rules mix literal and glob upstreams and tools,
// action matches, agent ids and groups, argument conditions (max, in, RE2
// pattern) and rate limits. Calls draw agents (2 of 50 groups), upstreams,
// tool names and arguments at random; arguments are parsed nlohmann::json,
// and their extraction (JSON pointers), classification, resource levels,
// rule matching, limits and the Decision's strings are all timed. Each
// decision is timed on its own with steady_clock; p50/p99/p99.9 over all,
// best of three rounds (by p99).
//
//   decide_bench [decisions-per-size]   (default 200000)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/call_facts.h"
#include "policy/engine.h"
#include "policy/limit_counter.h"
#include "policy/policy_loader.h"

using namespace portcullis::policy;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kUpstreams = 20;
constexpr int kGroups = 50;
constexpr int kItems = 100;

std::string generate_policy(int rules, std::mt19937& rng) {
  std::string y = "version: \"bench\"\nsensitivity_levels: [public, internal, confidential, restricted]\n"
                  "default_sensitivity: internal\ntools:\n";
  for (int u = 0; u < kUpstreams; ++u) {
    std::string up = "up" + std::to_string(u);
    y += "  - { match: { upstream: " + up + ", tool: \"get_*\" }, action: read }\n";
    y += "  - { match: { upstream: " + up + ", tool: \"list_*\" }, action: read }\n";
    y += "  - { match: { upstream: " + up + ", tool: \"update_*\" }, action: write }\n";
    y += "  - { match: { upstream: " + up + ", tool: \"delete_*\" }, action: delete, sensitivity: confidential }\n";
    y += "  - { match: { upstream: " + up + ", tool: \"pay_*\" }, action: financial, sensitivity: confidential }\n";
  }
  y += "resources:\n";
  for (int u = 0; u < kUpstreams; ++u) {
    y += "  - { match: { upstream: up" + std::to_string(u) +
         " }, argument: /id, levels: [ { pattern: \"vip-*\", sensitivity: restricted } ] }\n";
  }
  y += "rules:\n";
  std::uniform_int_distribution<int> pct(0, 99);
  for (int i = 0; i < rules; ++i) {
    std::string id = "r" + std::to_string(i);
    int p = pct(rng);
    std::string effect = p < 80 ? "allow" : p < 90 ? "deny" : "require_approval";
    std::string upstream;
    p = pct(rng);
    if (p < 85) upstream = "upstream: up" + std::to_string(rng() % kUpstreams);
    else if (p < 95) upstream = "upstream: \"up1*\"";
    else upstream = "";
    std::string tool;
    p = pct(rng);
    if (p < 40) tool = "tool: get_item_" + std::to_string(rng() % kItems);
    else if (p < 55) tool = "tool: \"get_*\"";
    else if (p < 65) tool = "tool: \"update_*\"";
    else if (p < 70) tool = "tool: \"*_report\"";
    else if (p < 80) tool = "tool: \"list_?tems\"";
    else if (p < 90) tool = "actions: [read]";
    else tool = "actions: [write, delete]";
    if (upstream.empty() && effect == "deny") upstream = "upstream: up" + std::to_string(rng() % kUpstreams);
    std::string tools = "{ " + upstream + (upstream.empty() ? "" : ", ") + tool + " }";
    std::string agents;
    p = pct(rng);
    if (p < 70) agents = "{ groups: [g" + std::to_string(rng() % kGroups) + ", g" + std::to_string(rng() % kGroups) + "] }";
    else if (p < 90) agents = "{ ids: [agent-" + std::to_string(rng() % 200) + "] }";
    else agents = "{ owners: [owner-" + std::to_string(rng() % 20) + "@example.com] }";
    y += "  - id: " + id + "\n    effect: " + effect + "\n    agents: " + agents + "\n    tools: " + tools + "\n";
    p = pct(rng);
    if (p < 60) {
      y += "    when:\n      - { argument: /limit, max: " + std::to_string(5 + rng() % 50) + " }\n";
      if (p < 30) y += "      - { argument: /status, in: [open, pending, closed] }\n";
      if (p < 15) y += "      - { argument: /id, pattern: \"[a-z]+-[0-9]{1,8}\" }\n";
    }
    if (effect != "deny" && pct(rng) < 20) {
      y += "    limits: [ { rate: 1000000/1m, per: agent } ]\n";
    }
  }
  return y;
}

struct Sample {
  std::string agent, owner, upstream, tool;
  std::vector<std::string> groups;
  nlohmann::json args;
};

std::vector<Sample> generate_calls(int n, std::mt19937& rng) {
  static const char* kPrefixes[] = {"get_item_", "list_items", "update_ticket_", "delete_record_", "x_report", "pay_invoice"};
  std::vector<Sample> calls;
  for (int i = 0; i < n; ++i) {
    Sample s;
    s.agent = "agent-" + std::to_string(rng() % 200);
    s.owner = "owner-" + std::to_string(rng() % 20) + "@example.com";
    s.groups = {"g" + std::to_string(rng() % kGroups), "g" + std::to_string(rng() % kGroups)};
    s.upstream = "up" + std::to_string(rng() % kUpstreams);
    int k = static_cast<int>(rng() % 6);
    s.tool = kPrefixes[k];
    if (k == 0 || k == 2 || k == 3) s.tool += std::to_string(rng() % kItems);
    std::string args = R"({"id": ")" + std::string(rng() % 20 == 0 ? "vip" : "rec") + "-" +
                       std::to_string(rng() % 100000) + R"(", "limit": )" + std::to_string(rng() % 40) +
                       R"(, "status": ")" + (rng() % 4 ? "open" : "archived") +
                       R"(", "note": "customer asked for a callback", "tags": ["a", "b"]})";
    s.args = nlohmann::json::parse(args);
    calls.push_back(std::move(s));
  }
  return calls;
}

double percentile(std::vector<std::uint64_t>& v, double p) {
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return static_cast<double>(v[i]);
}

}  // namespace

int main(int argc, char** argv) {
  const int decisions = argc > 1 ? std::atoi(argv[1]) : 200000;
  std::printf("%8s %10s %9s %9s %9s %9s %9s %8s %8s %8s\n", "rules", "load_ms", "p50_us", "p90_us", "p99_us",
              "p99.9_us", "mean_us", "allow%", "deny%", "hold%");
  for (int rules : {10, 100, 1000, 10000}) {
    std::mt19937 rng(42 + rules);
    std::string yaml = generate_policy(rules, rng);
    auto t0 = Clock::now();
    auto loaded = load_policy_text({{"bench.yaml", yaml}});
    auto load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!loaded) {
      for (const auto& e : loaded.error()) std::fprintf(stderr, "%s\n", e.to_string().c_str());
      return 1;
    }
    const PolicySnapshot& snapshot = *loaded->snapshot;
    std::vector<Sample> calls = generate_calls(4096, rng);
    InMemoryLimitCounter limits;
    const auto now = std::chrono::system_clock::now();
    auto facts_of = [&](const Sample& s) {
      CallFacts f;
      f.agent_id = s.agent;
      f.agent_owner = s.owner;
      f.agent_groups = s.groups;
      f.agent_clearance = "confidential";
      f.agent_registered = true;
      f.upstream = s.upstream;
      f.name = s.tool;
      f.arguments = &s.args;
      f.now = now;
      return f;
    };
    for (int i = 0; i < 20000; ++i) (void)decide(snapshot, facts_of(calls[i % calls.size()]), &limits, nullptr);

    // Three rounds; the round with the lowest p99 is printed, since a shared
    // machine's preemptions land in whichever round they hit.
    struct Row {
      double p50, p90, p99, p999, mean;
      std::size_t effects[3];
    } best{};
    best.p99 = 1e300;
    for (int round = 0; round < 3; ++round) {
      std::vector<std::uint64_t> ns;
      ns.reserve(static_cast<std::size_t>(decisions));
      Row row{};
      for (int i = 0; i < decisions; ++i) {
        const Sample& s = calls[static_cast<std::size_t>(i) % calls.size()];
        auto start = Clock::now();
        Decision d = decide(snapshot, facts_of(s), &limits, nullptr);
        auto end = Clock::now();
        ns.push_back(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
        ++row.effects[static_cast<int>(d.effect)];
      }
      for (auto v : ns) row.mean += static_cast<double>(v);
      row.mean /= static_cast<double>(ns.size());
      row.p50 = percentile(ns, 0.50);
      row.p90 = percentile(ns, 0.90);
      row.p99 = percentile(ns, 0.99);
      row.p999 = percentile(ns, 0.999);
      if (row.p99 < best.p99) best = row;
    }
    auto share = [&](int e) { return 100.0 * static_cast<double>(best.effects[e]) / decisions; };
    std::printf("%8d %10.1f %9.2f %9.2f %9.2f %9.2f %9.2f %8.1f %8.1f %8.1f\n", rules, load_ms, best.p50 / 1000,
                best.p90 / 1000, best.p99 / 1000, best.p999 / 1000, best.mean / 1000, share(0), share(2), share(1));
  }
  return 0;
}
