// FileStateStore: the embedded StateStore. Kill switches and the last
// `max_approval_records` approval decisions live in one JSON file
// (`admin.state_file`), rewritten whole on every change with a crash-safe
// replace: write `<file>.tmp-XXXXXX`, fsync it, rename it over the file,
// fsync the directory. A crash at any point leaves the old file or the new
// one; a stray temp file is ignored (and removed at the next open).
//
// Rate-limit counters are NOT persisted: limit_counter() is an in-process
// policy::InMemoryLimitCounter (windows are short; after a restart every key
// starts afresh). Several gateway instances sharing limits need the Redis
// backend.
//
// File format (version 1), mode 0600:
//   {"version":1,"kill_switches":[<KillSwitch>...],"approvals":[<ApprovalRecord>...]}
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "admin/state_store.h"
#include "common/atomic_file.h"
#include "policy/limit_counter.h"

namespace portcullis::admin {

// Test hook: called at each step of a write ("temp-written", "before-rename");
// returning an error aborts the write there, as a crash or a full disk would.
// The writer is common/atomic_file.h's.
using StateWriteFaultHook = WriteFaultHook;

class FileStateStore final : public StateStore {
 public:
  struct Options {
    std::size_t max_approval_records = 500;
    std::size_t max_limit_keys = 100000;
    StateWriteFaultHook fault;  // tests only
  };

  // Loads `path`. A missing file is a fresh, empty store (the file is created
  // at the first save). A file that exists but cannot be read or parsed is an
  // error: the caller must not start with kill switches silently dropped
  // (fail closed; the operator fixes or removes the file).
  static Result<std::unique_ptr<FileStateStore>> open(const std::string& path, Options options);
  static Result<std::unique_ptr<FileStateStore>> open(const std::string& path) { return open(path, Options{}); }

  std::vector<KillSwitch> kill_switches() const override;
  Status save_kill_switches(const std::vector<KillSwitch>& switches) override;
  std::vector<ApprovalRecord> approval_records() const override;
  Status record_approval(const ApprovalRecord& record) override;
  policy::LimitCounter& limit_counter() override { return *limits_; }

  const std::string& path() const { return path_; }

 private:
  FileStateStore(std::string path, Options options);
  // Writes `switches` + `approvals` as the new file; on success they become
  // the in-memory copy. Caller holds mu_.
  Status write_locked(std::vector<KillSwitch> switches, std::vector<ApprovalRecord> approvals);

  const std::string path_;
  const Options options_;
  std::unique_ptr<policy::InMemoryLimitCounter> limits_;
  mutable std::mutex mu_;  // serializes writes; guards the copies below
  std::vector<KillSwitch> switches_;
  std::vector<ApprovalRecord> approvals_;
};

// An in-memory StateStore (nothing survives the process): for tests and for a
// gateway without `admin.state_file`.
class MemoryStateStore final : public StateStore {
 public:
  MemoryStateStore();
  ~MemoryStateStore() override;
  std::vector<KillSwitch> kill_switches() const override;
  Status save_kill_switches(const std::vector<KillSwitch>& switches) override;
  std::vector<ApprovalRecord> approval_records() const override;
  Status record_approval(const ApprovalRecord& record) override;
  policy::LimitCounter& limit_counter() override { return *limits_; }

 private:
  std::unique_ptr<policy::InMemoryLimitCounter> limits_;
  mutable std::mutex mu_;
  std::vector<KillSwitch> switches_;
  std::vector<ApprovalRecord> approvals_;
};

}  // namespace portcullis::admin
