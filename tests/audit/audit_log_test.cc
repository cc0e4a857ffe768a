#include "audit/audit_log.h"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <set>
#include <csignal>
#include <sys/wait.h>

#include <atomic>

#include "audit/log_format.h"
#include "audit/reader.h"
#include "audit/signer.h"
#include "audit/verifier.h"
#include "test_util.h"

namespace portcullis::audit {
namespace {

using namespace std::chrono_literals;
using testing::append_sync;
using testing::FaultEnv;
using testing::read_text;
using testing::sample;
using testing::segment_files;
using testing::TempDir;

AuditLogOptions options(const TempDir& d, Env* env = nullptr) {
  AuditLogOptions o;
  o.dir = d.sub("log");
  o.instance = "gw-1";
  o.env = env;
  o.recovery_interval = 20ms;
  return o;
}

std::vector<nlohmann::json> all_records(const std::string& dir) {
  std::vector<nlohmann::json> out;
  REQUIRE(for_each_record(dir, [&](const nlohmann::json& r) {
    out.push_back(r);
    return true;
  }));
  return out;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

TEST_CASE("an appended record is on disk, chained and verifiable when its callback reports success") {
  TempDir d;
  auto log = AuditLog::open(options(d));
  REQUIRE(log);
  REQUIRE(append_sync(**log, sample(1)));
  REQUIRE(append_sync(**log, sample(2)));
  auto recs = all_records(d.sub("log"));  // read while the log is still open
  REQUIRE(recs.size() == 2);
  CHECK(recs[0]["seq"] == 1);
  CHECK(recs[0]["prev"] == std::string(kGenesisHash));
  CHECK(recs[1]["prev"] == recs[0]["hash"]);
  CHECK(recs[1]["instance"] == "gw-1");
  CHECK(recs[1]["decision_id"] == "d-2");
  CHECK(recs[1]["time"].get<std::string>().size() == 30);  // nanoseconds, UTC
  (*log)->close();
  auto report = verify_audit_dirs({d.sub("log")});
  CHECK(report.ok);
  CHECK(report.chains.at(0).unsigned_tail == 0);  // close wrote a checkpoint
  CHECK(std::filesystem::exists(d.sub("log/audit-pubkey.pem")));
}

TEST_CASE("each written batch is reported with its duration and size before its callbacks run") {
  TempDir d;
  auto opts = options(d);
  std::atomic<std::size_t> batches{0}, reported{0};
  opts.on_batch_written = [&](std::chrono::nanoseconds took, std::size_t n) {
    CHECK(took.count() > 0);
    ++batches;
    reported += n;
  };
  auto log = AuditLog::open(std::move(opts));
  REQUIRE(log);
  REQUIRE(append_sync(**log, sample(1)));
  CHECK(batches.load() == 1);
  REQUIRE(append_sync(**log, sample(2)));
  CHECK(batches.load() == 2);
  CHECK(reported.load() == 2);
  (*log)->close();
}

// Writes three records, closes the log, and returns its one segment's path.
std::string closed_log_of_three(const TempDir& d) {
  {
    auto log = AuditLog::open(options(d));
    REQUIRE(log);
    for (int i = 0; i < 3; ++i) REQUIRE(append_sync(**log, sample(i)));
  }
  auto segs = segment_files(d.sub("log"));
  REQUIRE(segs.size() == 1);
  return segs[0];
}

TEST_CASE("a torn tail is truncated on reopen and the chain and sequence continue") {
  TempDir d;
  std::string seg = closed_log_of_three(d);
  std::string data = read_text(seg);
  std::string torn = "{\"hash\":\"sha256:0123";  // half a record
  testing::write_text(seg, data + torn);
  std::uint64_t last_seq = all_records(d.sub("log")).back()["seq"];
  {
    auto log = AuditLog::open(options(d));
    REQUIRE(log);
    REQUIRE(append_sync(**log, sample(9)));
  }
  CHECK(read_text(seg) == data);  // truncated back to the last valid record
  auto recs = all_records(d.sub("log"));
  CHECK(recs[last_seq]["seq"] == last_seq + 1);
  CHECK(recs[last_seq]["kind"] == "audit_failure");
  CHECK(recs[last_seq]["reason"] == "torn_tail_truncated");
  CHECK(verify_audit_dirs({d.sub("log")}).ok);
}

TEST_CASE("damage in the middle of the last segment is copied aside before the truncation") {
  TempDir d;
  {
    auto o = options(d);
    o.checkpoint_records = 1000;
    auto log = AuditLog::open(o);
    REQUIRE(log);
    for (int i = 0; i < 5; ++i) REQUIRE(append_sync(**log, sample(i)));
  }
  auto segs = segment_files(d.sub("log"));
  auto lines = testing::split_lines(read_text(segs[0]));
  lines[2][30] = lines[2][30] == 'a' ? 'b' : 'a';
  testing::write_text(segs[0], testing::join_lines(lines));
  auto log = AuditLog::open(options(d));
  REQUIRE(log);
  bool copied = false;
  for (const auto& e : std::filesystem::directory_iterator(d.sub("log")))
    copied = copied || e.path().filename().string().find(".corrupt-") != std::string::npos;
  CHECK(copied);
  auto recs = read_recent(d.sub("log"), {"", {"audit_failure"}, 10});
  REQUIRE(recs);
  REQUIRE(recs->size() == 1);
  CHECK((*recs)[0]["reason"] == "corruption_truncated");
}

TEST_CASE("segments rotate by size, each ends with a checkpoint, and the chain crosses them") {
  TempDir d;
  auto o = options(d);
  o.segment_bytes = 2000;
  {
    auto log = AuditLog::open(o);
    REQUIRE(log);
    for (int i = 0; i < 40; ++i) REQUIRE(append_sync(**log, sample(i)));
  }
  auto segs = segment_files(d.sub("log"));
  CHECK(segs.size() >= 5);
  for (std::size_t i = 0; i + 1 < segs.size(); ++i) {
    auto lines = testing::split_lines(read_text(segs[i]));
    CHECK(nlohmann::json::parse(lines.back())["kind"] == "checkpoint");
  }
  auto report = verify_audit_dirs({d.sub("log")});
  CHECK(report.ok);
  CHECK(report.chains.at(0).segments == segs.size());
  // The first record of every segment chains to the last of the one before.
  auto second = testing::split_lines(read_text(segs[1]));
  auto first = testing::split_lines(read_text(segs[0]));
  CHECK(nlohmann::json::parse(second.front())["prev"] == nlohmann::json::parse(first.back())["hash"]);
}

TEST_CASE("segments rotate by age") {
  TempDir d;
  auto o = options(d);
  o.segment_age = 50ms;
  auto log = AuditLog::open(o);
  REQUIRE(log);
  REQUIRE(append_sync(**log, sample(1)));
  std::this_thread::sleep_for(120ms);
  REQUIRE(append_sync(**log, sample(2)));
  (*log)->close();
  CHECK(segment_files(d.sub("log")).size() >= 2);
  CHECK(verify_audit_dirs({d.sub("log")}).ok);
}

TEST_CASE("a checkpoint is written every N records and signs the record before it") {
  TempDir d;
  auto o = options(d);
  o.checkpoint_records = 5;
  o.checkpoint_interval = std::chrono::hours(1);
  auto log = AuditLog::open(o);
  REQUIRE(log);
  for (int i = 0; i < 12; ++i) REQUIRE(append_sync(**log, sample(i)));
  CHECK((*log)->stats().checkpoints == 2);
  auto recs = read_recent(d.sub("log"), {"", {"checkpoint"}, 10});
  REQUIRE(recs);
  REQUIRE(recs->size() == 2);
  const auto& cp = (*recs)[0]["checkpoint"];
  CHECK(cp["seq"] == (*recs)[0]["seq"].get<std::uint64_t>() - 1);
  CHECK(cp["hash"] == (*recs)[0]["prev"]);
  CHECK(cp["instance"] == "gw-1");
  CHECK(cp["key_id"].get<std::string>().rfind("ed25519:", 0) == 0);
}

TEST_CASE("a checkpoint is written when the interval passes even with no new append") {
  TempDir d;
  auto o = options(d);
  o.checkpoint_interval = 30ms;
  auto log = AuditLog::open(o);
  REQUIRE(log);
  REQUIRE(append_sync(**log, sample(1)));
  CHECK(wait_until([&] { return (*log)->stats().checkpoints == 1; }));
  std::this_thread::sleep_for(100ms);
  CHECK((*log)->stats().checkpoints == 1);  // nothing new to sign
}

TEST_CASE("a given signing key signs the checkpoints") {
  TempDir d;
  auto o = options(d);
  o.signing_key = std::string(32, '\x07');
  auto signer = Signer::from_bytes(o.signing_key);
  REQUIRE(signer);
  {
    auto log = AuditLog::open(o);
    REQUIRE(log);
    REQUIRE(append_sync(**log, sample(1)));
  }
  VerifyOptions v;
  v.trusted_public_keys = {(*signer)->public_pem()};
  CHECK(verify_audit_dirs({d.sub("log")}, v).ok);
  v.trusted_public_keys = {Signer::generate()->public_pem()};
  auto bad = verify_audit_dirs({d.sub("log")}, v);
  CHECK_FALSE(bad.ok);
  CHECK(bad.errors.at(0).reason.find("untrusted key") != std::string::npos);
}

TEST_CASE("ENOSPC on write fails the append and makes the log unhealthy and sticky-failed") {
  TempDir d;
  FaultEnv env;
  auto o = options(d, &env);
  o.recovery_interval = 1h;  // no recovery during this test
  auto log = AuditLog::open(o);
  REQUIRE(log);
  REQUIRE(append_sync(**log, sample(1)));
  env.enospc = true;
  auto s = append_sync(**log, sample(2));
  REQUIRE_FALSE(s);
  CHECK(s.error().code == AuditError::Code::kUnavailable);
  CHECK(s.error().message.find("No space left") != std::string::npos);
  CHECK_FALSE((*log)->healthy());
  env.enospc = false;  // even with the disk back, the log stays failed until recovery
  auto s2 = append_sync(**log, sample(3));
  REQUIRE_FALSE(s2);
  CHECK(s2.error().code == AuditError::Code::kUnavailable);
  CHECK((*log)->stats().rejected_unavailable == 1);
}

TEST_CASE("EIO on fdatasync fails the batch and the log never syncs that segment again") {
  TempDir d;
  FaultEnv env;
  auto o = options(d, &env);
  o.recovery_interval = 1h;
  auto log = AuditLog::open(o);
  REQUIRE(log);
  env.eio_on_sync = true;
  auto s = append_sync(**log, sample(1));
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("fdatasync") != std::string::npos);
  CHECK_FALSE((*log)->healthy());
  int syncs = env.syncs;
  env.eio_on_sync = false;
  CHECK_FALSE(append_sync(**log, sample(2)));
  CHECK(env.syncs == syncs);
}

TEST_CASE("recovery opens a new segment, records the gap and resumes") {
  TempDir d;
  FaultEnv env;
  auto o = options(d, &env);
  o.fail_open = true;
  auto log = AuditLog::open(o);
  REQUIRE(log);
  REQUIRE(append_sync(**log, sample(1)));
  env.enospc = true;
  env.partial_write = true;  // leaves half a record behind
  env.fail_open_file = true;  // and the first probes fail too
  CHECK_FALSE(append_sync(**log, sample(2)));
  CHECK_FALSE(append_sync(**log, sample(3)));
  std::this_thread::sleep_for(60ms);
  CHECK_FALSE((*log)->healthy());
  env.enospc = false;
  env.fail_open_file = false;
  REQUIRE(wait_until([&] { return (*log)->healthy(); }));
  REQUIRE(append_sync(**log, sample(4)));
  (*log)->close();
  CHECK((*log)->stats().recoveries == 1);
  auto gaps = read_recent(d.sub("log"), {"", {"audit_failure"}, 10});
  REQUIRE(gaps);
  REQUIRE(gaps->size() == 1);
  const auto& g = (*gaps)[0];
  CHECK(g["reason"] == "write_failed");
  CHECK(g["rejected_appends"] == 1);  // sample(3), refused while failed
  CHECK(g["fail_open"] == true);
  CHECK(g["error"].get<std::string>().find("No space left") != std::string::npos);
  CHECK(g["repairs"].at(0)["reason"] == "torn_tail_truncated");
  CHECK(segment_files(d.sub("log")).size() == 2);
  auto decisions = read_recent(d.sub("log"), {"", {"decision"}, 10});
  CHECK(decisions->size() == 2);  // 1 and 4; the half-written 2 was cut
  auto report = verify_audit_dirs({d.sub("log")});
  CHECK(report.ok);
}

TEST_CASE("group commit makes many concurrent appends durable with far fewer syncs") {
  TempDir d;
  FaultEnv env;
  auto log = AuditLog::open(options(d, &env));
  REQUIRE(log);
  int before = env.syncs;
  constexpr int kThreads = 16, kEach = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        if (append_sync(**log, sample(t * 1000 + i))) ++ok;
    });
  for (auto& t : ts) t.join();
  CHECK(ok == kThreads * kEach);
  int syncs = env.syncs - before;
  int appends = kThreads * kEach;
  MESSAGE(appends, " appends, ", syncs, " syncs");
  CHECK(syncs < kThreads * kEach / 2);
  (*log)->close();
  CHECK(verify_audit_dirs({d.sub("log")}).ok);
}

