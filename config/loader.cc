#include "config/loader.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "common/encoding.h"
#include "common/sha256.h"
#include "common/url.h"
#include "config/interpolate.h"
#include "config/yaml_reader.h"

namespace portcullis::config {
namespace {

namespace fs = std::filesystem;
using portcullis::is_ipv4;
using portcullis::is_ipv6;
using portcullis::parse_port;
using portcullis::parse_url;
using std::chrono::milliseconds;

// ---- value syntax ----


// host:port where host is an IPv4 address, `localhost` or [IPv6].
std::optional<Endpoint> parse_endpoint(std::string_view s) {
  Endpoint e;
  std::string_view port;
  if (!s.empty() && s[0] == '[') {
    std::size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    e.host = std::string(s.substr(1, close - 1));
    if (!is_ipv6(e.host)) return std::nullopt;
    port = s.substr(close + 2);
  } else {
    std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    e.host = std::string(s.substr(0, colon));
    if (e.host != "localhost" && !is_ipv4(e.host)) return std::nullopt;
    port = s.substr(colon + 1);
  }
  if (!parse_port(port, e.port, true)) return std::nullopt;
  return e;
}

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

bool is_base64_32_bytes(std::string_view s) {
  if (s.size() != 43 && s.size() != 44) return false;
  unsigned char out[encoding::base64_decoded_max(44)];
  auto n = encoding::base64_decode_into(s, {encoding::Base64Alphabet::kEither, encoding::Base64Padding::kOptional}, out);
  OPENSSL_cleanse(out, sizeof out);  // an inline session key
  return n && *n == 32;
}

bool is_upstream_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

// Paths the gateway answers itself on its main listener.
bool is_reserved_path(std::string_view p) {
  for (std::string_view exact : {"/", "/healthz", "/readyz", "/metrics"}) {
    if (p == exact) return true;
  }
  for (std::string_view prefix : {"/.well-known/", "/admin/"}) {
    if (p.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

// The dotted path of the YAML node that starts closest before `offset`, so
// an unset ${VAR} can be named by its key. Empty when the text does not parse.
std::string key_at_offset(const std::string& text, std::size_t offset) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception&) {
    return "";
  }
  std::string best;
  int best_pos = -1;
  std::size_t budget = 100000;
  std::function<void(const YAML::Node&, const std::string&, int)> walk = [&](const YAML::Node& n,
                                                                          const std::string& path, int depth) {
    if (budget == 0 || depth > 64) return;
    --budget;
    int pos = n.Mark().pos;
    if (pos >= 0 && static_cast<std::size_t>(pos) <= offset && pos >= best_pos) {
      best_pos = pos;
      best = path;
    }
    if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!it->first.IsScalar()) continue;
        std::string p = path.empty() ? it->first.Scalar() : path + "." + it->first.Scalar();
        walk(it->first, p, depth + 1);
        walk(it->second, p, depth + 1);
      }
    } else if (n.IsSequence()) {
      for (std::size_t i = 0; i < n.size(); ++i) walk(n[i], path + "[" + std::to_string(i) + "]", depth + 1);
    }
  };
  walk(root, "", 0);
  return best;
}

// ---- the loader: one pass over the document, then cross-references ----

class Loader {
 public:
  Loader(YamlReader& reader, std::string base_dir, Config& config)
      : r_(reader), base_dir_(std::move(base_dir)), c_(config) {}

  void load(const YamlNode& root) {
    if (root.present() && !root.is_map()) {
      root.error("expected a mapping of sections");
      return;
    }
    server(root["server"]);
    credentials(root["credentials"]);
    upstreams(root["upstreams"]);
    identity(root["identity"]);
    agents(root["agents"]);
    users(root["users"]);
    policy(root["policy"]);
    audit(root["audit"]);
    admin(root["admin"]);
    state(root["state"]);
    cross_checks(root);
  }

 private:
  // -- typed helpers that write into the Config only when the value is good --

