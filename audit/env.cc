#include "audit/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace portcullis::audit {
namespace {

IoStatus io_error(const char* op, const std::string& path, int err) {
  return Err(std::string(op) + " " + path + ": " + std::strerror(err));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, std::uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  IoStatus append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(size_));
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("write", path_, errno);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
      size_ += static_cast<std::uint64_t>(n);
    }
    return {};
  }

  IoStatus sync() override {
    if (::fdatasync(fd_) != 0) return io_error("fdatasync", path_, errno);
    return {};
  }

  IoStatus close() override {
    if (fd_ < 0) return {};
    int fd = fd_;
    fd_ = -1;
    struct stat st;
    if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > size_) {
      if (::ftruncate(fd, static_cast<off_t>(size_)) != 0 || ::fdatasync(fd) != 0) {
        int err = errno;
        ::close(fd);
        return io_error("truncate", path_, err);
      }
    }
    if (::close(fd) != 0) return io_error("close", path_, errno);
    return {};
  }

 private:
  std::string path_;
  int fd_;
  std::uint64_t size_;  // where the next append goes
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> open_appendable(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return Err(std::string("open ") + path + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return Err(std::string("stat ") + path + ": " + std::strerror(err));
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, static_cast<std::uint64_t>(st.st_size)));
  }

  IoStatus write_zeros(const std::string& path, std::uint64_t offset, std::uint64_t length) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return io_error("open", path, errno);
    static const std::string zeros(1 << 20, '\0');
    int err = 0;
    for (std::uint64_t done = 0; done < length && err == 0;) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), length - done));
      ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(offset + done));
      if (w < 0 && errno != EINTR) err = errno;
      if (w > 0) done += static_cast<std::uint64_t>(w);
    }
    if (err == 0 && ::fdatasync(fd) != 0) err = errno;
    ::close(fd);
    if (err != 0) return io_error("write zeros to", path, err);
    return {};
  }

  Result<std::uint64_t> available_bytes(const std::string& dir) override {
    struct statvfs v;
    if (::statvfs(dir.c_str(), &v) != 0) return Err(std::string("statvfs ") + dir + ": " + std::strerror(errno));
    return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
  }

  Result<std::string> read_file(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Err(std::string("open ") + path + ": " + std::strerror(errno));
    std::string out;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return Err(std::string("read ") + path + ": " + std::strerror(err));
      }
      if (n == 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
  }

  IoStatus write_file_atomic(const std::string& path, std::string_view data, int mode) override {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return io_error("open", tmp, errno);
    PosixWritableFile f(tmp, fd, 0);
    if (auto s = f.append(data); !s) return s;
    if (::fsync(fd) != 0) return io_error("fsync", tmp, errno);
    if (auto s = f.close(); !s) return s;
    if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename", tmp, errno);
    auto slash = path.find_last_of('/');
    return sync_dir(slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash));
  }

  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return Err(std::string("opendir ") + dir + ": " + std::strerror(errno));
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    return names;
  }

  IoStatus create_dir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return io_error("mkdir", dir, errno);
    return {};
  }

  IoStatus sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return io_error("open", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return io_error("fsync", dir, err);
    return {};
  }

  IoStatus truncate(const std::string& path, std::uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return io_error("truncate", path, errno);
    return {};
  }

  IoStatus remove_file(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return io_error("unlink", path, errno);
    return {};
  }

  bool exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }
};

}  // namespace

Env* Env::posix() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

std::string join_path(const std::string& dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return dir + std::string(name);
  return dir + "/" + std::string(name);
}

}  // namespace portcullis::audit
