// Crash-safe file replacement: write a temp file in the same directory, fsync
// it, rename it over the target, fsync the directory. A crash at any point
// leaves either the old file or the new one, never a mix; a stray temp file
// (`<path>.tmp-XXXXXX`) may remain and is ignored by readers.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "common/atomic_file.h"
#include "common/result.h"

namespace portcullis::credentials {

// The crash-safe writer lives in common/ (the state file uses it too).
using portcullis::WriteFaultHook;
using portcullis::write_file_atomic;

// Reads a whole file. When `max_mode_bits` is non-zero, fails if the file's
// permission bits include any bit outside it (e.g. 0600 refuses 0644), with
// a message naming the mode and the chmod that fixes it. The caller wipes the
// returned string if it holds key material.
struct ReadFileError {
  enum class Code { kIo, kNotFound, kPermissions } code = Code::kIo;
  std::string message;
};
Result<std::string, ReadFileError> read_file_checked(const std::string& path, mode_t allowed_mode_bits);

}  // namespace portcullis::credentials
