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

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

}  // namespace

Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode, const WriteFaultHook& fault) {
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return Err("cannot create a temp file next to " + path + ": " + errno_text(errno));
  auto fail = [&](std::string msg) -> Status {
    ::close(fd);
    ::unlink(tmp.c_str());
    return Err(std::move(msg));
  };
  if (fchmod(fd, mode) != 0) return fail("cannot chmod " + tmp + ": " + errno_text(errno));
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write " + tmp + ": " + errno_text(errno));
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync " + tmp + ": " + errno_text(errno));
  if (fault) {
    if (auto s = fault("temp-written"); !s) return fail(s.error().message);
  }
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Err("cannot close " + tmp + ": " + errno_text(e));
  }
  if (fault) {
    if (auto s = fault("before-rename"); !s) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Err("cannot rename " + tmp + " to " + path + ": " + errno_text(e));
  }
  // The rename is durable only once the directory entry is.
  std::string dir = dir_of(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Err("cannot open directory " + dir + " to fsync it: " + errno_text(errno));
  int rc = ::fsync(dfd);
  int e = errno;
  ::close(dfd);
  if (rc != 0) return Err("cannot fsync directory " + dir + ": " + errno_text(e));
  return {};
}

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
