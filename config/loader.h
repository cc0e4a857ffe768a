// Parses a YAML config file into a validated Config. Errors name the file,
// line, column and key: "gw.yaml:12:5: upstreams[1].url: not a valid URL".
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace portcullis::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
  std::string key;  // dotted path, e.g. upstreams[1].timeouts.connect
  std::string message;
  std::string to_string() const;  // file:line:col: key: message
};

using ConfigErrors = std::vector<ConfigError>;

// Reads and validates `path`. `${VAR}` is replaced from the environment (an
// unset variable is an error). Relative paths in the file are resolved
// against the file's directory.
Result<ConfigPtr, ConfigErrors> load_config_file(const std::string& path);

// Same, from text (tests); `file` names the source in errors.
Result<ConfigPtr, ConfigErrors> load_config_text(const std::string& text, const std::string& file,
                                                 const std::string& base_dir = ".");

}  // namespace portcullis::config
