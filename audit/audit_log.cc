#include "audit/audit_log.h"

#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "audit/env.h"
#include "audit/keyed_hasher.h"
#include "audit/log_format.h"
#include "audit/signer.h"
#include "common/encoding.h"
#include "config/config.h"

namespace portcullis::audit {
namespace {

using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;

// How long a background record may wait for a group to ride along with.
constexpr std::chrono::milliseconds kBackgroundDelay{100};

// Preallocation (State::run_preparer): free space it never takes, and how
// far past the writer's end it starts zeroing (the first bytes of a segment
// are appended while the first zeros are being written).
constexpr std::uint64_t kPreallocKeepFree = 64ull << 20;
constexpr std::uint64_t kPreallocLead = 64u << 10;

AuditError make_error(AuditError::Code code, std::string msg) { return AuditError{code, std::move(msg)}; }

struct Pending {
  enum class Op { kRecord, kCheckpoint, kRotateKey } op = Op::kRecord;
  Record record;
  SysClock::time_point time;
  DurableCallback cb;
  std::string key;  // kRotateKey
};

}  // namespace

AuditLogOptions AuditLogOptions::from_config(const config::AuditConfig& cfg, std::string instance) {
  AuditLogOptions o;
  o.dir = cfg.dir;
  o.instance = std::move(instance);
  o.fail_open = cfg.fail_open;
  o.checkpoint_records = cfg.checkpoint_records;
  o.checkpoint_interval = cfg.checkpoint_interval;
  o.segment_bytes = cfg.segment_bytes;
  o.segment_age = cfg.segment_age;
  o.preallocate = cfg.preallocate;
  o.queue_limit = cfg.queue_limit;
  o.group_commit_delay = std::chrono::duration_cast<std::chrono::microseconds>(cfg.group_commit_delay);
  o.group_commit_records = cfg.group_commit_records;
  return o;
}

struct AuditLog::State {
  AuditLogOptions opt;
  Env* env = nullptr;
  std::unique_ptr<KeyedHasher> hasher;

  // Guarded by mu.
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<Pending> queue;
  bool writer_waiting = false;  // idle: the queue was empty
  bool gathering = false;       // waiting for more records to share a sync
  bool flush_requested = false;
  Clock::time_point first_queued;  // when the queue last became non-empty
  std::size_t waited_queued = 0;   // queued records someone waits for (not append_background)
  Clock::time_point first_waited;
  bool failed = false;
  bool closing = false;
  bool stop = false;
  std::string error;
  AuditStats stats;
  std::uint64_t rejected_while_failed = 0;  // since the failure began
  std::uint64_t rejected_full_unrecorded = 0;
  std::string failed_at;
  std::string probe_error;  // why the last recovery attempt failed
  std::uint64_t recovery_attempts = 0;
  std::string pubkey_pem;

  // Writer-thread only (and open(), before the thread starts).
  std::unique_ptr<Signer> signer;
  std::unique_ptr<WritableFile> file;
  std::string segment_path;
  std::uint64_t segment_size = 0;
  std::uint64_t segment_records = 0;
  Clock::time_point segment_opened;
  std::uint64_t last_seq = 0;  // last framed seq (0: empty chain)
  std::string last_hash{kGenesisHash};
  std::uint64_t durable_seq = 0;
  std::uint64_t records_since_cp = 0;
  std::vector<nlohmann::json> repairs;  // made by recovery, not yet recorded
  // Reused across batches: a fresh multi-megabyte buffer per batch costs
  // page faults (mmap'd allocations) that dominated the writer's profile.
  std::string body_buf;
  std::string batch_buf;
  Clock::time_point last_cp = Clock::now();
  std::thread writer;
  std::atomic<std::uint64_t> checkpoints{0};

