// The gateway process: worker event loops, the listener, signals (SIGHUP
// reload, SIGTERM/SIGINT drain), and the swap of configuration generations.
// No Boost in this header.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"

namespace portcullis::gateway {

class Server {
 public:
  // `config_path` is re-read on reload.
  Server(config::ConfigPtr config, std::string config_path);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until SIGTERM/SIGINT and the drain complete; returns an exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::gateway
