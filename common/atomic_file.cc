#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace portcullis {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
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

}  // namespace portcullis