  // ---- preallocation ----
  // Appending grows the segment at every write, and ext4 must then commit
  // its journal inside every fdatasync: on this project's VM that doubled
  // the sync's latency and its CPU. So the preparer thread keeps zeros,
  // written and synced, ahead of the writer in the open segment; the writer
  // writes over them and fdatasync has only data to write. close() cuts the
  // zeros left over. The writer never depends on it: past the zeros, or with
  // preallocation off or failed, segments simply grow.
  std::uint64_t prealloc_ahead = 0;  // bytes of zeros kept ahead (0: off)
  std::uint64_t prealloc_piece = 0;  // written (and synced) at a time
  std::mutex prep_mu;
  std::condition_variable prep_cv;
  std::string prep_path;         // the open segment ("" between segments)
  std::uint64_t writer_end = 0;  // bytes the writer has written or is writing
  std::uint64_t zeroed_end = 0;  // end of the zeros written so far
  std::uint64_t claim_lo = 0;    // start of the piece being written when busy
  bool prep_busy = false;
  bool prep_off = false;  // failed or short of space: no more for this segment
  bool prep_stop = false;
  std::thread preparer;

  void run_preparer() {
    std::unique_lock lk(prep_mu);
    for (;;) {
      prep_cv.wait(lk, [&] {
        return prep_stop || (!prep_path.empty() && !prep_off && zeroed_end < writer_end + prealloc_ahead);
      });
      if (prep_stop) return;
      // Never where the writer is or has been: its writes wait only for a
      // piece they would overlap (reserve_for_write).
      std::uint64_t lo = std::max(zeroed_end, (writer_end + kPreallocLead + 4095) / 4096 * 4096);
      std::uint64_t hi = lo + prealloc_piece;
      std::string path = prep_path;
      prep_busy = true;
      claim_lo = lo;
      lk.unlock();
      auto avail = env->available_bytes(opt.dir);
      bool ok = avail && *avail >= kPreallocKeepFree + prealloc_piece && env->write_zeros(path, lo, hi - lo).ok();
      lk.lock();
      prep_busy = false;
      if (ok) zeroed_end = hi;
      else prep_off = true;
      prep_cv.notify_all();
    }
  }

  // Writer thread, before writing up to `end` of the open segment.
  void reserve_for_write(std::uint64_t end) {
    if (prealloc_ahead == 0) return;
    std::unique_lock lk(prep_mu);
    prep_cv.wait(lk, [&] { return !prep_busy || end <= claim_lo; });
    writer_end = std::max(writer_end, end);
    bool wake = !prep_busy && !prep_off && zeroed_end < writer_end + prealloc_ahead / 2;
    lk.unlock();
    if (wake) prep_cv.notify_all();
  }

  void attach_preparer(const std::string& path, std::uint64_t size) {
    if (prealloc_ahead == 0) return;
    {
      std::lock_guard lk(prep_mu);
      prep_path = path;
      writer_end = zeroed_end = size;
      prep_off = false;
    }
    prep_cv.notify_all();
  }

  // Closes the open segment once the preparer is out of it.
  IoStatus close_file() {
    if (!file) return {};
    if (prealloc_ahead > 0) {
      std::unique_lock lk(prep_mu);
      prep_cv.wait(lk, [&] { return !prep_busy; });
      prep_path.clear();
    }
    auto s = file->close();
    file.reset();
    return s;
  }

  void enqueue(Record record, DurableCallback on_durable, bool waited);

  void enqueue_control(Pending p) {
    std::unique_lock lk(mu);
    if (closing || failed) {
      auto code = closing ? AuditError::Code::kClosed : AuditError::Code::kUnavailable;
      lk.unlock();
      if (p.cb) p.cb(Unexpected<AuditError>{AuditError{code, "audit log is not writable"}});
      return;
    }
    if (queue.empty()) first_queued = Clock::now();
    queue.push_back(std::move(p));
    writer_waiting = false;
    flush_requested = true;  // operator actions do not wait for company
    lk.unlock();
    cv.notify_one();
  }