TEST_CASE("with a group commit delay, records gather until the delay, a flush or a full group") {
  TempDir d;
  FaultEnv env;
  auto o = options(d, &env);
  o.group_commit_delay = 1s;  // long, so a loaded machine cannot blur "waited" and "did not wait"
  o.group_commit_records = 4;
  auto log = AuditLog::open(o);
  REQUIRE(log);
  using Clock = std::chrono::steady_clock;
  auto append_timed = [&](int i, std::atomic<bool>& done) {
    (*log)->append(sample(i), [&done](const AuditStatus& s) {
      CHECK(s.ok());
      done = true;
    });
  };

  SUBCASE("a lone record waits out the delay, then is written") {
    std::atomic<bool> done{false};
    auto t0 = Clock::now();
    append_timed(1, done);
    std::this_thread::sleep_for(100ms);
    CHECK_FALSE(done.load());  // still gathering
    REQUIRE(wait_until([&] { return done.load(); }));
    CHECK(Clock::now() - t0 >= 990ms);
  }
  SUBCASE("flush() writes what is queued at once") {
    std::atomic<bool> done{false};
    int before = env.syncs;
    auto t0 = Clock::now();
    append_timed(1, done);
    std::this_thread::sleep_for(20ms);
    (*log)->flush();
    REQUIRE(wait_until([&] { return done.load(); }, 900ms));
    CHECK(Clock::now() - t0 < 900ms);
    CHECK(env.syncs == before + 1);
  }
  SUBCASE("a full group is written without waiting, in one sync") {
    std::atomic<bool> done[4] = {false, false, false, false};
    int before = env.syncs;
    auto t0 = Clock::now();
    for (int i = 0; i < 4; ++i) append_timed(i, done[i]);
    REQUIRE(wait_until([&] { return done[0] && done[1] && done[2] && done[3]; }, 1s));
    CHECK(Clock::now() - t0 < 900ms);
    CHECK(env.syncs == before + 1);
  }
  SUBCASE("flush() with nothing queued is harmless") {
    int before = env.syncs;
    (*log)->flush();
    std::this_thread::sleep_for(50ms);
    CHECK(env.syncs == before);
  }
  SUBCASE("background records alone are not flushed, and ride along with the next group") {
    int before = env.syncs;
    (*log)->append_background(sample(1));
    (*log)->flush();  // nothing waited for: no reason to sync yet
    std::this_thread::sleep_for(100ms);
    CHECK(env.syncs == before);
    std::atomic<bool> done{false};
    append_timed(2, done);
    (*log)->flush();
    REQUIRE(wait_until([&] { return done.load(); }, 900ms));
    CHECK(env.syncs == before + 1);
    CHECK((*log)->stats().appended == 2);
  }
  SUBCASE("a background record is written within its own bound when nothing else comes") {
    auto t0 = Clock::now();
    (*log)->append_background(sample(1));
    REQUIRE(wait_until([&] { return (*log)->stats().appended == 1; }, 3s));
    CHECK(Clock::now() - t0 >= 990ms);  // max(group_commit_delay, 100 ms)
  }
  SUBCASE("close() does not wait out the delay") {
    std::atomic<bool> done{false};
    auto t0 = Clock::now();
    append_timed(1, done);
    (*log)->close();
    CHECK(done.load());
    CHECK(Clock::now() - t0 < 900ms);
  }
  (*log)->close();
  CHECK(verify_audit_dirs({d.sub("log")}).ok);
}

