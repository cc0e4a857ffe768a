#include "policy/policy_loader.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "config/yaml_reader.h"
#include "policy/canonical_json.h"
#include "policy/lint.h"

namespace portcullis::policy {

namespace {

using config::YamlNode;
using config::YamlReader;

const std::vector<std::string> kDefaultLevels = {"public", "internal", "confidential", "restricted"};
constexpr const char* kDefaultDefaultLevel = "internal";

SourcePos pos_of(const YamlReader& reader, const YamlNode& n) {
  return SourcePos{reader.file(), n.line(), n.column(), n.path()};
}

bool valid_identifier(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':';
  });
}

std::optional<Glob> read_glob(const YamlNode& n) {
  auto s = n.as_string();
  if (!s) return std::nullopt;
  if (s->empty()) {
    n.error("must not be empty");
    return std::nullopt;
  }
  return Glob(*s);
}

std::optional<ArgPointer> read_pointer(const YamlNode& n) {
  auto s = n.as_string();
  if (!s) return std::nullopt;
  auto p = ArgPointer::parse(*s);
  if (!p) n.error("\"" + *s + "\" is not a JSON pointer (e.g. /limit or /customer/id)");
  return p;
}

// "60/1m", "10/s", "5/30s", "100/1h", "2/250ms", "1000/1d".
std::optional<std::pair<std::uint32_t, std::chrono::milliseconds>> parse_rate(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::uint32_t count = 0;
  std::string_view n = s.substr(0, slash);
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), count);
  if (ec != std::errc() || p != n.data() + n.size() || count == 0 || count > 1'000'000'000) return std::nullopt;
  std::string_view w = s.substr(slash + 1);
  std::size_t digits = 0;
  while (digits < w.size() && w[digits] >= '0' && w[digits] <= '9') ++digits;
  std::uint64_t amount = 1;
  if (digits > 0) {
    auto [q, ec2] = std::from_chars(w.data(), w.data() + digits, amount);
    if (ec2 != std::errc() || amount == 0 || amount > 1'000'000) return std::nullopt;
  }
  std::string_view unit = w.substr(digits);
  std::int64_t scale;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else if (unit == "d") scale = 86'400'000;
  else return std::nullopt;
  std::int64_t ms = static_cast<std::int64_t>(amount) * scale;
  if (ms > 31LL * 86'400'000) return std::nullopt;
  return std::make_pair(count, std::chrono::milliseconds(ms));
}

std::string json_text(const nlohmann::json& j) { return canonical_json(j); }

// State shared by all files of one load.
class Loader {
 public:
  explicit Loader(const LoadOptions& options) : options_(options) { snap_->shadow = options.shadow; }

  void add_source(const std::string& file, const std::string& text) {
    auto reader = std::make_unique<YamlReader>(file);
    YamlNode root = reader->parse(text);
    if (root.present() && !root.is_map()) root.error("a policy file must be a mapping");
    roots_.push_back(root);
    readers_.push_back(std::move(reader));
    snap_->files.push_back(file);
  }

  void add_error(const std::string& file, const std::string& message) {
    extra_errors_.push_back(PolicyError{file, 0, 0, "", message});
  }

  Result<LoadedPolicy, PolicyErrors> finish() {
    read_headers();
    for (std::size_t i = 0; i < roots_.size(); ++i) read_body(*readers_[i], roots_[i]);
    PolicyErrors errors = extra_errors_;
    for (auto& reader : readers_) {
      PolicyErrors e = reader->finish();
      errors.insert(errors.end(), e.begin(), e.end());
    }
    errors.insert(errors.end(), late_errors_.begin(), late_errors_.end());
    if (!errors.empty()) return Err(std::move(errors));

    for (const ToolClass& t : snap_->tool_classes) {
      if (t.action) snap_->action_declared[*t.action] = true;
    }
    for (std::uint32_t i = 0; i < snap_->tool_classes.size(); ++i)
      snap_->tool_class_index.add(snap_->tool_classes[i].match, i);
    for (std::uint32_t i = 0; i < snap_->resources.size(); ++i)
      snap_->resource_index.add(snap_->resources[i].match, i);
    for (std::uint32_t i = 0; i < snap_->rules.size(); ++i) snap_->rule_index.add(snap_->rules[i].tools, i);
    snap_->agent_index.build(snap_->rules);
    snap_->revision = sha256_hex(canonical_json(canonical_content()));

    LoadedPolicy out;
    out.warnings = lint_policy(*snap_, LintContext{options_.known_upstreams, options_.catalog});
    out.snapshot = std::move(snap_);
    return out;
  }

