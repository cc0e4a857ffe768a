// Parses a YAML config file into a validated Config. Errors name the file,
// line, column and key: "gw.yaml:12:5: upstreams[1].url: not a valid URL".
#pragma once

#include <string>

#include "common/result.h"
#include "config/config.h"
#include "config/config_error.h"

namespace portcullis::config {

// Reads and validates `path`. `${VAR}` is replaced from the environment (an
// unset variable is an error). Relative paths in the file are resolved
// against the file's directory.
Result<ConfigPtr, ConfigErrors> load_config_file(const std::string& path);

// Same, from text (tests); `file` names the source in errors.
Result<ConfigPtr, ConfigErrors> load_config_text(const std::string& text, const std::string& file,
                                                 const std::string& base_dir = ".");

}  // namespace portcullis::config
