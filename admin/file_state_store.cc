#include "admin/file_state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace portcullis::admin {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

enum class ReadStatus { kOk, kMissing, kError };

ReadStatus read_file(const std::string& path, std::string& out, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return ReadStatus::kMissing;
    error = "cannot open " + path + ": " + errno_text(errno);
    return ReadStatus::kError;
  }
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "cannot read " + path + ": " + errno_text(errno);
      ::close(fd);
      return ReadStatus::kError;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return ReadStatus::kOk;
}

// Removes `<base>.tmp-*` leftovers of writes interrupted by a crash. Best
// effort: a failure only leaves a file that readers ignore anyway.
void remove_stray_temps(const std::string& path) {
  std::string dir = dir_of(path);
  std::string prefix = base_of(path) + ".tmp-";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0)
      ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

std::string serialize(const std::vector<KillSwitch>& switches, const std::vector<ApprovalRecord>& approvals) {
  nlohmann::json doc = {{"version", 1}, {"kill_switches", nlohmann::json::array()},
                        {"approvals", nlohmann::json::array()}};
  for (const auto& k : switches) doc["kill_switches"].push_back(to_json(k));
  for (const auto& a : approvals) doc["approvals"].push_back(to_json(a));
  return doc.dump(1) + "\n";
}

}  // namespace

FileStateStore::FileStateStore(std::string path, Options options)
    : path_(std::move(path)),
      options_(std::move(options)),
      limits_(std::make_unique<policy::InMemoryLimitCounter>(options_.max_limit_keys)) {}

Result<std::unique_ptr<FileStateStore>> FileStateStore::open(const std::string& path, Options options) {
  if (path.empty()) return Err("admin state file: empty path");
  std::unique_ptr<FileStateStore> store(new FileStateStore(path, std::move(options)));
  std::string text, error;
  switch (read_file(path, text, error)) {
    case ReadStatus::kMissing:
      remove_stray_temps(path);
      return store;
    case ReadStatus::kError:
      return Err(error);
    case ReadStatus::kOk:
      break;
  }
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return Err(path + ": not a valid state file (JSON does not parse); fix or remove it");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() || version->get<int>() != 1)
    return Err(path + ": unsupported state file version (expected 1)");
  if (auto it = doc.find("kill_switches"); it != doc.end()) {
    if (!it->is_array()) return Err(path + ": \"kill_switches\" must be an array");
    for (const auto& j : *it) {
      auto k = kill_switch_from_json(j);
      if (!k) return Err(path + ": " + k.error().message);
      store->switches_.push_back(std::move(*k));
    }
  }
  if (auto it = doc.find("approvals"); it != doc.end()) {
    if (!it->is_array()) return Err(path + ": \"approvals\" must be an array");
    for (const auto& j : *it) {
      auto a = approval_record_from_json(j);
      if (!a) return Err(path + ": " + a.error().message);
      store->approvals_.push_back(std::move(*a));
    }
  }
  remove_stray_temps(path);
  return store;
}

Status FileStateStore::write_locked(std::vector<KillSwitch> switches, std::vector<ApprovalRecord> approvals) {
  if (approvals.size() > options_.max_approval_records)
    approvals.erase(approvals.begin(),
                    approvals.begin() + static_cast<std::ptrdiff_t>(approvals.size() - options_.max_approval_records));
  std::string data = serialize(switches, approvals);
  if (auto s = write_file_atomic(path_, data, 0600, options_.fault); !s) return s;
  switches_ = std::move(switches);
  approvals_ = std::move(approvals);
  return {};
}

std::vector<KillSwitch> FileStateStore::kill_switches() const {
  std::lock_guard lock(mu_);
  return switches_;
}

Status FileStateStore::save_kill_switches(const std::vector<KillSwitch>& switches) {
  std::lock_guard lock(mu_);
  return write_locked(switches, approvals_);
}

std::vector<ApprovalRecord> FileStateStore::approval_records() const {
  std::lock_guard lock(mu_);
  return approvals_;
}

Status FileStateStore::record_approval(const ApprovalRecord& record) {
  std::lock_guard lock(mu_);
  auto approvals = approvals_;
  approvals.push_back(record);
  return write_locked(switches_, std::move(approvals));
}

MemoryStateStore::MemoryStateStore() : limits_(std::make_unique<policy::InMemoryLimitCounter>()) {}
MemoryStateStore::~MemoryStateStore() = default;

std::vector<KillSwitch> MemoryStateStore::kill_switches() const {
  std::lock_guard lock(mu_);
  return switches_;
}

Status MemoryStateStore::save_kill_switches(const std::vector<KillSwitch>& switches) {
  std::lock_guard lock(mu_);
  switches_ = switches;
  return {};
}

std::vector<ApprovalRecord> MemoryStateStore::approval_records() const {
  std::lock_guard lock(mu_);
  return approvals_;
}

Status MemoryStateStore::record_approval(const ApprovalRecord& record) {
  std::lock_guard lock(mu_);
  approvals_.push_back(record);
  if (approvals_.size() > 500) approvals_.erase(approvals_.begin());
  return {};
}

}  // namespace portcullis::admin
