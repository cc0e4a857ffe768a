#include "config/config_error.h"

namespace portcullis::config {

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) {
    out.append(":").append(std::to_string(line));
    out.append(":").append(std::to_string(column));
  }
  if (!key.empty()) out.append(": ").append(key);
  out.append(": ").append(message);
  return out;
}

}  // namespace portcullis::config
