#include "policy/lint.h"

#include <algorithm>
#include <map>
#include <set>

#include "policy/tool_catalog.h"

namespace portcullis::policy {

namespace {

using config::ConfigError;

ConfigError warning(const SourcePos& pos, std::string message) {
  return ConfigError{pos.file, pos.line, pos.column, pos.key, std::move(message)};
}

bool subset(const std::vector<std::string>& small, const std::vector<std::string>& big) {
  return std::all_of(small.begin(), small.end(),
                     [&](const std::string& s) { return std::find(big.begin(), big.end(), s) != big.end(); });
}

// Does glob `a` match everything glob `b` matches? Absent means "everything".
bool glob_covers(const std::optional<Glob>& a, const std::optional<Glob>& b) {
  if (!a || a->matches_everything()) return true;
  if (!b) return false;
  if (b->is_literal()) return a->matches(b->literal_prefix());
  if (a->pattern() == b->pattern()) return true;
  // a = "prefix*": covers any b whose literal prefix starts with it.
  const std::string& p = a->literal_prefix();
  if (a->pattern() == p + "*") return b->literal_prefix().compare(0, p.size(), p) == 0;
  return false;
}

bool agents_cover(const AgentMatch& a, const AgentMatch& b) {
  if (a.any) return true;
  if (b.any) return false;
  return subset(b.ids, a.ids) && subset(b.groups, a.groups) && subset(b.owners, a.owners);
}

bool unconditional(const Rule& r) { return r.when.empty() && r.limits.empty(); }

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

// Does the schema (JSON Schema subset: properties, items) declare the path?
bool schema_has(const nlohmann::json& schema, const std::vector<std::string>& tokens, std::size_t i) {
  if (i == tokens.size()) return true;
  if (!schema.is_object()) return true;  // `true` or unknown: anything goes
  if (auto props = schema.find("properties"); props != schema.end() && props->is_object()) {
    auto it = props->find(tokens[i]);
    if (it != props->end()) return schema_has(*it, tokens, i + 1);
    if (schema.contains("patternProperties")) return true;
    return false;
  }
  if (auto items = schema.find("items"); items != schema.end()) {
    bool index = !tokens[i].empty() && std::all_of(tokens[i].begin(), tokens[i].end(), ::isdigit);
    return index && schema_has(*items, tokens, i + 1);
  }
  return true;  // no structure declared: cannot tell
}

}  // namespace

bool rule_covers(const Rule& a, const Rule& b) {
  if (!agents_cover(a.agents, b.agents)) return false;
  if (!glob_covers(a.tools.upstream, b.tools.upstream) || !glob_covers(a.tools.tool, b.tools.tool)) return false;
  if ((b.methods & ~a.methods) != 0) return false;
  if (a.actions.empty()) return true;
  if (b.actions.empty()) return false;
  return std::all_of(b.actions.begin(), b.actions.end(),
                     [&](ActionId x) { return std::find(a.actions.begin(), a.actions.end(), x) != a.actions.end(); });
}

std::vector<ConfigError> lint_policy(const PolicySnapshot& s, const LintContext& ctx) {
  std::vector<ConfigError> out;

  auto check_upstream = [&](const std::optional<Glob>& up, const SourcePos& pos, const std::string& what) {
    if (!up || ctx.known_upstreams.empty()) return;
    bool any = std::any_of(ctx.known_upstreams.begin(), ctx.known_upstreams.end(),
                           [&](const std::string& u) { return up->matches(u); });
    if (!any) {
      std::string known;
      for (const auto& u : ctx.known_upstreams) known += (known.empty() ? "" : ", ") + u;
      out.push_back(warning(pos, what + " can never match: no upstream matches " + in_quotes(up->pattern()) +
                                     " (known: " + known + ")"));
    }
  };
  for (const ToolClass& t : s.tool_classes) check_upstream(t.match.upstream, t.pos, "this tools: entry");
  for (const ResourceClass& r : s.resources) check_upstream(r.match.upstream, r.pos, "this resources: entry");

  for (const Rule& r : s.rules) {
    const std::string name = "rule " + in_quotes(r.id);
    check_upstream(r.tools.upstream, r.pos, name);
    for (ActionId a : r.actions) {
      if (!s.action_declared[a]) {
        out.push_back(warning(r.pos, name + " can never match action " + in_quotes(s.actions[a]) +
                                         ": no tools: entry declares it"));
      }
    }
    if (ctx.catalog == nullptr || (r.methods & kMethodToolsCall) == 0) continue;
    // Tools of the upstreams this rule names, as far as the catalog has seen them.
    std::vector<ToolInfoPtr> tools;
    bool upstream_seen = false;
    for (const ToolInfoPtr& t : ctx.catalog->all()) {
      if (!t->seen() || (r.tools.upstream && !r.tools.upstream->matches(t->upstream))) continue;
      upstream_seen = true;
      if (!r.tools.tool || r.tools.tool->matches(t->name)) tools.push_back(t);
    }
    if (upstream_seen && tools.empty() && r.tools.tool) {
      out.push_back(warning(r.pos, name + " can never match: tool pattern " + in_quotes(r.tools.tool->pattern()) +
                                       " matches no tool its upstreams list"));
      continue;
    }
    for (const Condition& c : r.when) {
      if (tools.empty()) break;
      bool somewhere = std::any_of(tools.begin(), tools.end(), [&](const ToolInfoPtr& t) {
        return t->input_schema.is_null() || schema_has(t->input_schema, c.argument.tokens(), 0);
      });
      if (!somewhere) {
        out.push_back(warning(r.pos, name + ": argument " + c.argument.text() +
                                         " is outside the inputSchema of every tool the rule matches (e.g. " +
                                         tools.front()->upstream + "/" + tools.front()->name +
                                         "); the condition " + (c.optional ? "always holds" : "never holds")));
      }
    }
  }

  // Shadowed and redundant rules. Only rules that could share an upstream are
  // compared: literal upstreams by name, plus every rule with a glob or none.
  std::map<std::string, std::vector<const Rule*>> by_upstream;
  std::vector<const Rule*> wide;
  for (const Rule& r : s.rules) {
    if (r.tools.upstream && r.tools.upstream->is_literal()) by_upstream[r.tools.upstream->pattern()].push_back(&r);
    else wide.push_back(&r);
  }
  std::set<std::uint32_t> reported;
  for (const Rule& b : s.rules) {
    const std::vector<const Rule*>* group = nullptr;
    if (b.tools.upstream && b.tools.upstream->is_literal()) group = &by_upstream[b.tools.upstream->pattern()];
    for (const std::vector<const Rule*>* list : {group, static_cast<const std::vector<const Rule*>*>(&wide)}) {
      if (list == nullptr || reported.count(b.index)) continue;
      for (const Rule* a : *list) {
        if (a == &b || a->shadow || !unconditional(*a) || !rule_covers(*a, b)) continue;
        if (a->effect > b.effect) {
          out.push_back(warning(b.pos, "rule " + in_quotes(b.id) + " is shadowed: " +
                                           std::string(effect_name(a->effect)) + " rule " + in_quotes(a->id) +
                                           " matches everything it matches, unconditionally, and wins"));
        } else if (a->effect == b.effect && b.limits.empty() && (!rule_covers(b, *a) || a->index < b.index)) {
          out.push_back(warning(b.pos, "rule " + in_quotes(b.id) + " is redundant: rule " + in_quotes(a->id) +
                                           " has the same effect and matches everything it matches, unconditionally"));
        } else {
          continue;
        }
        reported.insert(b.index);
        break;
      }
    }
  }

  // An allow rule next to a deny rule, and broader than it.
  for (std::size_t i = 0; i + 1 < s.rules.size(); ++i) {
    for (auto [a, d] : {std::pair{&s.rules[i], &s.rules[i + 1]}, std::pair{&s.rules[i + 1], &s.rules[i]}}) {
      if (a->effect != Effect::kAllow || d->effect != Effect::kDeny || a->shadow || d->shadow) continue;
      if (rule_covers(*a, *d) && !rule_covers(*d, *a)) {
        out.push_back(warning(a->pos, "allow rule " + in_quotes(a->id) + " is broader than the deny rule " +
                                          in_quotes(d->id) + " beside it: the deny wins only where they overlap"));
      }
    }
  }

  auto file_index = [&](const std::string& f) { return std::find(s.files.begin(), s.files.end(), f) - s.files.begin(); };
  std::stable_sort(out.begin(), out.end(), [&](const ConfigError& x, const ConfigError& y) {
    return std::make_tuple(file_index(x.file), x.line, x.column) < std::make_tuple(file_index(y.file), y.line, y.column);
  });
  return out;
}

}  // namespace portcullis::policy