  void str(const YamlNode& n, std::string& out) {
    if (auto v = n.as_string()) out = *v;
  }
  std::string required_str(const YamlNode& map, std::string_view key) {
    YamlNode n = map.require(key);
    auto v = n.as_string();
    if (v && v->empty()) n.error("must not be empty");
    return v.value_or("");
  }
  void strings(const YamlNode& n, std::vector<std::string>& out) {
    if (auto v = n.as_strings()) out = *v;
  }
  void duration(const YamlNode& n, Duration& out, bool allow_zero = false) {
    auto v = n.as_duration();
    if (!v) return;
    if (!allow_zero && v->count() == 0) {
      n.error("must be greater than 0");
      return;
    }
    out = *v;
  }
  template <class T>
  void bytes(const YamlNode& n, T& out) {
    auto v = n.as_bytes();
    if (!v) return;
    if (*v == 0) {
      n.error("must be greater than 0");
    } else if (*v > std::numeric_limits<T>::max()) {
      n.error("too large");
    } else {
      out = static_cast<T>(*v);
    }
  }
  template <class T>
  void integer(const YamlNode& n, T& out, std::int64_t min) {
    std::int64_t max = std::numeric_limits<T>::max() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                           ? std::numeric_limits<std::int64_t>::max()
                           : static_cast<std::int64_t>(std::numeric_limits<T>::max());
    if (auto v = n.as_int(min, max)) out = static_cast<T>(*v);
  }
  SecretRef secret(const YamlNode& n) {
    SecretRef ref;
    auto v = n.as_string();
    if (!v) return ref;
    if (v->rfind("vault:", 0) == 0) {
      ref.kind = SecretRef::Kind::kVault;
      ref.value = v->substr(6);
      if (ref.value.empty()) n.error("vault: needs an entry name, e.g. vault:crm-api-key");
      vault_refs_.push_back(n);
    } else {
      if (v->empty()) {
        n.error("must not be empty");
        return ref;
      }
      ref.kind = SecretRef::Kind::kLiteral;
      ref.value = *v;
    }
    return ref;
  }
  // An http(s) URL; "" when absent or bad.
  std::string url(const YamlNode& n) {
    auto v = n.as_string();
    if (!v) return "";
    if (!parse_url(*v)) {
      n.error("not a valid http(s) URL: \"" + *v + "\"");
      return "";
    }
    return *v;
  }
  std::optional<Endpoint> endpoint(const YamlNode& n) {
    auto v = n.as_string();
    if (!v) return std::nullopt;
    auto e = parse_endpoint(*v);
    if (!e) n.error("expected host:port with an IPv4 address, localhost or [IPv6], found \"" + *v + "\"");
    return e;
  }
  std::string resolve(const std::string& p) const {
    fs::path path(p);
    if (path.is_absolute()) return path.lexically_normal().string();
    return (fs::path(base_dir_) / path).lexically_normal().string();
  }
  // A path resolved against the config's directory; must name an existing
  // regular file when `must_exist`.
  std::string file(const YamlNode& n, bool must_exist) {
    auto v = n.as_string();
    if (!v) return "";
    if (v->empty()) {
      n.error("must not be empty");
      return "";
    }
    std::string p = resolve(*v);
    std::error_code ec;
    if (must_exist && !fs::is_regular_file(p, ec)) {
      n.error("file not found: " + p);
    }
    return p;
  }

  // -- sections --

  void server(const YamlNode& n) {
    ServerConfig& s = c_.server;
    if (auto e = endpoint(n["listen"])) s.listen = *e;
    YamlNode tls = n["tls"];
    if (tls.present()) {
      TlsServerConfig t;
      t.cert_file = file(tls.require("cert_file"), true);
      t.key_file = file(tls.require("key_file"), true);
      s.tls = t;
    }
    YamlNode public_url = n["public_url"];
    if (public_url.present()) {
      if (auto v = public_url.as_string()) {
        auto u = parse_url(*v);
        if (!u || v->find('?') != std::string::npos) {
          public_url.error("not a valid http(s) URL: \"" + *v + "\"");
        } else {
          s.public_url = *v;
          while (s.public_url.size() > 1 && s.public_url.back() == '/') s.public_url.pop_back();
        }
      }
    } else {
      bool v6 = s.listen.host.find(':') != std::string::npos;
      s.public_url = std::string(s.tls ? "https" : "http") + "://" + (v6 ? "[" + s.listen.host + "]" : s.listen.host) +
                     ":" + std::to_string(s.listen.port);
    }
    for (const YamlNode& o : n["allowed_origins"].items()) {
      auto v = o.as_string();
      if (!v) {
        if (!o.present()) o.error("expected a string, found null");
        continue;
      }
      auto u = parse_url(*v);
      // An Origin header is scheme://host[:port] and nothing else.
      if (!u || u->target != "/" || v->back() == '/') {
        o.error("not an origin (scheme://host[:port]): \"" + *v + "\"");
        continue;
      }
      s.allowed_origins.push_back(*v);
    }
    bytes(n["max_body"], s.max_body);
    YamlNode session_key = n["session_key"];
    s.session_key = secret(session_key);
    if (s.session_key.kind == SecretRef::Kind::kLiteral && !is_hex64(s.session_key.value) &&
        !is_base64_32_bytes(s.session_key.value)) {
      session_key.error("must be 32 bytes as hex or base64");
    }
    duration(n["session_ttl"], s.session_ttl);
    duration(n["header_timeout"], s.header_timeout);
    duration(n["idle_timeout"], s.idle_timeout);
    bytes(n["max_header_bytes"], s.max_header_bytes);
    integer(n["max_connections"], s.max_connections, 1);
    duration(n["drain_timeout"], s.drain_timeout, /*allow_zero=*/true);
    if (auto v = n["threads"].as_int(0, 1024)) s.threads = static_cast<int>(*v);
  }

