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

template <class V>
V& PatternIndex::Level<V>::slot(const std::optional<Glob>& glob) {
  if (glob && glob->is_literal()) return exact[glob->literal_prefix()];
  std::string prefix = glob ? glob->literal_prefix() : std::string();
  auto at = std::lower_bound(prefix_lengths.begin(), prefix_lengths.end(), prefix.size());
  if (at == prefix_lengths.end() || *at != prefix.size()) prefix_lengths.insert(at, prefix.size());
  return by_prefix[prefix];
}

template <class V>
template <class F>
void PatternIndex::Level<V>::visit(std::string_view key, F&& f) const {
  if (!exact.empty()) {
    auto it = exact.find(key);
    if (it != exact.end()) f(it->second);
  }
  for (std::size_t length : prefix_lengths) {
    if (length > key.size()) break;
    auto it = by_prefix.find(key.substr(0, length));
    if (it != by_prefix.end()) f(it->second);
  }
}

void PatternIndex::add(const ToolPattern& pattern, std::uint32_t entry) {
  index_.slot(pattern.upstream).slot(pattern.tool).push_back(entry);
}

void PatternIndex::candidates(std::string_view upstream, std::string_view name,
                              std::vector<std::uint32_t>& out) const {
  out.clear();
  index_.visit(upstream, [&](const Level<Entries>& tools) {
    tools.visit(name, [&](const Entries& entries) { out.insert(out.end(), entries.begin(), entries.end()); });
  });
}

// ---- AgentIndex ----

void AgentIndex::build(const std::vector<Rule>& rules) {
  words_ = (rules.size() + 63) / 64;
  any_.assign(words_, 0);
  auto slot = [&](Map& map, const std::string& key) -> Bits& {
    Bits& bits = map[key];
    if (bits.empty()) bits.assign(words_, 0);
    return bits;
  };
  for (const Rule& r : rules) {
    if (r.agents.any) set(any_, r.index);
    for (const auto& id : r.agents.ids) set(slot(ids_, id), r.index);
    for (const auto& owner : r.agents.owners) set(slot(owners_, owner), r.index);
    for (const auto& group : r.agents.groups) set(slot(groups_, group), r.index);
  }
}

void AgentIndex::merge(const Map& map, std::string_view key, Bits& out) {
  auto it = map.find(key);
  if (it == map.end()) return;
  for (std::size_t i = 0; i < out.size(); ++i) out[i] |= it->second[i];
}

void AgentIndex::matching(std::string_view id, std::string_view owner, std::span<const std::string> groups,
                          bool registered, Bits& out) const {
  out = any_;
  merge(ids_, id, out);
  if (!registered) return;
  if (!owner.empty()) merge(owners_, owner, out);
  for (const std::string& g : groups) merge(groups_, g, out);
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