TEST_CASE("after a failure and recovery, a lone record gathers again for the full delay") {
  // Records queued behind a failed batch are failed with it; none of their
  // gathering state may outlive them (a stale deadline would skip the delay).
  TempDir d;
  FaultEnv env;
  auto o = options(d, &env);
  o.group_commit_delay = 1s;  // long, so a loaded machine cannot blur "waited" and "did not wait"
  auto log = AuditLog::open(o);
  REQUIRE(log);
  env.hold_syncs();
  std::atomic<int> failed{0};
  (*log)->append(sample(1), [&](const AuditStatus& s) { failed += s ? 0 : 1; });
  (*log)->flush();
  env.wait_for_held_sync();  // record 1 is being synced
  (*log)->append(sample(2), [&](const AuditStatus& s) { failed += s ? 0 : 1; });  // queued behind it
  env.eio_on_sync = true;
  env.release_syncs();
  REQUIRE(wait_until([&] { return failed.load() == 2; }));
  env.eio_on_sync = false;
  REQUIRE(wait_until([&] { return (*log)->healthy(); }));
  std::this_thread::sleep_for(1100ms);  // past any deadline left from record 2

  std::atomic<bool> done{false};
  auto t0 = std::chrono::steady_clock::now();
  (*log)->append(sample(3), [&](const AuditStatus& s) {
    CHECK(s.ok());
    done = true;
  });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(done.load());
  REQUIRE(wait_until([&] { return done.load(); }));
  CHECK(std::chrono::steady_clock::now() - t0 >= 990ms);
  (*log)->close();
  CHECK(verify_audit_dirs({d.sub("log")}).ok);
}

