// `${VAR}` substitution from the environment, applied to a config file's
// text before YAML parsing. `$${` stands for a literal `${`. Variable names
// are [A-Za-z_][A-Za-z0-9_]*.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::config {

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> getenv_lookup(const std::string& name);  // std::getenv

struct Interpolated {
  // A `${...}` that could not be replaced; it is left verbatim in `text`.
  struct Problem {
    int line = 0;  // 1-based, in the original text
    int column = 0;
    std::size_t offset = 0;  // in `text`, so the caller can find the YAML key
    std::string message;     // e.g. environment variable CRM_KEY is not set
  };
  std::string text;
  std::vector<Problem> problems;
};

Interpolated interpolate_env(std::string_view text, const EnvLookup& lookup = getenv_lookup);

}  // namespace portcullis::config