  // ---- framing (writer thread) ----

  template <class Fields>  // nlohmann::json or CanonicalFields
  void frame(std::string_view kind_name, const Fields& fields, SysClock::time_point t, std::string& buf) {
    std::string time = format_time(t);
    body_buf.clear();
    canonical_record_into(body_buf, fields, Envelope{opt.instance, kind_name, last_hash, last_seq + 1, time});
    append_line(buf, body_buf, &last_hash);
    ++last_seq;
    ++segment_records;
  }

  void frame_checkpoint(std::string& buf) {
    auto now = SysClock::now();
    std::string t = format_time(now);
    std::string sig = signer->sign(checkpoint_message(opt.instance, last_seq, last_hash, t));
    nlohmann::json f;
    f["checkpoint"] = {{"seq", last_seq},
                       {"hash", last_hash},
                       {"time", t},
                       {"instance", opt.instance},
                       {"key_id", signer->key_id()},
                       {"public_key", encoding::base64_encode(signer->public_key())},
                       {"signature", encoding::base64_encode(sig)}};
    frame(kind::kCheckpoint, std::move(f), now, buf);
    records_since_cp = 0;
    last_cp = Clock::now();
    checkpoints.fetch_add(1, std::memory_order_relaxed);
  }

  template <class Fields>
  void frame_record(const Fields& fields, std::string_view kind_name, SysClock::time_point t, std::string& buf) {
    frame(kind_name, fields, t, buf);
    if (++records_since_cp >= std::max<std::uint64_t>(1, opt.checkpoint_records)) frame_checkpoint(buf);
  }

  // A key_rotation record naming `next`, signed by the current key (or, when
  // `old_signature` is false, with a null signature: the old private key is
  // not available).
  void frame_rotation(const Signer& next, bool old_signature, std::string_view old_key_id, std::string reason,
                      std::string& buf) {
    std::string pub_b64 = encoding::base64_encode(next.public_key());
    nlohmann::json r = {{"old_key_id", std::string(old_key_id)},
                        {"old_public_key", old_signature ? nlohmann::json(encoding::base64_encode(signer->public_key()))
                                                         : nlohmann::json(nullptr)},
                        {"new_key_id", next.key_id()},
                        {"new_public_key", pub_b64},
                        {"reason", std::move(reason)}};
    r["signature"] = old_signature ? nlohmann::json(encoding::base64_encode(
                                         signer->sign(rotation_message(opt.instance, last_seq, last_hash, pub_b64))))
                                   : nlohmann::json(nullptr);
    nlohmann::json f;
    f["key_rotation"] = std::move(r);
    frame(kind::kKeyRotation, std::move(f), SysClock::now(), buf);
    ++records_since_cp;
  }

  // ---- files (writer thread) ----

  IoStatus write_and_sync(const std::string& buf) {
    if (buf.empty()) return {};
    reserve_for_write(segment_size + buf.size());
    if (auto s = file->append(buf); !s) return s;
    segment_size += buf.size();
    auto s = file->sync();
    {
      std::lock_guard lk(mu);
      ++stats.syncs;
    }
    if (!s) return s;
    durable_seq = last_seq;
    return {};
  }

  IoStatus open_segment() {
    segment_path = join_path(opt.dir, segment_name(last_seq + 1));
    auto f = env->open_appendable(segment_path);
    if (!f) return Err(f.error());
    file = std::move(*f);
    attach_preparer(segment_path, 0);
    segment_size = 0;
    segment_records = 0;
    segment_opened = Clock::now();
    return env->sync_dir(opt.dir);
  }

