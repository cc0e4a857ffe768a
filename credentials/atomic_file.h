// Crash-safe file replacement: write a temp file in the same directory, fsync
// it, rename it over the target, fsync the directory. A crash at any point
// leaves either the old file or the new one, never a mix; a stray temp file
// (`<path>.tmp-XXXXXX`) may remain and is ignored by readers.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "common/result.h"

namespace portcullis::credentials {

// Test hook: called with the name of each step ("temp-written",
// "before-rename"); returning an error aborts the write there, as a crash or
// a full disk would (the temp file is removed, the target is untouched).
using WriteFaultHook = std::function<Status(std::string_view step)>;

// Replaces `path` with `data`; the new file has `mode` (before umask is not
// applied: fchmod sets it exactly). Errors name the path and the errno text.
Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode,
                         const WriteFaultHook& fault = {});

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
