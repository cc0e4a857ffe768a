// AuditLog: the durable, tamper-evident decision log of one gateway instance.
//
// Contract (the gateway's ordering invariant: no record, no forward):
//   log->append(record, [](const AuditStatus& s) { ... });
// enqueues the record and returns at once (a mutex, a move, maybe a notify;
// no I/O). A dedicated writer thread takes everything queued, frames it, does
// ONE write and ONE fdatasync for the whole group, and only then calls each
// record's callback with success. The caller acts on the decision (forward,
// reply) only after a successful callback.
//
// Group commit: each fdatasync costs the machine far more CPU than framing a
// record, so under load the writer lets records gather (PostgreSQL's
// commit_delay) rather than syncing as soon as it is free. It starts a group
// when flush() is called (the gateway's event loops call it whenever they
// run out of work: nothing more is coming to share the write, so waiting
// would only idle the CPU), when `group_commit_records` are queued, or when
// the oldest queued record has waited `group_commit_delay`. An idle gateway
// therefore adds no delay; a saturated one trades up to the delay in
// latency for fewer syncs.
//
// Threads: append(), healthy(), stats(), hasher() are safe from any thread.
// Callbacks run on the writer thread, except when append() rejects the record
// outright (queue full, log failed or closed): then the callback runs inline,
// on the caller's thread, before append() returns. Every callback is called
// exactly once. Callbacks must be quick (post to your own executor).
//
// Failure (LevelDB's sticky error): when a write or fdatasync fails, that
// batch and everything queued fail with kUnavailable, the segment is sealed
// (never written or synced again), healthy() turns false and every later
// append fails at once. Every `recovery_interval` the writer rescans the
// directory, truncates a torn tail, opens a new segment and writes an
// `audit_failure` record describing the gap; on success the log is healthy
// again. A full queue rejects only that append (kQueueFull) and the next
// successful batch records how many were rejected.
//
// Preallocation: while a segment is open, the bytes after its last line may
// be zeros (up to about 5 MiB); closing or rotating the segment cuts them,
// recovery at open does too, and every reader here stops at them.
//
// Lifetime: close() (or the destructor) stops accepting, drains the queue,
// writes a final signed checkpoint, and joins the writer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "audit/keyed_hasher.h"
#include "audit/record.h"
#include "common/result.h"

namespace portcullis::config {
struct AuditConfig;
}

namespace portcullis::audit {

class Env;

struct AuditError {
  enum class Code {
    kQueueFull,      // too many records waiting: refuse this request (503), retry later
    kUnavailable,    // write/sync failed, log is failed until recovery: refuse (503)
    kClosed,         // the log is shutting down: refuse
    kInvalidRecord,  // the caller's bug (reserved field name, fields not an object)
  };
  Code code = Code::kUnavailable;
  std::string message;
};
using AuditStatus = Result<void, AuditError>;
using DurableCallback = std::function<void(const AuditStatus&)>;

struct AuditLogOptions {
  std::string dir;
  std::string instance = "portcullis";  // replica name, written in every record
  // Ed25519 signing key: 32 raw seed bytes or a PEM private key (from the
  // vault or a key file). Empty: a fresh key is generated at each open; its
  // public key goes to <dir>/audit-pubkey.pem (the private key never touches disk).
  std::string signing_key;
  // HMAC key for token ids and arguments (>= 16 bytes). Empty: read
  // <dir>/audit-hmac.key, creating it (32 random bytes, mode 0600) if missing.
  std::string hmac_key;
  std::uint64_t checkpoint_records = 1000;
  std::chrono::milliseconds checkpoint_interval{std::chrono::seconds(10)};
  std::uint64_t segment_bytes = 64ull * 1024 * 1024;
  std::chrono::milliseconds segment_age{std::chrono::hours(1)};
  std::size_t queue_limit = 65536;  // records waiting for the writer
  // 0: the writer starts a group as soon as it is free (no gathering).
  std::chrono::microseconds group_commit_delay{0};
  std::size_t group_commit_records = 1024;
  std::chrono::milliseconds recovery_interval{std::chrono::seconds(1)};
  // Keep zeros, written and synced, up to 4 MiB ahead of the writer in the
  // open segment, so that its fdatasync has no metadata to commit (see
  // State::run_preparer). Off (the default): segments grow by plain appends,
  // so the open segment can be followed live (tail -f, log shippers), which
  // a file whose size does not grow with its data cannot.
  bool preallocate = false;
  // The gateway's on_failure: fail_open. Only recorded (in audit_failure
  // records: callers went ahead without a record); the log still reports errors.
  bool fail_open = false;
  Env* env = nullptr;  // default Env::posix()
  // Called on the writer thread after each batch is written and synced, with
  // the time the write and fdatasync took and the batch's size (metrics).
  std::function<void(std::chrono::nanoseconds took, std::size_t records)> on_batch_written;

  // dir, fail_open, checkpoints, segments and queue limit from the config.
  // The signing key is a secret reference: the caller resolves it and sets
  // signing_key.
  static AuditLogOptions from_config(const config::AuditConfig& cfg, std::string instance);
};

struct AuditStats {
  std::uint64_t appended = 0;        // records made durable (excluding checkpoints)
  std::uint64_t syncs = 0;           // fdatasync calls on segments
  std::uint64_t checkpoints = 0;
  std::uint64_t rejected_queue_full = 0;
  std::uint64_t rejected_unavailable = 0;
  std::uint64_t failures = 0;        // times the log became failed
  std::uint64_t recoveries = 0;
  std::uint64_t last_seq = 0;        // last durable seq
  std::size_t queue_depth = 0;
  bool healthy = true;
};

class AuditLog {
 public:
  // Creates the directory if needed, recovers the last segment (a torn tail
  // is truncated; damage in the middle is copied aside to
  // <segment>.corrupt-<unix time> and truncated), continues the chain and the
  // sequence in a new segment, and starts the writer thread.
  static Result<std::unique_ptr<AuditLog>> open(AuditLogOptions options);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void append(Record record, DurableCallback on_durable);
  // For records nobody waits on (outcomes, reloads): never the reason for a
  // sync of their own while others are coming; written with the next group,
  // or within max(group_commit_delay, 100 ms). Refusals are counted in
  // stats() like append()'s.
  void append_background(Record record);
  // Starts writing what is queued now instead of letting it gather (cheap
  // when nothing is queued; safe from any thread).
  void flush();

  // Writes a signed checkpoint now (if any record since the last one).
  void checkpoint(DurableCallback on_durable);
  // Hands over to a new signing key: a checkpoint signed by the old key, a
  // key_rotation record signed by the old key naming the new public key, a
  // checkpoint signed by the new key; then audit-pubkey.pem is replaced.
  void rotate_key(std::string new_signing_key, DurableCallback on_done);

  bool healthy() const;        // for /readyz
  std::string last_error() const;
  AuditStats stats() const;
  const KeyedHasher& hasher() const;
  std::string public_key_pem() const;
  const std::string& dir() const;

  void close();

 private:
  struct State;
  explicit AuditLog(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace portcullis::audit
