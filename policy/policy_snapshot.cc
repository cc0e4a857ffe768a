#include "policy/policy_snapshot.h"

#include <algorithm>
#include <charconv>

namespace portcullis::policy {

// ---- ArgPointer ----

std::optional<ArgPointer> ArgPointer::parse(const std::string& text) {
  if (text.empty() || text[0] != '/') return std::nullopt;
  ArgPointer p;
  p.text_ = text;
  std::string token;
  for (std::size_t i = 1; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/') {
      p.tokens_.push_back(std::move(token));
      token.clear();
    } else if (text[i] == '~') {
      if (i + 1 >= text.size() || (text[i + 1] != '0' && text[i + 1] != '1')) return std::nullopt;
      token.push_back(text[++i] == '0' ? '~' : '/');
    } else {
      token.push_back(text[i]);
    }
  }
  return p;
}

const nlohmann::json* ArgPointer::find(const nlohmann::json& doc) const {
  const nlohmann::json* at = &doc;
  for (const std::string& token : tokens_) {
    if (at->is_object()) {
      auto it = at->find(token);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      // RFC 6901 array index: "0" or digits without a leading zero.
      if (token.empty() || (token.size() > 1 && token[0] == '0')) return nullptr;
      std::size_t index = 0;
      auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
      if (ec != std::errc() || end != token.data() + token.size() || index >= at->size()) return nullptr;
      at = &(*at)[index];
    } else {
      return nullptr;
    }
  }
  return at;
}

// ---- PatternIndex ----

void PatternIndex::Bucket::add(const ToolPattern& p, std::uint32_t entry) {
  if (p.tool && p.tool->is_literal()) {
    exact[p.tool->literal_prefix()].push_back(entry);
    return;
  }
  std::string prefix = p.tool ? p.tool->literal_prefix() : std::string();
  by_prefix[prefix].push_back(entry);
  auto at = std::lower_bound(prefix_lengths.begin(), prefix_lengths.end(), prefix.size());
  if (at == prefix_lengths.end() || *at != prefix.size()) prefix_lengths.insert(at, prefix.size());
}

void PatternIndex::Bucket::collect(std::string_view name, std::vector<std::uint32_t>& out) const {
  if (!exact.empty()) {
    auto it = exact.find(name);
    if (it != exact.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  }
  for (std::size_t length : prefix_lengths) {
    if (length > name.size()) break;
    auto it = by_prefix.find(name.substr(0, length));
    if (it != by_prefix.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  }
}

void PatternIndex::add(const ToolPattern& pattern, std::uint32_t entry) {
  if (pattern.upstream && pattern.upstream->is_literal()) {
    by_upstream_[pattern.upstream->literal_prefix()].add(pattern, entry);
  } else {
    any_upstream_.add(pattern, entry);
  }
}

void PatternIndex::candidates(std::string_view upstream, std::string_view name,
                              std::vector<std::uint32_t>& out) const {
  out.clear();
  auto it = by_upstream_.find(upstream);
  if (it != by_upstream_.end()) it->second.collect(name, out);
  any_upstream_.collect(name, out);
  std::sort(out.begin(), out.end());  // each entry sits in exactly one list: no duplicates
}

// ---- PolicySnapshot ----

std::optional<Level> PolicySnapshot::level(std::string_view name) const {
  for (std::size_t i = 0; i < levels.size(); ++i) {
    if (levels[i] == name) return static_cast<Level>(i);
  }
  return std::nullopt;
}

std::optional<ActionId> PolicySnapshot::action(std::string_view name) const {
  for (std::size_t i = 0; i < actions.size(); ++i) {
    if (actions[i] == name) return static_cast<ActionId>(i);
  }
  return std::nullopt;
}

const Rule* PolicySnapshot::rule(std::string_view id) const {
  for (const Rule& r : rules) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

}  // namespace portcullis::policy
