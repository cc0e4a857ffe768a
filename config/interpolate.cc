#include "config/interpolate.h"

#include <cstdlib>

namespace portcullis::config {
namespace {

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

}  // namespace

std::optional<std::string> getenv_lookup(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

Interpolated interpolate_env(std::string_view text, const EnvLookup& lookup) {
  Interpolated out;
  out.text.reserve(text.size());
  int line = 1;
  std::size_t line_start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '\n') {
      out.text += c;
      ++i;
      ++line;
      line_start = i;
      continue;
    }
    if (c == '$' && text.substr(i, 3) == "$${") {
      out.text += "${";
      i += 3;
      continue;
    }
    if (c != '$' || text.substr(i, 2) != "${") {
      out.text += c;
      ++i;
      continue;
    }
    int column = static_cast<int>(i - line_start) + 1;
    std::size_t close = text.find('}', i + 2);
    std::size_t eol = text.find('\n', i);
    std::string_view name;
    if (close != std::string_view::npos && (eol == std::string_view::npos || close < eol)) {
      name = text.substr(i + 2, close - i - 2);
    }
    bool valid = !name.empty() && name_start(name[0]);
    for (char n : name) valid = valid && name_char(n);
    if (!valid) {
      std::string shown(text.substr(i, close != std::string_view::npos && (eol == std::string_view::npos || close < eol)
                                           ? close - i + 1
                                           : 2));
      out.problems.push_back({line, column, out.text.size(),
                              "malformed variable reference \"" + shown + "\" (write $${ for a literal ${)"});
      out.text += "${";
      i += 2;
      continue;
    }
    std::optional<std::string> value = lookup(std::string(name));
    if (!value) {
      out.problems.push_back(
          {line, column, out.text.size(), "environment variable " + std::string(name) + " is not set"});
      out.text.append(text.substr(i, close - i + 1));
    } else {
      out.text += *value;
    }
    i = close + 1;
  }
  return out;
}

}  // namespace portcullis::config