 private:
  // version, sensitivity_levels, default_sensitivity: needed before the rest.
  void read_headers() {
    std::optional<std::vector<std::string>> levels;
    std::string levels_where;
    std::optional<std::string> default_level;
    std::vector<std::string> versions;
    for (std::size_t i = 0; i < roots_.size(); ++i) {
      const YamlNode& root = roots_[i];
      if (!root.is_map()) continue;
      if (auto v = root.require("version").as_string()) {
        if (v->empty()) root["version"].error("must not be empty");
        if (std::find(versions.begin(), versions.end(), *v) == versions.end()) versions.push_back(*v);
      }
      YamlNode lv = root["sensitivity_levels"];
      if (auto l = lv.as_strings()) {
        std::set<std::string> seen;
        for (const auto& name : *l) {
          if (!valid_identifier(name)) lv.error("level \"" + name + "\" is not a valid name");
          if (!seen.insert(name).second) lv.error("level \"" + name + "\" is listed twice");
        }
        if (l->empty()) lv.error("must list at least one level");
        if (levels && *levels != *l) lv.error("differs from the sensitivity_levels in " + levels_where);
        if (!levels) {
          levels = *l;
          levels_where = readers_[i]->file();
        }
        if (!root.has("default_sensitivity")) root.require("default_sensitivity");
      }
      YamlNode dn = root["default_sensitivity"];
      if (auto d = dn.as_string()) {
        if (default_level && *default_level != *d) dn.error("differs from default_sensitivity in another file");
        default_level = *d;
        default_node_ = std::make_unique<YamlNode>(dn);
      }
    }
    snap_->levels = levels ? *levels : kDefaultLevels;
    if (snap_->levels.empty()) snap_->levels = kDefaultLevels;
    std::string d = default_level ? *default_level : kDefaultDefaultLevel;
    if (auto l = snap_->level(d)) {
      snap_->default_sensitivity = *l;
    } else if (default_node_) {
      default_node_->error("\"" + d + "\" is not one of the sensitivity_levels");
    } else {
      snap_->default_sensitivity = 0;
    }
    for (std::size_t i = 0; i < versions.size(); ++i) snap_->version += (i ? "+" : "") + versions[i];
    snap_->actions = {"read", "write", "delete"};
    snap_->action_declared = {true, true, true};
  }

  std::optional<Level> read_level(const YamlNode& n) {
    auto s = n.as_string();
    if (!s) return std::nullopt;
    auto l = snap_->level(*s);
    if (!l) n.error("\"" + *s + "\" is not one of the sensitivity_levels");
    return l;
  }

  std::optional<ActionId> intern_action(const YamlNode& n, const std::string& name) {
    if (!valid_identifier(name)) {
      n.error("action \"" + name + "\" is not a valid name");
      return std::nullopt;
    }
    if (auto a = snap_->action(name)) return a;
    if (snap_->actions.size() >= 1000) {
      n.error("too many action classes");
      return std::nullopt;
    }
    snap_->actions.push_back(name);
    snap_->action_declared.push_back(false);
    return static_cast<ActionId>(snap_->actions.size() - 1);
  }

  ToolPattern read_match(const YamlNode& m) {
    ToolPattern p;
    if (m.present() && !m.is_map()) {
      m.error("expected a mapping with upstream and/or tool");
      return p;
    }
    p.upstream = read_glob(m["upstream"]);
    p.tool = read_glob(m["tool"]);
    return p;
  }

  void read_body(YamlReader& reader, const YamlNode& root) {
    if (!root.is_map()) return;
    for (const YamlNode& n : root["tools"].items()) read_tool_class(reader, n);
    for (const YamlNode& n : root["resources"].items()) read_resource(reader, n);
    for (const YamlNode& n : root["rules"].items()) read_rule(reader, n);
    read_tests(reader, root["tests"]);
  }

  void read_tool_class(YamlReader& reader, const YamlNode& n) {
    ToolClass t;
    t.pos = pos_of(reader, n);
    t.match = read_match(n.require("match"));
    if (auto a = n["action"].as_string()) t.action = intern_action(n["action"], *a);
    t.sensitivity = read_level(n["sensitivity"]);
    if (n.is_map() && !n.has("action") && !n.has("sensitivity")) n.error("give action and/or sensitivity");
    snap_->tool_classes.push_back(std::move(t));
  }