TEST_CASE("a full queue rejects the append and the next batch records how many were rejected") {
  TempDir d;
  FaultEnv env;
  auto o = options(d, &env);
  o.queue_limit = 4;
  auto log = AuditLog::open(o);
  REQUIRE(log);
  env.hold_syncs();
  std::atomic<int> done{0};
  (*log)->append(sample(0), [&](const AuditStatus&) { ++done; });
  env.wait_for_held_sync();  // the writer is stuck in fdatasync; the queue fills
  for (int i = 1; i <= 4; ++i) (*log)->append(sample(i), [&](const AuditStatus& s) { done += s ? 1 : 100; });
  AuditStatus rejected;
  (*log)->append(sample(5), [&](const AuditStatus& s) { rejected = s; });  // inline
  REQUIRE_FALSE(rejected);
  CHECK(rejected.error().code == AuditError::Code::kQueueFull);
  CHECK((*log)->stats().queue_depth == 4);
  env.release_syncs();
  REQUIRE(wait_until([&] { return done == 5; }));
  CHECK((*log)->healthy());
  REQUIRE(append_sync(**log, sample(6)));
  auto gaps = read_recent(d.sub("log"), {"", {"audit_failure"}, 10});
  REQUIRE(gaps->size() == 1);
  CHECK((*gaps)[0]["reason"] == "queue_full");
  CHECK((*gaps)[0]["rejected_appends"] == 1);
}

