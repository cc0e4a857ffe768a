// Crash-safe file replacement: write a temp file in the same directory, fsync
// it, rename it over the target, fsync the directory. A crash at any point
// leaves either the old file or the new one, never a mix; a stray temp file
// (`<path>.tmp-XXXXXX`) may remain and is ignored by readers. Used by the
// vault (credentials/) and the state file (admin/).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace portcullis {

// Test hook: called with the name of each step ("temp-written",
// "before-rename"); returning an error aborts the write there, as a crash or
// a full disk would (the temp file is removed, the target is untouched).
using WriteFaultHook = std::function<Status(std::string_view step)>;

// Replaces `path` with `data`; the new file has exactly `mode` (fchmod, so
// the umask does not apply). Errors name the path and the errno text.
Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode,
                         const WriteFaultHook& fault = {});

}  // namespace portcullis