  void read_resource(YamlReader& reader, const YamlNode& n) {
    ResourceClass r;
    r.pos = pos_of(reader, n);
    r.match = read_match(n.require("match"));
    if (auto p = read_pointer(n.require("argument"))) r.argument = *p;
    YamlNode levels = n.require("levels");
    for (const YamlNode& l : levels.items()) {
      auto g = read_glob(l.require("pattern"));
      auto s = read_level(l.require("sensitivity"));
      if (g && s) r.levels.push_back({*g, *s});
    }
    if (levels.is_list() && levels.items().empty()) levels.error("must list at least one level");
    snap_->resources.push_back(std::move(r));
  }

  void read_rule(YamlReader& reader, const YamlNode& n) {
    Rule r;
    r.pos = pos_of(reader, n);
    r.index = static_cast<std::uint32_t>(snap_->rules.size());
    YamlNode idn = n.require("id");
    if (auto id = idn.as_string()) {
      r.id = *id;
      if (!valid_identifier(r.id)) idn.error("rule ids use letters, digits, '_', '-', '.', ':'");
      auto [it, inserted] = rule_ids_.emplace(r.id, r.pos);
      if (!inserted) {
        idn.error("duplicate rule id \"" + r.id + "\" (first defined at " + it->second.file + ":" +
                  std::to_string(it->second.line) + ")");
      }
    }
    if (auto e = n.require("effect").as_enum({"allow", "deny", "require_approval"})) r.effect = *parse_effect(*e);
    if (auto m = n["mode"].as_enum({"enforce", "shadow"})) r.shadow = *m == "shadow";

    YamlNode agents = n.require("agents");
    if (agents.present()) {
      if (auto any = agents["any"].as_bool()) r.agents.any = *any;
      if (auto v = agents["ids"].as_strings()) r.agents.ids = *v;
      if (auto v = agents["groups"].as_strings()) r.agents.groups = *v;
      if (auto v = agents["owners"].as_strings()) r.agents.owners = *v;
      if (agents.is_map() && !r.agents.any && r.agents.ids.empty() && r.agents.groups.empty() &&
          r.agents.owners.empty()) {
        agents.error("name ids, groups or owners, or set any: true");
      }
    }

    YamlNode tools = n.require("tools");
    if (tools.present() && !tools.is_map()) {
      tools.error("expected a mapping with upstream, tool, actions and/or methods");
    } else if (tools.present()) {
      r.tools.upstream = read_glob(tools["upstream"]);
      r.tools.tool = read_glob(tools["tool"]);
      YamlNode actions = tools["actions"];
      if (auto v = actions.as_strings()) {
        if (v->empty()) actions.error("must list at least one action (or leave actions out)");
        for (const auto& a : *v) {
          if (auto id = intern_action(actions, a)) r.actions.push_back(*id);
        }
      }
      YamlNode methods = tools["methods"];
      if (auto v = methods.as_strings()) {
        r.methods = 0;
        for (const auto& m : *v) {
          if (m == "tools/call") r.methods |= kMethodToolsCall;
          else if (m == "resources/read") r.methods |= kMethodResourcesRead;
          else if (m == "prompts/get") r.methods |= kMethodPromptsGet;
          else methods.error("\"" + m + "\" is not one of: tools/call, resources/read, prompts/get");
        }
        if (v->empty()) methods.error("must list at least one method (or leave methods out)");
      }
    }

    for (const YamlNode& c : n["when"].items()) {
      if (auto cond = read_condition(c)) r.when.push_back(std::move(*cond));
    }
    for (const YamlNode& l : n["limits"].items()) {
      if (auto lim = read_limit(l)) r.limits.push_back(std::move(*lim));
    }
    if (!r.limits.empty() && r.effect == Effect::kDeny) n["limits"].error("limits apply only to allow and require_approval rules");
    snap_->rules.push_back(std::move(r));
  }