TEST_CASE("a record that uses an envelope field name is rejected and the others still commit") {
  TempDir d;
  auto log = AuditLog::open(options(d));
  REQUIRE(log);
  Record bad = sample(1);
  bad.fields["seq"] = 7;
  auto s = append_sync(**log, bad);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == AuditError::Code::kInvalidRecord);
  CHECK((*log)->healthy());
  CHECK(append_sync(**log, sample(2)));
}

TEST_CASE("rotate_key hands over to the new key and a verifier pinned to either key accepts the chain") {
  TempDir d;
  auto o = options(d);
  o.signing_key = std::string(32, '\x01');
  std::string new_key(32, '\x02');
  auto old_signer = Signer::from_bytes(o.signing_key);
  auto new_signer = Signer::from_bytes(new_key);
  {
    auto log = AuditLog::open(o);
    REQUIRE(log);
    REQUIRE(append_sync(**log, sample(1)));
    std::promise<AuditStatus> p;
    (*log)->rotate_key(new_key, [&](const AuditStatus& s) { p.set_value(s); });
    REQUIRE(p.get_future().get());
    CHECK((*log)->public_key_pem() == (*new_signer)->public_pem());
    REQUIRE(append_sync(**log, sample(2)));
  }
  CHECK(read_text(d.sub("log/audit-pubkey.pem")) == (*new_signer)->public_pem());
  auto rot = read_recent(d.sub("log"), {"", {"key_rotation"}, 10});
  REQUIRE(rot->size() == 1);
  CHECK((*rot)[0]["key_rotation"]["new_key_id"] == (*new_signer)->key_id());
  VerifyOptions v;
  v.trusted_public_keys = {(*old_signer)->public_pem()};
  auto r1 = verify_audit_dirs({d.sub("log")}, v);
  CHECK(r1.ok);
  CHECK(r1.chains.at(0).unsigned_tail == 0);
  v.trusted_public_keys = {(*new_signer)->public_pem()};
  CHECK(verify_audit_dirs({d.sub("log")}, v).ok);
}

