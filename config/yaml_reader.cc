#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

namespace portcullis::config {
namespace {

// Bounds the walk over a document: an alias tree ("billion laughs") or a
// deeply nested one must not take the loader down.
constexpr int kMaxDepth = 128;
constexpr std::size_t kMaxNodes = 1'000'000;

std::string child_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out = parent;
  out += '.';
  out += key;
  return out;
}

std::string index_path(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

// yaml-cpp tags plain (unquoted) scalars "?" and quoted ones "!".
bool is_plain(const YAML::Node& n) { return n.Tag() == "?"; }

template <class T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  if (s == "0") return std::chrono::milliseconds(0);
  if (s.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    std::uint64_t n = 0;
    if (!parse_number(s.substr(i, j - i), n)) return std::nullopt;
    std::size_t k = j;
    while (k < s.size() && s[k] >= 'a' && s[k] <= 'z') ++k;
    std::string_view unit = s.substr(j, k - j);
    std::int64_t scale;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else return std::nullopt;
    if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / scale - total)) return std::nullopt;
    total += static_cast<std::int64_t>(n) * scale;
    i = k;
  }
  return std::chrono::milliseconds(total);
}

std::optional<std::uint64_t> parse_bytes(std::string_view s) {
  std::size_t j = 0;
  while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
  std::uint64_t n = 0;
  if (!parse_number(s.substr(0, j), n)) return std::nullopt;
  std::string_view unit = s.substr(j);
  std::uint64_t scale;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KiB") scale = 1ull << 10;
  else if (unit == "MiB") scale = 1ull << 20;
  else if (unit == "GiB") scale = 1ull << 30;
  else return std::nullopt;
  if (n > std::numeric_limits<std::uint64_t>::max() / scale) return std::nullopt;
  return n * scale;
}

const char* type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    default: return "null";
  }
}

}  // namespace

// ---- YamlNode ----

bool YamlNode::present() const { return node_.IsDefined() && !node_.IsNull(); }
bool YamlNode::is_map() const { return node_.IsDefined() && node_.IsMap(); }
bool YamlNode::is_list() const { return node_.IsDefined() && node_.IsSequence(); }
bool YamlNode::is_scalar() const { return node_.IsDefined() && node_.IsScalar(); }

void YamlNode::error(std::string message) const {
  reader_->error(path_, line(), column(), std::move(message));
}

YamlNode YamlNode::operator[](std::string_view key) const {
  std::string path = child_path(path_, key);
  if (!present()) return YamlNode(reader_, YAML::Node(YAML::NodeType::Undefined), path, mark_);
  if (!is_map()) {
    error(std::string("expected a mapping, found ") + type_name(node_));
    return YamlNode(reader_, YAML::Node(YAML::NodeType::Undefined), path, mark_);
  }
  reader_->map_state(*this).known.emplace(key);
  // Search by hand: const operator[] on yaml-cpp nodes would still compare
  // non-scalar keys by conversion, and we want the first occurrence.
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      return YamlNode(reader_, it->second, path, it->second.IsNull() ? it->first.Mark() : it->second.Mark());
    }
  }
  return YamlNode(reader_, YAML::Node(YAML::NodeType::Undefined), path, mark_);
}

YamlNode YamlNode::require(std::string_view key) const {
  YamlNode n = (*this)[key];
  // Report a missing key only when the parent itself is usable; otherwise
  // the parent's own error says enough.
  if (!n.present() && (is_map() || !present())) n.error("required");
  return n;
}

bool YamlNode::has(std::string_view key) const {
  if (!is_map()) return false;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return !it->second.IsNull();
  }
  return false;
}

std::vector<std::pair<std::string, YamlNode>> YamlNode::entries() const {
  std::vector<std::pair<std::string, YamlNode>> out;
  if (!present()) return out;
  if (!is_map()) {
    error(std::string("expected a mapping, found ") + type_name(node_));
    return out;
  }
  reader_->map_state(*this).all_known = true;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) continue;  // reported by the duplicate-key walk
    std::string key = it->first.Scalar();
    YAML::Mark mark = it->second.IsNull() ? it->first.Mark() : it->second.Mark();
    out.emplace_back(key, YamlNode(reader_, it->second, child_path(path_, key), mark));
  }
  return out;
}

std::vector<YamlNode> YamlNode::items() const {
  std::vector<YamlNode> out;
  if (!present()) return out;
  if (!is_list()) {
    error(std::string("expected a list, found ") + type_name(node_));
    return out;
  }
  for (std::size_t i = 0; i < node_.size(); ++i) {
    YAML::Node item = node_[i];
    out.push_back(YamlNode(reader_, item, index_path(path_, i), item.IsNull() ? mark_ : item.Mark()));
  }
  return out;
}

std::optional<std::string> YamlNode::scalar(const char* expected) const {
  if (!present()) return std::nullopt;
  if (!is_scalar()) {
    error(std::string("expected ") + expected + ", found " + type_name(node_));
    return std::nullopt;
  }
  return node_.Scalar();
}

std::optional<std::string> YamlNode::as_string() const { return scalar("a string"); }

std::optional<bool> YamlNode::as_bool() const {
  auto s = scalar("true or false");
  if (!s) return std::nullopt;
  if (is_plain(node_)) {
    if (*s == "true" || *s == "True" || *s == "TRUE") return true;
    if (*s == "false" || *s == "False" || *s == "FALSE") return false;
  }
  error("expected true or false, found \"" + *s + "\"");
  return std::nullopt;
}