  std::optional<Condition> read_condition(const YamlNode& n) {
    Condition c;
    bool ok = true;
    if (auto p = read_pointer(n.require("argument"))) c.argument = *p; else ok = false;
    c.text = c.argument.text();
    for (const char* bound : {"max", "min"}) {
      YamlNode b = n[bound];
      if (!b.present()) continue;
      nlohmann::json v = b.as_json();
      if (!v.is_number()) {
        b.error("must be a number (unquoted)");
        ok = false;
        continue;
      }
      (std::string_view(bound) == "max" ? c.max : c.min) = v;
      c.text += std::string(" ") + bound + " " + json_text(v);
    }
    if (c.max && c.min && c.min->get<double>() > c.max->get<double>()) {
      n["min"].error("min is above max: the condition can never hold");
      ok = false;
    }
    YamlNode in = n["in"];
    if (in.present()) {
      if (!in.is_list()) {
        in.error("expected a list of values");
        ok = false;
      } else {
        nlohmann::json values = in.as_json();
        std::vector<nlohmann::json> list;
        for (const auto& v : values) {
          if (v.is_structured()) {
            in.error("values must be scalars (strings, numbers, true, false, null)");
            ok = false;
          }
          list.push_back(v);
        }
        c.in = std::move(list);
        c.text += " in " + json_text(values);
      }
    }
    if (auto p = n["pattern"].as_string()) {
      RE2::Options o;
      o.set_log_errors(false);
      o.set_max_mem(1 << 20);
      auto re = std::make_shared<RE2>(*p, o);
      if (!re->ok()) {
        n["pattern"].error("invalid RE2 pattern: " + re->error());
        ok = false;
      }
      c.pattern = std::move(re);
      c.pattern_text = *p;
      c.text += " pattern " + json_text(*p);
    }
    if (auto r = n["required"].as_bool()) c.required = *r;
    if (auto o = n["optional"].as_bool()) c.optional = *o;
    if (c.required) c.text += " required";
    if (c.optional) c.text += " optional";
    if (c.required && c.optional) {
      n["optional"].error("a condition cannot be both required and optional");
      ok = false;
    }
    if (n.is_map() && !c.max && !c.min && !c.in && !c.pattern && !c.required) {
      n.error("a condition needs max, min, in, pattern or required: true");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return c;
  }

  std::optional<Limit> read_limit(const YamlNode& n) {
    Limit l;
    YamlNode rate = n.require("rate");
    auto text = rate.as_string();
    if (!text) return std::nullopt;
    auto parsed = parse_rate(*text);
    if (!parsed) {
      rate.error("\"" + *text + "\" is not a rate such as 60/1m, 10/s or 1000/1d");
      return std::nullopt;
    }
    l.count = parsed->first;
    l.window = parsed->second;
    auto per = n["per"].as_enum({"agent", "user", "tool"});
    std::string per_name = per.value_or("agent");
    l.per = per_name == "user" ? Limit::Per::kUser : per_name == "tool" ? Limit::Per::kTool : Limit::Per::kAgent;
    auto on = n["on_exceed"].as_enum({"deny", "suspend_agent"});
    l.suspend_agent = on && *on == "suspend_agent";
    l.text = *text + " per " + per_name;
    return l;
  }

  void read_tests(YamlReader& reader, const YamlNode& tests) {
    if (!tests.present()) return;
    // YamlNode must not be assigned to: YAML::Node assignment rewrites the
    // document. Pick the cases node by construction instead.
    if (tests.is_map()) {
      for (const YamlNode& a : tests["agents"].items()) {
        AgentRecord agent;
        if (auto id = a.require("id").as_string()) agent.id = *id;
        agent.owner = a["owner"].as_string().value_or("");
        agent.groups = a["groups"].as_strings().value_or(std::vector<std::string>{});
        if (a["clearance"].present() && read_level(a["clearance"])) agent.clearance = *a["clearance"].as_string();
        snap_->test_agents.push_back(std::move(agent));
      }
    }
    const YamlNode cases = tests.is_map() ? tests.require("cases") : tests;
    for (const YamlNode& t : cases.items()) {
      PolicyTest test;
      test.pos = pos_of(reader, t);
      test.name = t.require("name").as_string().value_or("");
      YamlNode req = t.require("request");
      test.agent = req.require("agent").as_string().value_or("");
      test.user = req["user"].as_string().value_or("");
      if (req["user_clearance"].present() && read_level(req["user_clearance"]))
        test.user_clearance = req["user_clearance"].as_string();
      if (auto m = req["method"].as_enum({"tools/call", "resources/read", "prompts/get"})) test.method = *m;
      YamlNode tool = req.require("tool");
      if (auto s = tool.as_string()) {
        auto slash = s->find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == s->size()) {
          tool.error("expected UPSTREAM/TOOL, e.g. crm/read_record");
        } else {
          test.upstream = s->substr(0, slash);
          test.tool = s->substr(slash + 1);
        }
      }
      YamlNode args = req["arguments"];
      if (args.present()) {
        if (!args.is_map()) args.error("expected a mapping");
        else test.arguments = args.as_json();
      }
      if (auto e = t.require("expect").as_enum({"allow", "deny", "require_approval"})) test.expect = *parse_effect(*e);
      snap_->tests.push_back(std::move(test));
    }
  }

  nlohmann::json pattern_json(const ToolPattern& p) const {
    nlohmann::json j = nlohmann::json::object();
    if (p.upstream) j["upstream"] = p.upstream->pattern();
    if (p.tool) j["tool"] = p.tool->pattern();
    return j;
  }