TEST_CASE("reopening with another key records the key change without a hand-over") {
  TempDir d;
  {
    auto log = AuditLog::open(options(d));
    REQUIRE(log);
    REQUIRE(append_sync(**log, sample(1)));
  }
  {
    auto log = AuditLog::open(options(d));  // a fresh generated key
    REQUIRE(log);
    REQUIRE(append_sync(**log, sample(2)));
  }
  auto rot = read_recent(d.sub("log"), {"", {"key_rotation"}, 10});
  REQUIRE(rot->size() == 1);
  CHECK((*rot)[0]["key_rotation"]["signature"].is_null());
  auto report = verify_audit_dirs({d.sub("log")});  // trusts the dir's (current) key
  CHECK(report.ok);
  bool warned = false;
  for (const auto& w : report.warnings) warned = warned || w.reason.find("without a hand-over") != std::string::npos;
  CHECK(warned);
}

TEST_CASE("the HMAC key is created once per log directory and reused") {
  TempDir d;
  std::string h1, h2;
  {
    auto log = AuditLog::open(options(d));
    REQUIRE(log);
    h1 = (*log)->hasher().hash("token-1");
  }
  {
    auto log = AuditLog::open(options(d));
    REQUIRE(log);
    h2 = (*log)->hasher().hash("token-1");
  }
  CHECK(h1 == h2);
  CHECK((std::filesystem::status(d.sub("log/audit-hmac.key")).permissions() & std::filesystem::perms::group_read) ==
        std::filesystem::perms::none);
}

TEST_CASE("close rejects later appends") {
  TempDir d;
  auto log = AuditLog::open(options(d));
  REQUIRE(log);
  (*log)->close();
  auto s = append_sync(**log, sample(1));
  REQUIRE_FALSE(s);
  CHECK(s.error().code == AuditError::Code::kClosed);
}

}  // namespace
}  // namespace portcullis::audit

