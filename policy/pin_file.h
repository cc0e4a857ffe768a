// PinFile: keeps a ToolCatalog's pins in a file, so that a restart does not
// pin afresh whatever definitions the upstreams serve at that moment (a tool
// changed while Portcullis was down would otherwise be trusted silently).
//
// Loaded once at start. Saved after every change by a thread of its own: a
// first-sight pin happens while a tools/list answer streams through an I/O
// thread, which must never wait for fsync. Changes are coalesced: however
// many pins change meanwhile, one write follows. Writes are crash-safe
// (common/atomic_file.h), mode 0600.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "policy/tool_catalog.h"

namespace portcullis::policy {

class PinFile {
 public:
  // Called on the writer thread after each background save (ok or not).
  using SaveObserver = std::function<void(const Status&)>;

  // Loads `path` into `catalog` when the file exists; a missing file means
  // no pins yet. A file that cannot be read or parsed is an error: starting
  // without its pins would re-trust every tool without anyone deciding so.
  static Result<std::unique_ptr<PinFile>> open(std::string path, ToolCatalog& catalog, SaveObserver observer = {});

  ~PinFile();  // writes what is pending, then stops the thread
  PinFile(const PinFile&) = delete;
  PinFile& operator=(const PinFile&) = delete;

  // Schedules a save; never blocks on I/O.
  void changed();
  // Saves now on the calling thread (an admin action answers only once the
  // accepted pin is durable).
  Status save_now();

  const std::string& path() const { return path_; }

 private:
  PinFile(std::string path, ToolCatalog& catalog, SaveObserver observer);
  void run();

  const std::string path_;
  ToolCatalog& catalog_;
  SaveObserver observer_;
  std::mutex write_mu_;  // one writer of the file at a time
  std::mutex mu_;
  std::condition_variable wake_;
  bool dirty_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace portcullis::policy