  // Finds the chain's end on disk: drops empty trailing segments, truncates
  // a torn tail (copying damaged segments aside first). Appends to `notes`
  // one description per repair, for an audit_failure record.
  IoStatus recover_state(std::vector<nlohmann::json>& notes) {
    last_seq = 0;
    last_hash = std::string(kGenesisHash);
    auto names = env->list_dir(opt.dir);
    if (!names) return Err(names.error());
    auto segs = sorted_segments(*names);
    while (!segs.empty()) {
      std::string path = join_path(opt.dir, segs.back());
      auto data = env->read_file(path);
      if (!data) return Err(data.error());
      SegmentScan scan = scan_segment(*data);
      if (scan.bad) {
        // Zeros after the damage are preallocated space, not dropped records.
        std::size_t end = data->find_last_not_of('\0');
        end = end == std::string::npos ? scan.valid_end : std::max(end + 1, scan.valid_end);
        nlohmann::json note = {{"file", segs.back()},
                               {"offset", scan.bad_offset},
                               {"bytes_dropped", end - scan.valid_end},
                               {"detail", scan.bad_reason}};
        if (scan.valid_after_bad) {
          std::string aside = path + ".corrupt-" +
                              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                 SysClock::now().time_since_epoch())
                                                 .count());
          if (auto s = env->write_file_atomic(aside, *data, 0640); !s) return s;
          note["reason"] = "corruption_truncated";
          note["copy"] = aside.substr(aside.find_last_of('/') + 1);
        } else {
          note["reason"] = "torn_tail_truncated";
        }
        if (auto s = env->truncate(path, scan.valid_end); !s) return s;
        notes.push_back(std::move(note));
      }
      if (!scan.bad && scan.zero_tail > 0 && !scan.entries.empty()) {
        // The unused preallocated end of a segment sealed by a crash.
        if (auto s = env->truncate(path, scan.valid_end); !s) return s;
        if (notes.empty())
          if (auto s = env->sync_dir(opt.dir); !s) return s;
      }
      if (scan.entries.empty()) {
        if (auto s = env->remove_file(path); !s) return s;
        segs.pop_back();
        continue;
      }
      const auto& last = scan.entries.back().line;
      last_seq = last.seq;
      last_hash = last.hash;
      break;
    }
    if (!notes.empty())
      if (auto s = env->sync_dir(opt.dir); !s) return s;
    durable_seq = last_seq;
    return {};
  }

  // Compares the signer with <dir>/audit-pubkey.pem and frames a key_rotation
  // record when the key changed without a hand-over; then rewrites the file.
  void frame_key_change_if_any(std::string& buf, bool& pubkey_changed) {
    std::string path = join_path(opt.dir, kPubkeyFile);
    pubkey_changed = true;
    if (env->exists(path)) {
      if (auto data = env->read_file(path)) {
        auto pub = ed25519_public_from_bytes(*data);
        if (pub && *pub == signer->public_key()) {
          pubkey_changed = false;
          return;
        }
        if (pub && last_seq > 0)
          frame_rotation(*signer, false, ed25519_key_id(*pub),
                         "signing key changed at open; the previous private key is not available to sign the "
                         "hand-over",
                         buf);
      }
    }
  }

  IoStatus write_pubkey() {
    return env->write_file_atomic(join_path(opt.dir, kPubkeyFile), signer->public_pem(), 0644);
  }

  // Opens the log after start-up or a failure: recover, new segment, records
  // describing repairs/gaps, a checkpoint, sync.
  IoStatus reopen(const nlohmann::json* gap) {
    (void)close_file();  // sealed: never written or synced again
    std::uint64_t acknowledged = durable_seq;
    // Repairs accumulate across failed probes, so a truncation done by an
    // attempt that then failed to open a segment is still recorded.
    auto& notes = repairs;
    if (auto s = recover_state(notes); !s) return s;
    if (auto s = open_segment(); !s) return s;
    std::string buf;
    auto now = SysClock::now();
    if (gap) {
      nlohmann::json f = *gap;
      f["last_acknowledged_seq"] = acknowledged;
      // Records after the last acknowledged one reached the disk but their
      // callers were told the write failed, so nothing acted on them.
      f["unacknowledged_records"] = last_seq > acknowledged ? last_seq - acknowledged : 0;
      f["recovered_at"] = format_time(now);
      f["repairs"] = notes;
      frame_record(std::move(f), kind::kAuditFailure, now, buf);
    } else {
      for (auto& n : notes) {
        nlohmann::json f = {{"reason", n["reason"]}, {"repairs", nlohmann::json::array({n})}};
        frame_record(std::move(f), kind::kAuditFailure, now, buf);
      }
    }
    bool pubkey_changed = false;
    frame_key_change_if_any(buf, pubkey_changed);
    if (!buf.empty()) frame_checkpoint(buf);
    if (auto s = write_and_sync(buf); !s) return s;
    repairs.clear();
    if (pubkey_changed)
      if (auto s = write_pubkey(); !s) return s;
    return {};
  }

  // ---- writer loop ----

  void fail_all(std::vector<Pending>& items, const AuditError& e) {
    for (auto& p : items)
      if (p.cb) p.cb(Unexpected<AuditError>{e});
  }

  void enter_failed(const std::string& why, std::vector<Pending>& batch) {
    std::vector<Pending> rest;
    {
      std::lock_guard lk(mu);
      failed = true;
      error = why;
      failed_at = format_time(SysClock::now());
      ++stats.failures;
      stats.healthy = false;
      rest.swap(queue);
      waited_queued = 0;
      flush_requested = false;
    }
    AuditError e = make_error(AuditError::Code::kUnavailable, "audit log write failed: " + why);
    fail_all(batch, e);
    fail_all(rest, e);
    (void)close_file();
  }

  bool rotation_due() const {
    return segment_records > 0 && (segment_size >= opt.segment_bytes ||
                                   Clock::now() - segment_opened >= opt.segment_age);
  }

  IoStatus rotate() {
    std::string buf;
    if (records_since_cp > 0) frame_checkpoint(buf);
    if (auto s = write_and_sync(buf); !s) return s;
    if (auto s = close_file(); !s) return s;
    return open_segment();
  }

  void process(std::vector<Pending>& batch) {
    if (rotation_due())
      if (auto s = rotate(); !s) return enter_failed(s.error().message, batch);

    std::string& buf = batch_buf;
    buf.clear();
    if (batch_buf.capacity() > (64u << 20)) batch_buf.shrink_to_fit();  // after a huge burst
    std::uint64_t n_records = 0;
    std::vector<std::pair<std::size_t, AuditError>> item_errors;
    bool key_rotated = false;
    std::uint64_t rejected_full = 0;
    {
      std::lock_guard lk(mu);
      std::swap(rejected_full, rejected_full_unrecorded);
    }
    if (rejected_full > 0) {
      // Make the hole visible in the chain itself: decisions that were
      // refused (or, with fail_open, went ahead) without a record.
      nlohmann::json f = {
          {"reason", "queue_full"}, {"rejected_appends", rejected_full}, {"fail_open", opt.fail_open}};
      frame_record(std::move(f), kind::kAuditFailure, SysClock::now(), buf);
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& p = batch[i];
      switch (p.op) {
        case Pending::Op::kRecord: {
          if (!p.record.canonical.empty()) {  // built by record.cc: valid by construction
            frame_record(p.record.canonical, p.record.kind, p.time, buf);
            ++n_records;
            break;
          }
          std::string bad;
          if (!p.record.fields.is_object()) bad = "fields must be a JSON object";
          else if (p.record.kind.empty()) bad = "kind must not be empty";
          else
            for (auto it = p.record.fields.begin(); it != p.record.fields.end(); ++it)
              if (is_reserved_field(it.key())) bad = "field name '" + it.key() + "' is reserved for the log";
          if (!bad.empty()) {
            item_errors.emplace_back(i, make_error(AuditError::Code::kInvalidRecord, bad));
            break;
          }
          frame_record(p.record.fields, p.record.kind, p.time, buf);
          ++n_records;
          break;
        }
        case Pending::Op::kCheckpoint:
          if (records_since_cp > 0) frame_checkpoint(buf);
          break;
        case Pending::Op::kRotateKey: {
          auto next = Signer::from_bytes(p.key);
          if (!next) {
            item_errors.emplace_back(i, make_error(AuditError::Code::kInvalidRecord, next.error().message));
            break;
          }
          frame_checkpoint(buf);  // the old key signs everything so far
          frame_rotation(**next, true, signer->key_id(), "rotate_key", buf);
          signer = std::move(*next);
          frame_checkpoint(buf);
          key_rotated = true;
          break;
        }
      }
    }
    if (records_since_cp > 0 && Clock::now() - last_cp >= opt.checkpoint_interval) frame_checkpoint(buf);

    auto write_start = Clock::now();
    if (auto s = write_and_sync(buf); !s) return enter_failed(s.error().message, batch);
    if (opt.on_batch_written) opt.on_batch_written(Clock::now() - write_start, n_records);
    AuditError pubkey_error;
    bool pubkey_failed = false;
    if (key_rotated) {
      if (auto s = write_pubkey(); !s) {
        pubkey_failed = true;
        pubkey_error = make_error(AuditError::Code::kUnavailable, "key rotated but " + s.error().message);
      }
      std::lock_guard lk(mu);
      pubkey_pem = signer->public_pem();
    }
    {
      std::lock_guard lk(mu);
      stats.appended += n_records;
      stats.last_seq = durable_seq;
    }
    std::size_t e = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& p = batch[i];
      if (e < item_errors.size() && item_errors[e].first == i) {
        if (p.cb) p.cb(Unexpected<AuditError>{item_errors[e].second});
        ++e;
      } else if (p.op == Pending::Op::kRotateKey && pubkey_failed) {
        if (p.cb) p.cb(Unexpected<AuditError>{pubkey_error});
      } else if (p.cb) {
        p.cb(AuditStatus{});
      }
    }
  }

  Clock::time_point next_deadline() const {
    auto d = Clock::now() + std::chrono::hours(1);
    if (records_since_cp > 0) d = std::min(d, last_cp + opt.checkpoint_interval);
    if (segment_records > 0) d = std::min(d, segment_opened + opt.segment_age);
    return d;
  }

  void try_recover() {
    nlohmann::json gap;
    std::uint64_t rejected;
    {
      std::lock_guard lk(mu);
      rejected = rejected_while_failed;
      ++recovery_attempts;
      gap = {{"reason", "write_failed"},
             {"error", error},
             {"failed_at", failed_at},
             {"rejected_appends", rejected},
             {"recovery_attempts", recovery_attempts},
             {"fail_open", opt.fail_open}};
    }
    if (auto s = reopen(&gap); !s) {
      (void)close_file();
      std::lock_guard lk(mu);
      probe_error = s.error().message;  // `error` keeps the original cause
      return;
    }
    std::lock_guard lk(mu);
    failed = false;
    error.clear();
    probe_error.clear();
    recovery_attempts = 0;
    rejected_while_failed -= rejected;
    ++stats.recoveries;
    stats.healthy = true;
    stats.last_seq = durable_seq;
  }

  void run() {
    std::vector<Pending> batch;
    std::unique_lock lk(mu);
    for (;;) {
      if (failed) {
        if (stop) break;
        cv.wait_for(lk, opt.recovery_interval, [&] { return stop; });
        if (stop) break;
        lk.unlock();
        try_recover();
        lk.lock();
        continue;
      }
      if (queue.empty() && !stop) {
        writer_waiting = true;
        cv.wait_until(lk, next_deadline(), [&] { return stop || !queue.empty(); });
        writer_waiting = false;
      }
      if (queue.empty() && stop) break;
      // Gather (see audit_log.h): append() and flush() wake us when the
      // group is full, asked for, or gets its first waited record.
      while (!queue.empty() && !stop && !flush_requested && queue.size() < opt.group_commit_records) {
        auto deadline = waited_queued > 0 ? first_waited + opt.group_commit_delay
                                          : first_queued + std::max<Clock::duration>(opt.group_commit_delay,
                                                                                     kBackgroundDelay);
        if (Clock::now() >= deadline) break;
        gathering = true;
        cv.wait_until(lk, deadline);
        gathering = false;
      }
      flush_requested = false;
      waited_queued = 0;
      batch.swap(queue);
      stats.queue_depth = 0;
      lk.unlock();
      process(batch);
      batch.clear();
      lk.lock();
    }
    bool ok = !failed;
    lk.unlock();
    if (ok && file) {
      std::string buf;
      if (records_since_cp > 0) frame_checkpoint(buf);
      (void)write_and_sync(buf);
    }
    (void)close_file();
  }
};

