// Internal: what one configuration generation gives the data path. Built off
// the I/O threads at start and on reload, then handed to each worker as a
// shared_ptr<const Runtime>; a request keeps the one it started with.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "gateway/io.h"
#include "gateway/session_sealer.h"

namespace portcullis::gateway {

struct Runtime {
  config::ConfigPtr config;
  std::shared_ptr<const SessionSealer> sealer;
  std::map<std::string, std::shared_ptr<ssl::context>> upstream_tls;  // by upstream name
  std::shared_ptr<ssl::context> server_tls;                           // null: plain HTTP
  std::uint64_t generation = 0;
};
using RuntimePtr = std::shared_ptr<const Runtime>;

}  // namespace portcullis::gateway
