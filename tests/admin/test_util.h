// Helpers shared by the admin tests: a temp directory removed on exit, and
// Principal builders.
#pragma once

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "identity/principal.h"

namespace portcullis::admin::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("portcullis-admin-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  std::string dir() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_all(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// A registered agent `id` owned by `owner` (empty owner: unregistered).
inline identity::Principal principal(std::string id, std::string owner = "", std::string user = "",
                                     std::string jti = "", std::string token_id = "") {
  identity::Principal p;
  p.agent_id = std::move(id);
  p.user = std::move(user);
  p.jti = std::move(jti);
  p.token_id = std::move(token_id);
  if (!owner.empty()) {
    p.registered = true;
    p.agent = config::AgentConfig{p.agent_id, std::move(owner), {}, ""};
  }
  return p;
}

}  // namespace portcullis::admin::testing