AuditLog::AuditLog(std::unique_ptr<State> state) : s_(std::move(state)) {}

AuditLog::~AuditLog() { close(); }

Result<std::unique_ptr<AuditLog>> AuditLog::open(AuditLogOptions options) {
  auto st = std::make_unique<State>();
  st->env = options.env ? options.env : Env::posix();
  st->opt = std::move(options);
  auto& s = *st;
  if (s.opt.dir.empty()) return Err("audit: dir is empty");
  if (auto r = s.env->create_dir(s.opt.dir); !r) return Err(r.error());

  if (s.opt.signing_key.empty()) {
    s.signer = Signer::generate();
  } else {
    auto sg = Signer::from_bytes(s.opt.signing_key);
    if (!sg) return Err(sg.error());
    s.signer = std::move(*sg);
  }
  std::string hkey = s.opt.hmac_key;
  if (hkey.empty()) {
    std::string path = join_path(s.opt.dir, kHmacKeyFile);
    if (s.env->exists(path)) {
      auto data = s.env->read_file(path);
      if (!data) return Err(data.error());
      hkey = *data;
    } else {
      hkey.assign(32, '\0');
      if (RAND_bytes(reinterpret_cast<unsigned char*>(hkey.data()), 32) != 1) return Err("audit: RAND_bytes failed");
      if (auto r = s.env->write_file_atomic(path, hkey, 0600); !r) return Err(r.error());
    }
  }
  auto h = KeyedHasher::create(std::move(hkey));
  if (!h) return Err(h.error());
  s.hasher = std::move(*h);

  if (s.opt.preallocate) {
    // 4 MiB ahead in 1 MiB pieces for the default 64 MiB segments; less for
    // small ones, so a tiny segment is not mostly zeros.
    s.prealloc_ahead = std::clamp<std::uint64_t>(s.opt.segment_bytes / 4096 * 4096, 64u << 10, 4u << 20);
    s.prealloc_piece = s.prealloc_ahead / 4;
  }
  if (auto r = s.reopen(nullptr); !r) return Err("audit: cannot open log in " + s.opt.dir + ": " + r.error().message);
  s.stats.last_seq = s.durable_seq;
  s.pubkey_pem = s.signer->public_pem();
  s.queue.reserve(1024);
  State* raw = st.get();
  st->writer = std::thread([raw] { raw->run(); });
  if (raw->prealloc_ahead > 0) st->preparer = std::thread([raw] { raw->run_preparer(); });
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(st)));
}

