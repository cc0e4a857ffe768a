// Audit log throughput with group commit on this machine.
//
//   append_bench [--dir DIR] [--threads N] [--seconds S] [--mode closed|open] [--full]
//
// closed: N producer threads each append a ~600-byte decision record and
//         wait for its durability callback before the next (the gateway's
//         pattern: each request waits for its own record).
// open:   one producer enqueues as fast as the queue allows; measures the
//         writer's ceiling.
// Records are ~600 bytes on disk, or with --full a decision record with every
// schema field filled (~1.2 KiB). Prints records/s, syncs and records per sync, enqueue latency (the time
// append() takes on the caller's thread) and append-to-durable latency, plus
// the raw write+fdatasync latency of the directory's disk for context.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "audit/log_format.h"
#include "audit/record.h"

using namespace portcullis::audit;
using Clock = std::chrono::steady_clock;

namespace {

// A compact decision record padded to `target` bytes on disk.
Record make_small_record(const KeyedHasher& h, std::size_t target) {
  Record r;
  r.kind = "decision";
  r.fields = {{"decision_id", "0190d3c2-7b1e-7cc0-9f3a-100000000000"},
              {"decision", "allow"},
              {"agent", "support-bot"},
              {"upstream", "crm"},
              {"method", "tools/call"},
              {"tool", "read_record"},
              {"action", "read"},
              {"sensitivity", "internal"},
              {"rules", {"support-reads"}},
              {"token_hmac", h.hash("jti-1")},
              {"latency_us", 180},
              {"reason", ""}};
  nlohmann::json env = r.fields;
  env["schema"] = kSchema;
  env["seq"] = 1234567;
  env["time"] = "2026-11-22T08:00:00.123456789Z";
  env["instance"] = "bench";
  env["kind"] = "decision";
  env["prev"] = std::string(kGenesisHash);
  std::size_t size = encode_line(canonical_json(env), nullptr).size();
  if (size < target) r.fields["reason"] = std::string(target - size, 'r');
  return r;
}

Record make_record(const KeyedHasher& h, int i) {
  DecisionFacts f;
  f.decision_id = "0190d3c2-7b1e-7cc0-9f3a-" + std::to_string(100000000000 + i);
  f.decision = "allow";
  f.config_revision = "sha256:3f4c9a0d1e2b5c6a7f8e9d0c1b2a3f4e";
  f.policy_version = "2026.11.22";
  f.policy_revision = "sha256:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";
  f.agent = "support-bot";
  f.owner = "alice@example.com";
  f.user = "u-17";
  f.issuer = "http://127.0.0.1:9211";
  f.token_id = "jti-" + std::to_string(i);
  f.upstream = "crm";
  f.method = "tools/call";
  f.jsonrpc_id = std::to_string(i);
  f.tool = "read_record";
  f.tool_fingerprint = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f0";
  f.action = "read";
  f.sensitivity = "internal";
  f.resources = {{{"argument", "/id"}, {"value", "r-12345"}, {"sensitivity", "internal"}}};
  f.arguments = {{"id", "r-12345"}, {"limit", 10}};
  f.rules = {"support-reads"};
  f.reason = "rule support-reads allows";
  f.credential_kind = "client_credentials";
  f.src_ip = "10.0.0.8";
  f.latency = std::chrono::microseconds(180);
  return make_decision_record(f, h);
}

struct Percentiles {
  double p50, p99, p999, max;
};
Percentiles pct(std::vector<double>& v) {
  if (v.empty()) return {0, 0, 0, 0};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))]; };
  return {at(0.50), at(0.99), at(0.999), v.back()};
}