  void upstreams(const YamlNode& list) {
    std::map<std::string, int> names, paths;  // -> index of first use
    for (const YamlNode& n : list.items()) {
      UpstreamConfig u;
      YamlNode name = n.require("name");
      u.name = name.as_string().value_or("");
      if (name.present() && !u.name.empty()) {
        if (!is_upstream_name(u.name)) {
          name.error("must match [A-Za-z0-9_.-]+");
        } else if (!names.emplace(u.name, c_.upstreams.size()).second) {
          name.error("duplicate upstream name \"" + u.name + "\" (also upstreams[" + std::to_string(names[u.name]) +
                     "])");
        }
      } else if (name.present()) {
        name.error("must not be empty");
      }
      YamlNode url_node = n.require("url");
      if (auto v = url_node.as_string()) {
        if (auto p = parse_url(*v)) {
          u.url = *v;
          u.scheme = p->scheme;
          u.host = p->host;
          u.port = p->port;
          u.target = p->target;
        } else {
          url_node.error("not a valid http(s) URL: \"" + *v + "\"");
        }
      }
      YamlNode path = n["path"];
      if (path.present()) {
        str(path, u.path);
        if (path.as_string() &&
            (u.path.empty() || u.path[0] != '/' || u.path.find_first_of(" \t?#") != std::string::npos)) {
          path.error("must start with / and contain no spaces, ? or #");
          u.path.clear();
        } else if (is_reserved_path(u.path)) {
          path.error("\"" + u.path + "\" is served by the gateway itself");
          u.path.clear();
        }
      } else if (!u.name.empty()) {
        u.path = "/mcp/" + u.name;
      }
      if (!u.path.empty() && !paths.emplace(u.path, c_.upstreams.size()).second) {
        (path.present() ? path : name)
            .error("duplicate route path \"" + u.path + "\" (also upstreams[" + std::to_string(paths[u.path]) + "])");
      }
      YamlNode credential = n["credential"];
      str(credential, u.credential);
      if (!u.credential.empty()) credential_refs_.push_back(credential);
      YamlNode t = n["timeouts"];
      duration(t["connect"], u.timeouts.connect);
      duration(t["request"], u.timeouts.request);
      duration(t["stream_idle"], u.timeouts.stream_idle);
      YamlNode tls = n["tls"];
      if (tls["ca_file"].present()) u.tls.ca_file = file(tls["ca_file"], true);
      if (auto v = tls["verify"].as_bool()) u.tls.verify = *v;
      if (n["auth"].as_enum({"none"})) u.auth_none = true;
      if (n["transport"].as_enum({"streamable_http", "sse"}).value_or("") == "sse")
        u.transport = UpstreamTransport::kSse;
      integer(n["max_connections"], u.max_connections, 1);
      c_.upstreams.push_back(std::move(u));
    }
    legacy_paths(list, paths);
  }