namespace portcullis::audit {
namespace {

TEST_CASE("zeros are kept ahead of the writer in the open segment, readers stop at them, and sealing cuts them") {
  TempDir d;
  FaultEnv env;
  auto o = options(d, &env);
  o.preallocate = true;
  auto log = AuditLog::open(o);
  REQUIRE(log);
  for (int i = 0; i < 5; ++i) REQUIRE(append_sync(**log, sample(i)));
  REQUIRE(wait_until([&] { return env.zeroed_bytes > 0; }));
  REQUIRE(append_sync(**log, sample(5)));  // written over the zeros
  auto segs = segment_files(d.sub("log"));
  REQUIRE(segs.size() == 1);
  std::string open_data = read_text(segs[0]);
  SegmentScan scan = scan_segment(open_data);
  CHECK_FALSE(scan.bad);
  CHECK(scan.zero_tail > 0);
  CHECK(scan.valid_end + scan.zero_tail == open_data.size());
  CHECK(all_records(d.sub("log")).back()["decision_id"] == "d-5");
  CHECK(verify_audit_dirs({d.sub("log")}).ok);
  (*log)->close();
  std::string sealed = read_text(segs[0]);
  CHECK(sealed.size() == scan_segment(sealed).valid_end);
  CHECK(sealed.find('\0') == std::string::npos);
  CHECK(sealed.compare(0, scan.valid_end, open_data, 0, scan.valid_end) == 0);
}

TEST_CASE("a segment left with zeros after its records (a crash) is cut quietly at reopen") {
  TempDir d;
  std::string seg = closed_log_of_three(d);
  std::string data = read_text(seg);
  testing::write_text(seg, data + std::string(1 << 20, '\0'));
  std::size_t before = all_records(d.sub("log")).size();
  {
    auto log = AuditLog::open(options(d));
    REQUIRE(log);
    REQUIRE(append_sync(**log, sample(9)));
  }
  CHECK(read_text(seg) == data);
  auto recs = all_records(d.sub("log"));
  bool appended = false;
  for (std::size_t i = before; i < recs.size(); ++i) {
    CHECK(recs[i]["kind"] != "audit_failure");
    appended = appended || recs[i].value("decision_id", "") == "d-9";
  }
  CHECK(appended);
  CHECK(verify_audit_dirs({d.sub("log")}).ok);
}

TEST_CASE("by default (preallocation off), segments only grow by appends") {
  TempDir d;
  FaultEnv env;
  auto log = AuditLog::open(options(d, &env));
  REQUIRE(log);
  for (int i = 0; i < 5; ++i) REQUIRE(append_sync(**log, sample(i)));
  std::this_thread::sleep_for(50ms);
  CHECK(env.zeroed_bytes == 0);
  auto segs = segment_files(d.sub("log"));
  REQUIRE(segs.size() == 1);
  CHECK(scan_segment(read_text(segs[0])).zero_tail == 0);
}

TEST_CASE("when zeroing fails the segment goes on by appends, with no more zeroing") {
  TempDir d;
  FaultEnv env;
  // A fresh log writes nothing at open, so only the preparer's first piece
  // meets the ENOSPC.
  env.enospc = true;
  auto o = options(d, &env);
  o.preallocate = true;
  auto log = AuditLog::open(o);
  REQUIRE(log);
  REQUIRE(wait_until([&] { return env.zero_attempts > 0; }));
  std::this_thread::sleep_for(20ms);
  env.enospc = false;
  for (int i = 0; i < 20; ++i) REQUIRE(append_sync(**log, sample(i)));
  CHECK((*log)->healthy());
  CHECK(env.zero_attempts == 1);
  CHECK(env.zeroed_bytes == 0);
  (*log)->close();
  CHECK(verify_audit_dirs({d.sub("log")}).ok);
}

// F.3 #20 in miniature: SIGKILL a writer at random points; every record whose
// callback reported success must be there after reopen, and the chain must verify.
TEST_CASE("a log killed mid-write reopens with every acknowledged record and a valid chain") {
  TempDir d;
  std::set<std::string> acked;
  for (int round = 0; round < 5; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      // Odd rounds preallocate: their kill leaves zeros after the records.
      auto o = options(d);
      o.preallocate = round % 2 == 1;
      auto log = AuditLog::open(o);
      if (!log) ::_exit(3);
      std::vector<std::thread> ts;
      for (int t = 0; t < 4; ++t)
        ts.emplace_back([&, t] {
          for (int i = 0;; ++i) {
            Record r = sample(0);
            std::string id = std::to_string(round) + "-" + std::to_string(t) + "-" + std::to_string(i) + "\n";
            r.fields["decision_id"] = id.substr(0, id.size() - 1);
            if (append_sync(**log, std::move(r))) (void)!::write(fds[1], id.data(), id.size());
          }
        });
      for (auto& t : ts) t.join();
      ::_exit(0);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + 37 * round));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    for (std::size_t p = 0, nl; (nl = got.find('\n', p)) != std::string::npos; p = nl + 1)
      acked.insert(got.substr(p, nl - p));
  }
  {
    auto log = AuditLog::open(options(d));  // recovers the last torn tail, if any
    REQUIRE(log);
  }
  std::set<std::string> on_disk;
  for (const auto& r : all_records(d.sub("log")))
    if (r["kind"] == "decision") on_disk.insert(r["decision_id"].get<std::string>());
  CHECK(acked.size() > 0);
  std::size_t missing = 0;
  for (const auto& id : acked) missing += on_disk.count(id) ? 0 : 1;
  CHECK(missing == 0);
  auto report = verify_audit_dirs({d.sub("log")});
  CHECK(report.ok);
  MESSAGE(acked.size(), " acknowledged records over 5 kills, ", report.chains.at(0).records, " records in the chain");
}

}  // namespace
}  // namespace portcullis::audit