std::optional<std::int64_t> YamlNode::as_int(std::int64_t min, std::int64_t max) const {
  auto s = scalar("an integer");
  if (!s) return std::nullopt;
  std::int64_t v = 0;
  std::string_view digits = *s;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  if (!is_plain(node_) || !parse_number(digits, v)) {
    error("expected an integer, found \"" + *s + "\"");
    return std::nullopt;
  }
  if (v < min || v > max) {
    if (max == std::numeric_limits<std::int64_t>::max()) {
      error("must be at least " + std::to_string(min) + ", found " + *s);
    } else if (min == std::numeric_limits<std::int64_t>::min()) {
      error("must be at most " + std::to_string(max) + ", found " + *s);
    } else {
      error("must be between " + std::to_string(min) + " and " + std::to_string(max) + ", found " + *s);
    }
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<std::string>> YamlNode::as_strings() const {
  if (!present()) return std::nullopt;
  if (!is_list()) {
    error(std::string("expected a list of strings, found ") + type_name(node_));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const YamlNode& item : items()) {
    if (!item.present()) {
      item.error("expected a string, found null");
      ok = false;
    } else if (auto s = item.as_string()) {
      out.push_back(std::move(*s));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::chrono::milliseconds> YamlNode::as_duration() const {
  auto s = scalar("a duration");
  if (!s) return std::nullopt;
  auto d = parse_duration(*s);
  if (!d) error("invalid duration \"" + *s + "\" (expected e.g. 250ms, 30s, 5m, 1h)");
  return d;
}

std::optional<std::uint64_t> YamlNode::as_bytes() const {
  auto s = scalar("a size");
  if (!s) return std::nullopt;
  auto b = parse_bytes(*s);
  if (!b) error("invalid size \"" + *s + "\" (expected bytes or e.g. 64KiB, 4MiB, 1GiB)");
  return b;
}

std::optional<std::string> YamlNode::as_enum(std::initializer_list<std::string_view> allowed) const {
  auto s = scalar("a string");
  if (!s) return std::nullopt;
  for (std::string_view a : allowed) {
    if (*s == a) return s;
  }
  std::string list;
  for (std::string_view a : allowed) {
    if (!list.empty()) list += ", ";
    list += a;
  }
  error("\"" + *s + "\" is not one of: " + list);
  return std::nullopt;
}

nlohmann::json YamlNode::as_json() const {
  if (!present()) return nullptr;
  if (is_map()) {
    nlohmann::json obj = nlohmann::json::object();
    for (auto& [key, child] : entries()) obj[key] = child.as_json();
    return obj;
  }
  if (is_list()) {
    nlohmann::json arr = nlohmann::json::array();
    for (const YamlNode& item : items()) arr.push_back(item.as_json());
    return arr;
  }
  const std::string& s = node_.Scalar();
  if (!is_plain(node_)) return s;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  std::string_view digits = s;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  std::int64_t i = 0;
  if (parse_number(digits, i)) return i;
  // A float only if it looks like one: yaml-cpp's conversion accepts too much.
  if (s.find_first_not_of("0123456789+-.eE") == std::string::npos &&
      s.find_first_of("0123456789") != std::string::npos) {
    double d = 0;
    if (YAML::convert<double>::decode(node_, d)) return d;
  }
  return s;
}

// ---- YamlReader ----

YamlNode YamlReader::parse(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    error("", e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1, e.msg);
    return YamlNode(this, YAML::Node(YAML::NodeType::Undefined), "", YAML::Mark());
  }
  check_duplicates(root, "", 0);
  return YamlNode(this, root, "", root.Mark());
}

void YamlReader::check_duplicates(const YAML::Node& node, const std::string& path, int depth) {
  if (++walked_ > kMaxNodes || depth > kMaxDepth) {
    if (walked_ == kMaxNodes + 1 || depth == kMaxDepth + 1) {
      YAML::Mark m = node.Mark();
      error(path, m.line + 1, m.column + 1, "document too deep or too large (aliases?)");
    }
    return;
  }
  if (node.IsMap()) {
    std::map<std::string, int> first_line;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: the iterator yields a temporary
      if (!key.IsScalar()) {
        error(path, key.Mark().line + 1, key.Mark().column + 1, "keys must be strings");
        continue;
      }
      std::string cpath = child_path(path, key.Scalar());
      auto [pos, inserted] = first_line.emplace(key.Scalar(), key.Mark().line + 1);
      if (!inserted) {
        error(cpath, key.Mark().line + 1, key.Mark().column + 1,
              "duplicate key (first defined on line " + std::to_string(pos->second) + ")");
      }
      check_duplicates(it->second, cpath, depth + 1);
    }
  } else if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) check_duplicates(node[i], index_path(path, i), depth + 1);
  }
}

YamlReader::MapState& YamlReader::map_state(const YamlNode& map) {
  auto [it, inserted] = maps_.try_emplace(map.path_);
  if (inserted) it->second.node = map.node_;
  return it->second;
}

void YamlReader::error(const std::string& key, int line, int column, std::string message) {
  if (!recorded_.emplace(key, message).second) return;
  errors_.push_back(ConfigError{file_, line, column, key, std::move(message)});
}

ConfigErrors YamlReader::finish() {
  if (!finished_) {
    finished_ = true;
    for (auto& [path, state] : maps_) {
      if (state.all_known) continue;
      for (auto it = state.node.begin(); it != state.node.end(); ++it) {
        if (!it->first.IsScalar() || state.known.count(it->first.Scalar())) continue;
        std::string expected;
        for (const std::string& k : state.known) expected += (expected.empty() ? "" : ", ") + k;
        YAML::Mark m = it->first.Mark();
        error(child_path(path, it->first.Scalar()), m.line + 1, m.column + 1,
              "unknown key" + (expected.empty() ? std::string() : " (expected one of: " + expected + ")"));
      }
    }
    std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
  }
  return errors_;
}

}  // namespace portcullis::config
