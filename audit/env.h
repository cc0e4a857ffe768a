// audit::Env: every file-system operation the audit log performs, behind one
// small interface (LevelDB's env.h, cut down to what a WAL needs). Tests wrap
// Env::posix() to inject ENOSPC, EIO or a failed fdatasync; production code
// uses Env::posix() directly.
//
// Errors are values: each call returns an IoStatus naming the operation, the
// path and errno's text. Nothing here throws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace portcullis::audit {

using IoStatus = Result<void>;

// A file opened for appending: each append writes at the end of what this
// object has written (starting at the file's size when opened), so zeros
// that Env::write_zeros put after that end are written over, not appended
// to. Owned by one thread at a time (the log's writer thread).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` (retrying short writes). On error some prefix may
  // have reached the file; the caller treats the file as sealed.
  virtual IoStatus append(std::string_view data) = 0;
  // fdatasync. After one failure the caller must never retry on this file
  // (the kernel may have dropped the dirty pages: PostgreSQL's "fsyncgate").
  virtual IoStatus sync() = 0;
  // Cuts the file to the end of the data when something (write_zeros) left
  // it longer, syncs that, and closes.
  virtual IoStatus close() = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX implementation. Never deleted.
  static Env* posix();

  // Opens `path` for appending, creating it (mode 0640) if missing.
  virtual Result<std::unique_ptr<WritableFile>> open_appendable(const std::string& path) = 0;
  // Writes `length` zero bytes at `offset` of the existing file `path`
  // (through a descriptor of its own) and fdatasyncs them. Written, not
  // fallocate(2)'d: ext4 and XFS keep fallocated extents "unwritten", and
  // converting them at the first write is again a journal commit.
  virtual IoStatus write_zeros(const std::string& path, std::uint64_t offset, std::uint64_t length) = 0;
  // Bytes an unprivileged writer may still use on the file system of `dir`.
  virtual Result<std::uint64_t> available_bytes(const std::string& dir) = 0;
  virtual Result<std::string> read_file(const std::string& path) = 0;
  // Writes `data` to path via a temporary file, fsync and rename, then syncs
  // the directory: either the old or the new content survives a crash.
  virtual IoStatus write_file_atomic(const std::string& path, std::string_view data, int mode) = 0;
  // Names (not paths) of the entries of `dir`, unsorted.
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;
  virtual IoStatus create_dir(const std::string& dir) = 0;  // ok if it exists
  virtual IoStatus sync_dir(const std::string& dir) = 0;
  virtual IoStatus truncate(const std::string& path, std::uint64_t size) = 0;
  virtual IoStatus remove_file(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
};

// Joins a directory and a file name.
std::string join_path(const std::string& dir, std::string_view name);

}  // namespace portcullis::audit
