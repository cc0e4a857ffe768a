#include "credentials/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace portcullis::credentials {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

}  // namespace

Result<std::string, ReadFileError> read_file_checked(const std::string& path, mode_t allowed_mode_bits) {
  using Code = ReadFileError::Code;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return Err(ReadFileError{e == ENOENT ? Code::kNotFound : Code::kIo, "cannot open " + path + ": " + errno_text(e)});
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Err(ReadFileError{Code::kIo, "cannot stat " + path + ": " + errno_text(e)});
  }
  mode_t perm = st.st_mode & 0777;
  if (allowed_mode_bits != 0 && (perm & ~allowed_mode_bits) != 0) {
    ::close(fd);
    return Err(ReadFileError{Code::kPermissions, path + " has mode " + octal(perm) + "; it must be " +
                                                     octal(allowed_mode_bits) +
                                                     " or stricter (chmod " + octal(allowed_mode_bits).substr(1) +
                                                     " " + path + ")"});
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Err(ReadFileError{Code::kIo, "cannot read " + path + ": " + errno_text(e)});
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::explicit_bzero(buf, sizeof buf);
  ::close(fd);
  return out;
}

}  // namespace portcullis::credentials
