// Helpers shared by the audit tests: a temporary directory, a fault-injecting
// Env, and a synchronous append.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "audit/env.h"
#include "audit/record.h"

namespace portcullis::audit::testing {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "audit-test-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (!p) std::abort();
    path = p;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string sub(const std::string& name) const { return path + "/" + name; }
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind("audit-", 0) == 0 && n.size() == 30 && n.substr(26) == ".log") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<std::string> split_lines(const std::string& data) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) {
      out.push_back(data.substr(pos));
      break;
    }
    out.push_back(data.substr(pos, nl - pos + 1));
    pos = nl + 1;
  }
  return out;
}

inline std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l;
  return s;
}

inline Record sample(int i, const std::string& agent = "support-bot") {
  Record r;
  r.kind = "decision";
  r.fields = {{"decision_id", "d-" + std::to_string(i)}, {"agent", agent}, {"decision", "allow"},
              {"tool", "read_record"}, {"upstream", "crm"}};
  return r;
}

inline AuditStatus append_sync(AuditLog& log, Record r) {
  std::promise<AuditStatus> p;
  auto f = p.get_future();
  log.append(std::move(r), [&p](const AuditStatus& s) { p.set_value(s); });
  return f.get();
}

// Wraps Env::posix() with switchable faults on segment files (names
// audit-*.log): fail the next appends with ENOSPC (optionally after writing
// half), fail fdatasync with EIO, or hold fdatasync until released.
class FaultEnv : public Env {
 public:
  std::atomic<bool> enospc{false};
  std::atomic<bool> partial_write{false};  // with enospc: write half, then fail
  std::atomic<bool> eio_on_sync{false};
  std::atomic<bool> fail_open_file{false};  // opening new segments fails (EIO)
  std::atomic<int> syncs{0};
  std::atomic<std::uint64_t> zeroed_bytes{0};  // preallocated ahead of the writer
  std::atomic<int> zero_attempts{0};

  void hold_syncs() {
    std::lock_guard lk(mu_);
    held_ = true;
  }
  void release_syncs() {
    {
      std::lock_guard lk(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  // Blocks until a sync is waiting on the gate.
  void wait_for_held_sync() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return waiting_ > 0; });
  }

  Result<std::unique_ptr<WritableFile>> open_appendable(const std::string& path) override {
    if (fail_open_file) return Err("open " + path + ": " + std::strerror(EIO));
    auto f = base_->open_appendable(path);
    if (!f) return f;
    return std::unique_ptr<WritableFile>(new File(this, std::move(*f), path));
  }
  IoStatus write_zeros(const std::string& p, std::uint64_t offset, std::uint64_t length) override {
    ++zero_attempts;
    if (enospc) return Err("write zeros to " + p + ": " + std::strerror(ENOSPC));
    auto s = base_->write_zeros(p, offset, length);
    if (s) zeroed_bytes += length;
    return s;
  }
  Result<std::uint64_t> available_bytes(const std::string& d) override { return base_->available_bytes(d); }
  Result<std::string> read_file(const std::string& p) override { return base_->read_file(p); }
  IoStatus write_file_atomic(const std::string& p, std::string_view d, int m) override {
    return base_->write_file_atomic(p, d, m);
  }
  Result<std::vector<std::string>> list_dir(const std::string& d) override { return base_->list_dir(d); }
  IoStatus create_dir(const std::string& d) override { return base_->create_dir(d); }
  IoStatus sync_dir(const std::string& d) override { return base_->sync_dir(d); }
  IoStatus truncate(const std::string& p, std::uint64_t s) override { return base_->truncate(p, s); }
  IoStatus remove_file(const std::string& p) override { return base_->remove_file(p); }
  bool exists(const std::string& p) override { return base_->exists(p); }

 private:
  class File : public WritableFile {
   public:
    File(FaultEnv* env, std::unique_ptr<WritableFile> f, std::string path)
        : env_(env), f_(std::move(f)), path_(std::move(path)) {}
    IoStatus append(std::string_view data) override {
      if (env_->enospc) {
        if (env_->partial_write) (void)f_->append(data.substr(0, data.size() / 2));
        return Err("write " + path_ + ": " + std::strerror(ENOSPC));
      }
      return f_->append(data);
    }
    IoStatus sync() override {
      {
        std::unique_lock lk(env_->mu_);
        ++env_->waiting_;
        env_->cv_.notify_all();
        env_->cv_.wait(lk, [&] { return !env_->held_; });
        --env_->waiting_;
      }
      ++env_->syncs;
      if (env_->eio_on_sync) return Err("fdatasync " + path_ + ": " + std::strerror(EIO));
      return f_->sync();
    }
    IoStatus close() override { return f_->close(); }

   private:
    FaultEnv* env_;
    std::unique_ptr<WritableFile> f_;
    std::string path_;
  };

  Env* base_ = Env::posix();
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  int waiting_ = 0;
};

}  // namespace portcullis::audit::testing
