// The error format shared by every file Portcullis reads (config, policy):
// "gw.yaml:12:5: upstreams[1].url: not a valid URL".
#pragma once

#include <string>
#include <vector>

namespace portcullis::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
  std::string key;  // dotted path, e.g. upstreams[1].timeouts.connect
  std::string message;
  // file:line:col: key: message (the position is left out when unknown, the
  // key when empty, e.g. for a YAML syntax error).
  std::string to_string() const;
};

using ConfigErrors = std::vector<ConfigError>;

}  // namespace portcullis::config