void AuditLog::append(Record record, DurableCallback on_durable) { s_->enqueue(std::move(record), std::move(on_durable), true); }

void AuditLog::append_background(Record record) { s_->enqueue(std::move(record), nullptr, false); }

void AuditLog::State::enqueue(Record record, DurableCallback on_durable, bool waited) {
  std::unique_lock lk(mu);
  AuditError::Code code;
  const char* why;
  if (closing) {
    code = AuditError::Code::kClosed;
    why = "audit log is closed";
  } else if (failed) {
    code = AuditError::Code::kUnavailable;
    why = "audit log is failed (waiting for recovery)";
    ++rejected_while_failed;
    ++stats.rejected_unavailable;
  } else if (queue.size() >= opt.queue_limit) {
    code = AuditError::Code::kQueueFull;
    why = "audit queue is full";
    ++rejected_full_unrecorded;
    ++stats.rejected_queue_full;
  } else {
    auto now = std::chrono::system_clock::now();
    bool first_of_waited = waited && waited_queued++ == 0;
    if (queue.empty() || first_of_waited) {
      auto t = Clock::now();
      if (queue.empty()) first_queued = t;
      if (first_of_waited) first_waited = t;
    }
    queue.push_back(Pending{Pending::Op::kRecord, std::move(record), now, std::move(on_durable), {}});
    // An idle writer wakes to time the group; a gathering one when the group
    // is full or its deadline moves up (or on flush()).
    bool wake = writer_waiting ||
                (gathering && (first_of_waited || queue.size() == opt.group_commit_records));
    writer_waiting = false;
    lk.unlock();
    if (wake) cv.notify_one();
    return;
  }
  std::string msg = why;
  if (code == AuditError::Code::kUnavailable && !error.empty()) msg += ": " + error;
  lk.unlock();
  if (on_durable) on_durable(Unexpected<AuditError>{AuditError{code, std::move(msg)}});
}