  // A `transport: sse` route also serves <path>/sse and <path>/messages
  // (gateway/legacy_route.h); no other route may sit there.
  void legacy_paths(const YamlNode& list, const std::map<std::string, int>& paths) {
    if (c_.upstreams.empty()) return;
    std::size_t i = 0;
    for (const YamlNode& n : list.items()) {
      if (i >= c_.upstreams.size()) break;
      const UpstreamConfig& u = c_.upstreams[i++];
      if (u.transport != UpstreamTransport::kSse || u.path.empty()) continue;
      for (std::string_view suffix : {"/sse", "/messages"}) {
        auto other = paths.find(u.path + std::string(suffix));
        if (other == paths.end()) continue;
        n["transport"].error("route \"" + u.path + std::string(suffix) + "\" of this legacy SSE upstream is upstreams[" +
                             std::to_string(other->second) + "]'s path");
      }
    }
  }

  void identity(const YamlNode& n) {
    IdentityConfig& id = c_.identity;
    std::set<std::string> issuers;
    for (const YamlNode& i : n["issuers"].items()) {
      IssuerConfig ic;
      YamlNode issuer = i.require("issuer");
      ic.issuer = url(issuer);
      if (!ic.issuer.empty() && !issuers.insert(ic.issuer).second) issuer.error("duplicate issuer");
      ic.jwks_uri = url(i["jwks_uri"]);
      YamlNode algs = i["algorithms"];
      if (algs.present()) {
        auto v = algs.as_strings();
        if (v && v->empty()) algs.error("must not be empty");
        for (const YamlNode& a : algs.items()) {
          if (auto s = a.as_enum({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"})) {
            ic.algorithms.push_back(*s);
          }
        }
      } else {
        ic.algorithms = {"RS256", "ES256"};
      }
      strings(i["audiences"], ic.audiences);
      id.issuers.push_back(std::move(ic));
    }
    YamlNode in = n["introspection"];
    if (in.present()) {
      IntrospectionConfig ic;
      ic.url = url(in.require("url"));
      ic.client_id = required_str(in, "client_id");
      ic.client_secret = secret(in.require("client_secret"));
      duration(in["cache_ttl"], ic.cache_ttl, /*allow_zero=*/true);
      if (auto v = in["require_audience"].as_bool()) ic.require_audience = *v;
      id.introspection = std::move(ic);
    }
    duration(n["clock_skew"], id.clock_skew, /*allow_zero=*/true);
    strings(n["required_scopes"], id.required_scopes);
    YamlNode claim = n["agent_claim"];
    str(claim, id.agent_claim);
    if (id.agent_claim.empty()) {
      claim.error("must not be empty");
      id.agent_claim = "client_id";
    }
    if (auto v = n["unregistered_agents"].as_enum({"deny", "allow"})) id.allow_unregistered_agents = *v == "allow";
  }

  void agents(const YamlNode& list) {
    std::set<std::string> ids;
    for (const YamlNode& n : list.items()) {
      AgentConfig a;
      a.id = required_str(n, "id");
      if (!a.id.empty() && !ids.insert(a.id).second) n["id"].error("duplicate agent id \"" + a.id + "\"");
      a.owner = required_str(n, "owner");
      strings(n["groups"], a.groups);
      str(n["clearance"], a.clearance);
      c_.agents.push_back(std::move(a));
    }
  }

  void users(const YamlNode& list) {
    std::set<std::string> subs;
    for (const YamlNode& n : list.items()) {
      UserConfig u;
      u.sub = required_str(n, "sub");
      if (!u.sub.empty() && !subs.insert(u.sub).second) n["sub"].error("duplicate user sub \"" + u.sub + "\"");
      u.clearance = required_str(n, "clearance");
      c_.users.push_back(std::move(u));
    }
  }

  void credentials(const YamlNode& n) {
    CredentialsConfig& cc = c_.credentials;
    YamlNode vault = n["vault"];
    if (vault.present()) {
      VaultConfig v;
      // The vault file and its key file may not exist yet: `portcullis vault
      // init` creates them from this config. Their directories must exist.
      for (auto [key, out] : {std::pair{"file", &v.file}, std::pair{"key_file", &v.key_file}}) {
        YamlNode f = key == std::string_view("file") ? vault.require(key) : vault[key];
        *out = file(f, false);
        std::error_code ec;
        if (!out->empty() && !fs::is_directory(fs::path(*out).parent_path(), ec)) {
          f.error("directory not found: " + fs::path(*out).parent_path().string());
        }
      }
      cc.vault = std::move(v);
    }
    std::set<std::string> names;
    for (const YamlNode& p : n["providers"].items()) {
      ProviderConfig pc;
      YamlNode name = p["name"];
      pc.name = required_str(p, "name");
      if (!pc.name.empty() && !names.insert(pc.name).second) name.error("duplicate provider name \"" + pc.name + "\"");
      auto kind = p.require("kind").as_enum({"static", "client_credentials", "token_exchange", "signed_jwt"});
      if (!kind) {
        (void)p.entries();  // without a kind every other key would look unknown
        cc.providers.push_back(std::move(pc));
        continue;
      }
      pc.kind = *kind;
      duration(p["rotate_every"], pc.rotate_every, /*allow_zero=*/true);
      if (pc.kind == "static") {
        pc.secret = secret(p.require("secret"));
        pc.header = required_str(p, "header");
      } else if (pc.kind == "client_credentials" || pc.kind == "token_exchange") {
        pc.token_url = url(p.require("token_url"));
        pc.client_id = required_str(p, "client_id");
        pc.client_secret = secret(p.require("client_secret"));
        str(p["scope"], pc.scope);
        str(p["resource"], pc.resource);
        if (pc.kind == "token_exchange") {
          pc.audience = required_str(p, "audience");
        } else {
          str(p["audience"], pc.audience);
        }
      } else {  // signed_jwt
        pc.audience = required_str(p, "audience");
        YamlNode ttl = p["ttl"];
        duration(ttl, pc.ttl);
        if (pc.ttl > std::chrono::minutes(5)) {
          ttl.error("must be at most 5m");
          pc.ttl = std::chrono::minutes(5);
        }
        pc.key = secret(p["key"]);
        if (auto v = p["algorithm"].as_enum({"ES256", "EdDSA"})) pc.algorithm = *v;
      }
      cc.providers.push_back(std::move(pc));
    }
  }

  void policy(const YamlNode& n) {
    for (const YamlNode& f : n["files"].items()) {
      if (!f.present()) {
        f.error("expected a file name, found null");
        continue;
      }
      std::string p = file(f, true);
      if (!p.empty()) c_.policy.files.push_back(p);
    }
    if (auto v = n["mode"].as_enum({"enforce", "shadow"})) c_.policy.shadow = *v == "shadow";
    if (auto v = n["pins_file"].as_string()) {
      if (v->empty()) n["pins_file"].error("must not be empty");
      else c_.policy.pins_file = resolve(*v);
    }
  }

  void audit(const YamlNode& n) {
    AuditConfig& a = c_.audit;
    if (auto v = n["dir"].as_string()) {
      if (v->empty()) n["dir"].error("must not be empty");
      else a.dir = resolve(*v);
    }
    if (auto v = n["on_failure"].as_enum({"fail_closed", "fail_open"})) a.fail_open = *v == "fail_open";
    a.signing_key = secret(n["signing_key"]);
    YamlNode cp = n["checkpoint_every"];
    integer(cp["records"], a.checkpoint_records, 1);
    duration(cp["interval"], a.checkpoint_interval);
    bytes(n["segment_bytes"], a.segment_bytes);
    duration(n["segment_age"], a.segment_age);
    if (auto v = n["preallocate"].as_bool()) a.preallocate = *v;
    integer(n["queue_limit"], a.queue_limit, 1);
    YamlNode gc = n["group_commit"];
    duration(gc["max_delay"], a.group_commit_delay, /*allow_zero=*/true);
    // Every call may wait this long for its record under load: a typo like
    // `2s` for `2ms` would stall the gateway, so it is bounded.
    if (a.group_commit_delay > std::chrono::milliseconds(100)) gc["max_delay"].error("must be at most 100ms");
    integer(gc["max_records"], a.group_commit_records, 1);
  }

  void admin(const YamlNode& n) {
    AdminConfig& a = c_.admin;
    a.listen = endpoint(n["listen"]);
    std::set<std::string> names;
    for (const YamlNode& t : n["tokens"].items()) {
      AdminToken tok;
      tok.name = required_str(t, "name");
      if (!tok.name.empty() && !names.insert(tok.name).second) t["name"].error("duplicate token name");
      YamlNode sha = t.require("sha256");
      if (auto v = sha.as_string()) {
        if (!is_hex64(*v)) {
          sha.error("expected 64 hex digits (the SHA-256 of the bearer token)");
        } else {
          tok.sha256_hex = *v;
          std::transform(tok.sha256_hex.begin(), tok.sha256_hex.end(), tok.sha256_hex.begin(),
                         [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        }
      }
      YamlNode roles = t.require("roles");
      if (roles.is_list() && roles.items().empty()) roles.error("must not be empty");
      for (const YamlNode& role : roles.items()) {
        if (auto v = role.as_enum({"viewer", "operator", "approver"})) tok.roles.push_back(*v);
      }
      a.tokens.push_back(std::move(tok));
    }
    if (auto v = n["state_file"].as_string()) {
      if (v->empty()) n["state_file"].error("must not be empty");
      else a.state_file = resolve(*v);
    }
    duration(n["approval_timeout"], a.approval_timeout);
    duration(n["approval_keepalive"], a.approval_keepalive, /*allow_zero=*/true);
    if (a.approval_keepalive.count() > 0 && a.approval_keepalive < std::chrono::milliseconds(100))
      n["approval_keepalive"].error("must be at least 100ms (or 0s: no keepalive stream)");
  }

  void state(const YamlNode& n) {
    StateConfig& s = c_.state;
    if (auto v = n["backend"].as_enum({"file", "redis"})) s.backend = *v;
    YamlNode u = n["url"];
    SecretRef url_password;
    if (auto v = u.as_string()) {
      std::string error;
      if (!parse_redis_url(*v, s, url_password, error)) {
        u.error(error);
      } else {
        s.url = *v;
        // Kept for messages: without the password.
        if (!url_password.empty()) s.url = "redis://" + (s.username.empty() ? "" : s.username) + ":***@" +
                                           s.url.substr(s.url.rfind('@') + 1);
      }
    }
    if (s.backend == "redis" && !u.present()) n.require("url");
    if (s.backend == "file" && u.present()) u.error("only used with `backend: redis`");
    if (auto v = n["prefix"].as_string()) {
      if (v->empty()) n["prefix"].error("must not be empty");
      else s.prefix = *v;
    }
    YamlNode t = n["timeouts"];
    duration(t["connect"], s.connect_timeout);
    duration(t["command"], s.command_timeout);
    s.password = secret(n["password"]);
    if (!s.password.empty() && !url_password.empty())
      n["password"].error("the password is also in the url: give it once (prefer `password: vault:NAME`)");
    if (s.password.empty()) s.password = url_password;
  }

  // redis://[[user]:password@]host[:port][/db]. The password part goes into
  // `password` (a literal SecretRef).
  static bool parse_redis_url(const std::string& text, StateConfig& s, SecretRef& password, std::string& error) {
    std::string rest;
    if (text.rfind("rediss://", 0) == 0) {
      error = "rediss:// (TLS) is not supported: this build's hiredis (0.14, Debian 12) has no TLS; reach Redis "
              "over loopback or a private network, or through a TLS tunnel (stunnel, spiped) on localhost";
      return false;
    }
    if (text.rfind("redis://", 0) != 0) {
      error = "expected a redis:// URL (redis://[:password@]host:port/db)";
      return false;
    }
    rest = text.substr(8);
    auto at = rest.rfind('@');
    if (at != std::string::npos) {
      std::string userinfo = rest.substr(0, at);
      rest = rest.substr(at + 1);
      auto colon = userinfo.find(':');
      std::string user = colon == std::string::npos ? userinfo : userinfo.substr(0, colon);
      std::string pass = colon == std::string::npos ? std::string() : userinfo.substr(colon + 1);
      if (colon == std::string::npos) {  // redis://password@host, as some clients accept
        pass = user;
        user.clear();
      }
      s.username = user;
      if (!pass.empty()) {
        password.kind = SecretRef::Kind::kLiteral;
        password.value = pass;
      }
    }
    std::string hostport = rest, db;
    if (auto slash = rest.find('/'); slash != std::string::npos) {
      hostport = rest.substr(0, slash);
      db = rest.substr(slash + 1);
    }
    if (!db.empty()) {
      if (db.size() > 5 || db.find_first_not_of("0123456789") != std::string::npos) {
        error = "the database after the host must be a number (redis://host:6379/0)";
        return false;
      }
      s.db = std::stoi(db);
    }
    if (hostport.empty()) {
      error = "no host in the URL (redis://host:6379/0)";
      return false;
    }
    std::optional<Endpoint> e;
    if (hostport[0] == '[') {
      e = parse_endpoint(hostport.back() == ']' ? hostport + ":6379" : hostport);
    } else {
      // A host name is fine here (resolved on the state thread, not on an I/O thread).
      auto colon = hostport.rfind(':');
      Endpoint ep;
      ep.host = hostport.substr(0, colon);
      ep.port = 6379;
      bool name_ok = !ep.host.empty() && ep.host.size() <= 253 &&
                     ep.host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
                         std::string::npos;
      if (name_ok && (colon == std::string::npos || parse_port(std::string_view(hostport).substr(colon + 1), ep.port, false)))
        e = ep;
    }
    if (!e) {
      error = "expected host:port with an IPv4 address, a host name or [IPv6], found \"" + hostport + "\"";
      return false;
    }
    s.host = e->host;
    s.port = e->port;
    return true;
  }

  void cross_checks(const YamlNode& root) {
    std::set<std::string> providers;
    for (const ProviderConfig& p : c_.credentials.providers) providers.insert(p.name);
    for (const YamlNode& ref : credential_refs_) {
      std::string name = ref.as_string().value_or("");
      if (providers.count(name)) continue;
      std::string known;
      for (const std::string& p : providers) known += (known.empty() ? "" : ", ") + p;
      ref.error("no credentials provider named \"" + name + "\"" +
                (known.empty() ? std::string(" (none are defined)") : " (defined: " + known + ")"));
    }
    if (!c_.credentials.vault) {
      for (const YamlNode& ref : vault_refs_) ref.error("refers to the vault, but credentials.vault is not configured");
    }
    // Fail closed: a route that requires a token needs something to verify it.
    if (!c_.identity.enabled()) {
      YamlNode ups = root["upstreams"];
      std::size_t i = 0;
      for (const YamlNode& u : ups.items()) {
        if (i < c_.upstreams.size() && !c_.upstreams[i].auth_none)
          u.error("identity is not configured: add identity.issuers (or introspection), or set `auth: none` on "
                  "this route to serve it without tokens");
        ++i;
      }
    }
    if (!c_.policy.files.empty() && c_.audit.dir.empty() && !root["audit"]["dir"].present()) {
      YamlNode audit = root["audit"];
      (audit.present() ? audit : root["policy"]["files"]).error(
          "audit.dir is required when policy.files is set (every decision is recorded)");
    }
  }

  YamlReader& r_;
  std::string base_dir_;
  Config& c_;
  std::vector<YamlNode> credential_refs_;
  std::vector<YamlNode> vault_refs_;
};

}  // namespace

Result<ConfigPtr, ConfigErrors> load_config_text(const std::string& text, const std::string& file,
                                                 const std::string& base_dir) {
  Interpolated in = interpolate_env(text);
  ConfigErrors errors;
  for (const Interpolated::Problem& p : in.problems) {
    errors.push_back(ConfigError{file, p.line, p.column, key_at_offset(in.text, p.offset), p.message});
  }

  auto config = std::make_shared<Config>();
  config->file = file;
  config->revision = sha256_hex(in.text);
  YamlReader reader(file);
  try {
    YamlNode root = reader.parse(in.text);
    Loader(reader, base_dir, *config).load(root);
  } catch (const YAML::Exception& e) {
    // The reader catches what it knows of; this keeps any other yaml-cpp
    // surprise from escaping as an exception.
    errors.push_back(ConfigError{file, e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1,
                                 "", e.msg});
  }
  // A value with an unset ${VAR} is reported once, not also as a bad value.
  std::set<std::string> unset_keys;
  for (const ConfigError& e : errors) unset_keys.insert(e.key);
  for (ConfigError& e : reader.finish()) {
    if (!unset_keys.count(e.key)) errors.push_back(std::move(e));
  }
  if (!errors.empty()) {
    std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return Err(std::move(errors));
  }
  return ConfigPtr(std::move(config));
}

Result<ConfigPtr, ConfigErrors> load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Err(ConfigErrors{ConfigError{path, 0, 0, "", std::string("cannot read: ") + std::strerror(errno)}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Err(ConfigErrors{ConfigError{path, 0, 0, "", "cannot read: I/O error"}});
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  if (ec) absolute = path;
  auto result = load_config_text(text.str(), path, absolute.parent_path().string());
  if (!result.ok()) return result;
  auto config = std::make_shared<Config>(**result);
  config->file = absolute.lexically_normal().string();
  return ConfigPtr(std::move(config));
}

}  // namespace portcullis::config