double raw_fdatasync_us(const std::string& dir) {
  std::string path = dir + "/raw-sync-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) return -1;
  std::string buf(4096, 'x');
  std::vector<double> lat;
  for (int i = 0; i < 200; ++i) {
    auto t0 = Clock::now();
    if (::write(fd, buf.data(), buf.size()) < 0 || ::fdatasync(fd) != 0) break;
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  return pct(lat).p50;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/portcullis-audit-bench";
  int threads = 64;
  double seconds = 5;
  std::string mode = "closed";
  bool full = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
    else if (a == "--mode" && i + 1 < argc) mode = argv[++i];
    else if (a == "--full") full = true;
    else {
      std::fprintf(stderr, "usage: append_bench [--dir DIR] [--threads N] [--seconds S] [--mode closed|open] [--full]\n");
      return 2;
    }
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::printf("raw write(4KiB)+fdatasync p50: %.0f us\n", raw_fdatasync_us(dir));

  AuditLogOptions o;
  o.dir = dir + "/log";
  o.instance = "bench";
  auto opened = AuditLog::open(o);
  if (!opened) {
    std::fprintf(stderr, "open: %s\n", opened.error().message.c_str());
    return 1;
  }
  auto& log = **opened;
  Record proto = full ? make_record(log.hasher(), 0) : make_small_record(log.hasher(), 600);
  nlohmann::json env = proto.fields;
  env["schema"] = kSchema;
  env["seq"] = 123456;
  env["time"] = "2026-11-22T08:00:00.123456789Z";
  env["instance"] = "bench";
  env["kind"] = "decision";
  env["prev"] = std::string(kGenesisHash);
  std::printf("record size on disk: %zu bytes\n", encode_line(canonical_json(env), nullptr).size());

  auto start_stats = log.stats();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> done{0}, failed{0};
  std::vector<std::vector<double>> enq(threads), dur(threads);
  auto t_start = Clock::now();

  if (mode == "closed") {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        std::mutex m;
        std::condition_variable cv;
        bool ready = false;
        bool ok = false;
        int i = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          Record r = proto;  // copy outside the timed section
          r.fields["decision_id"] = std::to_string(t) + "-" + std::to_string(i++);
          ready = false;
          auto t0 = Clock::now();
          log.append(std::move(r), [&](const AuditStatus& s) {
            std::lock_guard lk(m);
            ok = s.ok();
            ready = true;
            cv.notify_one();
          });
          auto t1 = Clock::now();
          std::unique_lock lk(m);
          cv.wait(lk, [&] { return ready; });
          auto t2 = Clock::now();
          enq[t].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
          dur[t].push_back(std::chrono::duration<double, std::micro>(t2 - t0).count());
          (ok ? done : failed).fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : ts) t.join();
  } else {
    threads = 1;
    std::atomic<std::uint64_t> accepted{0};
    auto end = t_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    int i = 0;
    while (Clock::now() < end) {
      Record r = proto;
      r.fields["decision_id"] = "o-" + std::to_string(i++);
      auto t0 = Clock::now();
      log.append(std::move(r), [&](const AuditStatus& s) { (s.ok() ? done : failed).fetch_add(1); });
      enq[0].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      ++accepted;
    }
    while (done + failed < accepted) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - t_start).count();
  auto st = log.stats();
  log.close();

  std::vector<double> all_enq, all_dur;
  for (auto& v : enq) all_enq.insert(all_enq.end(), v.begin(), v.end());
  for (auto& v : dur) all_dur.insert(all_dur.end(), v.begin(), v.end());
  auto e = pct(all_enq), d = pct(all_dur);
  std::uint64_t syncs = st.syncs - start_stats.syncs;
  std::printf("mode %s, %d producer thread(s), %.1f s\n", mode.c_str(), threads, elapsed);
  std::printf("durable records: %llu (%.0f records/s), failed/rejected: %llu\n",
              static_cast<unsigned long long>(done.load()), done / elapsed,
              static_cast<unsigned long long>(failed.load()));
  std::printf("fdatasyncs: %llu (%.1f records per sync)\n", static_cast<unsigned long long>(syncs),
              syncs ? static_cast<double>(done) / syncs : 0.0);
  std::printf("enqueue latency us: p50 %.2f p99 %.2f p99.9 %.2f max %.0f\n", e.p50, e.p99, e.p999, e.max);
  if (!all_dur.empty())
    std::printf("append->durable latency us: p50 %.0f p99 %.0f p99.9 %.0f max %.0f\n", d.p50, d.p99, d.p999,
                d.max);
  std::filesystem::remove_all(dir);
  return 0;
}