void AuditLog::flush() {
  auto& s = *s_;
  std::unique_lock lk(s.mu);
  // Background records alone are no reason to sync now.
  if (s.waited_queued == 0 || s.flush_requested) return;
  s.flush_requested = true;
  bool wake = s.gathering;  // otherwise busy writing: it takes the queue next, without gathering
  lk.unlock();
  if (wake) s.cv.notify_one();
}

void AuditLog::checkpoint(DurableCallback on_durable) {
  Pending p;
  p.op = Pending::Op::kCheckpoint;
  p.cb = std::move(on_durable);
  s_->enqueue_control(std::move(p));
}

void AuditLog::rotate_key(std::string new_signing_key, DurableCallback on_done) {
  Pending p;
  p.op = Pending::Op::kRotateKey;
  p.key = std::move(new_signing_key);
  p.cb = std::move(on_done);
  s_->enqueue_control(std::move(p));
}

bool AuditLog::healthy() const {
  std::lock_guard lk(s_->mu);
  return !s_->failed && !s_->closing;
}

std::string AuditLog::last_error() const {
  std::lock_guard lk(s_->mu);
  if (!s_->probe_error.empty()) return s_->error + " (recovery: " + s_->probe_error + ")";
  return s_->error;
}

AuditStats AuditLog::stats() const {
  std::lock_guard lk(s_->mu);
  AuditStats st = s_->stats;
  st.queue_depth = s_->queue.size();
  st.checkpoints = s_->checkpoints.load(std::memory_order_relaxed);
  st.healthy = !s_->failed;
  return st;
}

const KeyedHasher& AuditLog::hasher() const { return *s_->hasher; }

std::string AuditLog::public_key_pem() const {
  std::lock_guard lk(s_->mu);
  return s_->pubkey_pem;
}

const std::string& AuditLog::dir() const { return s_->opt.dir; }

void AuditLog::close() {
  if (!s_) return;
  {
    std::lock_guard lk(s_->mu);
    if (s_->stop) return;
    s_->closing = true;
    s_->stop = true;
  }
  s_->cv.notify_one();
  if (s_->writer.joinable()) s_->writer.join();
  if (s_->preparer.joinable()) {
    {
      std::lock_guard lk(s_->prep_mu);
      s_->prep_stop = true;
    }
    s_->prep_cv.notify_all();
    s_->preparer.join();
  }
}

}  // namespace portcullis::audit