  static nlohmann::json sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  }

  // What the revision hashes; see policy_loader.h.
  nlohmann::json canonical_content() const {
    const PolicySnapshot& s = *snap_;
    nlohmann::json j;
    j["version"] = s.version;
    j["sensitivity_levels"] = s.levels;
    j["default_sensitivity"] = s.levels[s.default_sensitivity];
    nlohmann::json tools = nlohmann::json::array();
    for (const ToolClass& t : s.tool_classes) {
      nlohmann::json e{{"match", pattern_json(t.match)}};
      if (t.action) e["action"] = s.actions[*t.action];
      if (t.sensitivity) e["sensitivity"] = s.levels[*t.sensitivity];
      tools.push_back(std::move(e));
    }
    j["tools"] = std::move(tools);
    nlohmann::json resources = nlohmann::json::array();
    for (const ResourceClass& r : s.resources) {
      nlohmann::json levels = nlohmann::json::array();
      for (const auto& l : r.levels) levels.push_back({{"pattern", l.pattern.pattern()}, {"sensitivity", s.levels[l.sensitivity]}});
      resources.push_back({{"match", pattern_json(r.match)}, {"argument", r.argument.text()}, {"levels", levels}});
    }
    j["resources"] = std::move(resources);
    nlohmann::json rules = nlohmann::json::array();
    for (const Rule& r : s.rules) {
      nlohmann::json e;
      e["id"] = r.id;
      e["effect"] = effect_name(r.effect);
      e["mode"] = r.shadow ? "shadow" : "enforce";
      e["agents"] = {{"any", r.agents.any}, {"ids", sorted(r.agents.ids)}, {"groups", sorted(r.agents.groups)},
                     {"owners", sorted(r.agents.owners)}};
      nlohmann::json tools_match = pattern_json(r.tools);
      std::vector<std::string> actions;
      for (ActionId a : r.actions) actions.push_back(s.actions[a]);
      tools_match["actions"] = sorted(actions);
      tools_match["methods"] = r.methods;
      e["tools"] = std::move(tools_match);
      nlohmann::json when = nlohmann::json::array();
      for (const Condition& c : r.when) {
        nlohmann::json cj{{"argument", c.argument.text()}, {"required", c.required}, {"optional", c.optional}};
        if (c.max) cj["max"] = *c.max;
        if (c.min) cj["min"] = *c.min;
        if (c.in) cj["in"] = *c.in;
        if (c.pattern) cj["pattern"] = c.pattern_text;
        when.push_back(std::move(cj));
      }
      e["when"] = std::move(when);
      nlohmann::json limits = nlohmann::json::array();
      for (const Limit& l : r.limits) {
        limits.push_back({{"count", l.count},
                          {"window_ms", l.window.count()},
                          {"per", l.per == Limit::Per::kAgent ? "agent" : l.per == Limit::Per::kUser ? "user" : "tool"},
                          {"on_exceed", l.suspend_agent ? "suspend_agent" : "deny"}});
      }
      e["limits"] = std::move(limits);
      rules.push_back(std::move(e));
    }
    j["rules"] = std::move(rules);
    return j;
  }

  const LoadOptions& options_;
  std::shared_ptr<PolicySnapshot> snap_ = std::make_shared<PolicySnapshot>();
  std::vector<std::unique_ptr<YamlReader>> readers_;
  std::vector<YamlNode> roots_;
  std::unique_ptr<YamlNode> default_node_;
  std::map<std::string, SourcePos> rule_ids_;
  PolicyErrors extra_errors_, late_errors_;
};

}  // namespace

Result<LoadedPolicy, PolicyErrors> load_policy_text(const std::vector<std::pair<std::string, std::string>>& sources,
                                                    const LoadOptions& options) {
  Loader loader(options);
  if (sources.empty()) return Err(PolicyErrors{PolicyError{"", 0, 0, "policy.files", "no policy file given"}});
  for (const auto& [file, text] : sources) loader.add_source(file, text);
  return loader.finish();
}

Result<LoadedPolicy, PolicyErrors> load_policy_files(const std::vector<std::string>& files,
                                                     const LoadOptions& options) {
  std::vector<std::pair<std::string, std::string>> sources;
  PolicyErrors errors;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      errors.push_back(PolicyError{file, 0, 0, "", "cannot read the policy file"});
      continue;
    }
    std::ostringstream text;
    text << in.rdbuf();
    sources.emplace_back(file, text.str());
  }
  if (!errors.empty()) return Err(std::move(errors));
  return load_policy_text(sources, options);
}

}  // namespace portcullis::policy
