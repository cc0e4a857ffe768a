#include "policy/pin_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/atomic_file.h"

namespace portcullis::policy {

Result<std::unique_ptr<PinFile>> PinFile::open(std::string path, ToolCatalog& catalog, SaveObserver observer) {
  std::error_code ec;
  bool exists = std::filesystem::exists(path, ec);
  if (ec) return Err(path + ": cannot open the tool pins file: " + ec.message());
  if (exists) {
    std::ifstream in(path, std::ios::binary);
    if (!in.is_open()) return Err(path + ": cannot read the tool pins file");
    std::stringstream text;
    text << in.rdbuf();
    auto saved = nlohmann::json::parse(text.str(), nullptr, false);
    if (saved.is_discarded()) return Err(path + ": the tool pins file is not valid JSON");
    if (auto loaded = catalog.load_json(saved); !loaded) return Err(path + ": " + loaded.error().message);
  }
  return std::unique_ptr<PinFile>(new PinFile(std::move(path), catalog, std::move(observer)));
}

PinFile::PinFile(std::string path, ToolCatalog& catalog, SaveObserver observer)
    : path_(std::move(path)), catalog_(catalog), observer_(std::move(observer)) {
  thread_ = std::thread([this] { run(); });
}

PinFile::~PinFile() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void PinFile::changed() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  wake_.notify_one();
}

Status PinFile::save_now() {
  std::lock_guard lock(write_mu_);
  // Serialized under write_mu_, so a later snapshot never loses to an older one.
  return write_file_atomic(path_, catalog_.to_json().dump(2) + "\n", 0600);
}

void PinFile::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return dirty_ || stop_; });
    if (dirty_) {
      dirty_ = false;
      lock.unlock();
      Status saved = save_now();
      if (observer_) observer_(saved);
      lock.lock();
      continue;  // pick up changes made during the write before stopping
    }
    if (stop_) return;
  }
}

}  // namespace portcullis::policy
