#include "gateway/mcp2026.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include "common/ascii.h"
#include "common/encoding.h"

namespace portcullis::gateway::mcp2026 {
namespace {

using nlohmann::json;

constexpr std::string_view kSentinelOpen = "=?base64?";
constexpr std::string_view kSentinelClose = "?=";
constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_sentinel(std::string_view v) {
  return v.size() >= kSentinelOpen.size() + kSentinelClose.size() && v.substr(0, kSentinelOpen.size()) == kSentinelOpen &&
         v.substr(v.size() - kSentinelClose.size()) == kSentinelClose;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if ((c >> 5) == 0x6) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c >> 4) == 0xE) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c >> 3) == 0x1E) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 0x2) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and out-of-range code points.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

bool plain_safe(std::string_view v) {
  if (v.empty()) return true;
  if (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t') return false;
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u == '\t') continue;
    if (u < 0x20 || u > 0x7E) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  for (char c : s)
    if (!ascii::is_alnum(c) && kExtra.find(c) == std::string_view::npos) return false;
  return true;
}

Refusal refuse(unsigned status, int code, std::string message, json data = nullptr) {
  return Refusal{status, code, std::move(message), std::move(data)};
}

Refusal mismatch(std::string message) { return refuse(400, kHeaderMismatch, "Header mismatch: " + message); }

// Methods the 2026-07-28 revision removed; a modern request naming one gets
// 404/-32601 (the conformance suite's server-stateless checks this).
bool removed_method(std::string_view m) {
  static constexpr std::array<std::string_view, 7> kRemoved = {
      "initialize",          "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
      "notifications/initialized", "notifications/roots/list_changed"};
  return std::find(kRemoved.begin(), kRemoved.end(), m) != kRemoved.end();
}

const json* meta_of(const json& msg) {
  auto p = msg.find("params");
  if (p == msg.end() || !p->is_object()) return nullptr;
  auto m = p->find("_meta");
  if (m == p->end() || !m->is_object()) return nullptr;
  return &*m;
}

// Walks a schema collecting x-mcp-header annotations; `reachable` is true
// while the path from the root is made of `properties` keys only.
bool walk_schema(const json& node, bool reachable, std::vector<std::string>& path, std::vector<ParamHeader>& out,
                 std::string& why) {
  if (!node.is_object()) return true;
  if (auto x = node.find("x-mcp-header"); x != node.end()) {
    if (!reachable) {
      why = "x-mcp-header outside a chain of `properties`";
      return false;
    }
    if (path.empty()) {
      why = "x-mcp-header on the schema root";
      return false;
    }
    if (!x->is_string() || !is_token(x->get_ref<const std::string&>())) {
      why = "x-mcp-header is not an HTTP token";
      return false;
    }
    auto t = node.find("type");
    std::string type = t != node.end() && t->is_string() ? t->get<std::string>() : std::string();
    if (type != "string" && type != "integer" && type != "boolean") {
      why = "x-mcp-header on a property of type '" + type + "' (only string, integer, boolean)";
      return false;
    }
    for (const auto& o : out)
      if (iequals(o.header, x->get_ref<const std::string&>())) {
        why = "x-mcp-header '" + x->get<std::string>() + "' is declared twice";
        return false;
      }
    out.push_back({x->get<std::string>(), path, type});
  }
  static constexpr std::array<std::string_view, 5> kSchemaMaps = {
      "$defs", "definitions", "patternProperties", "dependentSchemas", "properties"};
  static constexpr std::array<std::string_view, 11> kSchemaOne = {
      "items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
      "unevaluatedItems", "unevaluatedProperties", "additionalItems"};
  static constexpr std::array<std::string_view, 4> kSchemaLists = {"oneOf", "anyOf", "allOf", "prefixItems"};
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string& k = it.key();
    if (std::find(kSchemaMaps.begin(), kSchemaMaps.end(), k) != kSchemaMaps.end() && it->is_object()) {
      bool chain = reachable && k == "properties";
      for (auto p = it->begin(); p != it->end(); ++p) {
        path.push_back(p.key());
        bool ok = walk_schema(*p, chain, path, out, why);
        path.pop_back();
        if (!ok) return false;
      }
    } else if (std::find(kSchemaOne.begin(), kSchemaOne.end(), k) != kSchemaOne.end()) {
      if (it->is_array()) {
        for (const auto& s : *it)
          if (!walk_schema(s, false, path, out, why)) return false;
      } else if (!walk_schema(*it, false, path, out, why)) {
        return false;
      }
    } else if (std::find(kSchemaLists.begin(), kSchemaLists.end(), k) != kSchemaLists.end() && it->is_array()) {
      for (const auto& s : *it)
        if (!walk_schema(s, false, path, out, why)) return false;
    }
  }
  return true;
}

const json* at_path(const json& root, const std::vector<std::string>& path) {
  const json* cur = &root;
  for (const auto& k : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

// Does a decoded header value stand for this body value?
bool param_matches(const json& body_value, std::string_view header) {
  if (body_value.is_string()) return body_value.get_ref<const std::string&>() == header;
  if (body_value.is_boolean()) return header == (body_value.get<bool>() ? "true" : "false");
  if (body_value.is_number()) {
    double b = body_value.get<double>();
    if (std::floor(b) != b || std::fabs(b) > kMaxSafeInteger) return false;
    double h = 0;
    auto [p, ec] = std::from_chars(header.data(), header.data() + header.size(), h);
    if (ec != std::errc() || p != header.data() + header.size()) return false;
    return h == b;
  }
  return false;
}

std::optional<Refusal> check_params(const MirroredHeaders& h, const RpcMessage& m, const json& params,
                                    const json* input_schema) {
  // Every Mcp-Param-* must at least be well-formed, known or not.
  std::vector<std::pair<std::string, std::string>> decoded;
  std::set<std::string> seen;
  for (const auto& [name, raw] : h.params) {
    auto v = decode_header_value(raw);
    if (!v) return mismatch("Mcp-Param-" + name + " has an invalid value");
    if (!seen.insert(lower(name)).second) return mismatch("Mcp-Param-" + name + " is repeated");
    decoded.emplace_back(name, std::move(*v));
  }
  if (m.method != "tools/call" || !input_schema) return std::nullopt;
  std::vector<ParamHeader> declared;
  std::string why;
  if (!x_mcp_headers(*input_schema, declared, why)) return std::nullopt;  // the upstream judges its own tool
  static const json kEmpty = json::object();
  auto args_it = params.find("arguments");
  const json& args = args_it != params.end() && args_it->is_object() ? *args_it : kEmpty;
  for (const auto& d : declared) {
    const json* v = at_path(args, d.path);
    const std::string* header = nullptr;
    for (const auto& [n, val] : decoded)
      if (iequals(n, d.header)) header = &val;
    bool present = v && !v->is_null();
    if (!present && header) return mismatch("Mcp-Param-" + d.header + " is sent but the argument is absent");
    if (present && !header) return mismatch("Mcp-Param-" + d.header + " is required by the tool's inputSchema");
    if (present && !param_matches(*v, *header))
      return mismatch("Mcp-Param-" + d.header + " does not match the argument in the body");
  }
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& supported_versions() {
  static const std::vector<std::string> kAll = {"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
  return kAll;
}

bool is_supported_version(std::string_view v) {
  const auto& all = supported_versions();
  return std::find(all.begin(), all.end(), v) != all.end();
}

bool is_modern_version(std::string_view v) {
  if (v.size() != 10 || v[4] != '-' || v[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!ascii::is_digit(v[i])) return false;
  return v >= kModernVersion;
}

std::string Refusal::body(const nlohmann::json& id) const {
  json err = {{"code", code}, {"message", message}};
  if (!data.is_null()) err["data"] = data;
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}}.dump();
}

Refusal unsupported_version(std::string_view requested) {
  // The modern path offers only modern revisions, so that this list agrees
  // with what a modern upstream's server/discover advertises.
  json supported = json::array({std::string(kModernVersion)});
  return refuse(400, kUnsupportedProtocolVersion,
                "Unsupported protocol version: " + std::string(requested.substr(0, 64)),
                json{{"supported", std::move(supported)}, {"requested", std::string(requested.substr(0, 64))}});
}

bool is_modern_request(const RpcBody& body, const MirroredHeaders& h) {
  if (body.batch || body.messages.size() != 1 || body.messages[0].kind == RpcKind::kResponse) return false;
  if (const json* meta = meta_of(body.json); meta && meta->contains(kProtocolVersionKey)) return true;
  return h.protocol_version && is_modern_version(trim(*h.protocol_version));
}

std::optional<Refusal> check_modern_request(const RpcBody& body, const MirroredHeaders& h,
                                            const nlohmann::json* input_schema) {
  const RpcMessage& m = body.messages.at(0);
  const json& msg = body.json;
  static const json kEmpty = json::object();
  auto pit = msg.find("params");
  const json& params = pit != msg.end() && pit->is_object() ? *pit : kEmpty;

  if (removed_method(m.method))
    return refuse(404, kMethodNotFound, "Method not found: " + m.method + " is not part of protocol revision 2026-07-28");

  // _meta shape first: a malformed envelope is -32602, not a mismatch.
  const json* meta = meta_of(msg);
  if (!meta) return refuse(400, -32602, "Invalid params: params._meta is required in protocol revision 2026-07-28");
  auto v = meta->find(kProtocolVersionKey);
  if (v == meta->end() || !v->is_string())
    return refuse(400, -32602, "Invalid params: _meta[\"io.modelcontextprotocol/protocolVersion\"] must be a string");
  auto caps = meta->find(kClientCapabilitiesKey);
  if (caps == meta->end() || !caps->is_object())
    return refuse(400, -32602,
                  "Invalid params: _meta[\"io.modelcontextprotocol/clientCapabilities\"] must be an object");
  const std::string& body_version = v->get_ref<const std::string&>();

  if (h.count_protocol_version == 0) return mismatch("MCP-Protocol-Version header is required");
  if (h.count_protocol_version > 1) return mismatch("MCP-Protocol-Version header is repeated");
  if (trim(*h.protocol_version) != body_version)
    return mismatch("MCP-Protocol-Version header does not match _meta protocolVersion");
  if (body_version != kModernVersion) return unsupported_version(body_version);

  if (h.count_method > 1) return mismatch("Mcp-Method header is repeated");
  if (h.count_method == 0) {
    if (m.kind == RpcKind::kRequest) return mismatch("Mcp-Method header is required");
  } else if (trim(*h.method) != m.method) {
    return mismatch("Mcp-Method header does not match the body's method");
  }

  if (auto source = name_source(m, params)) {
    if (h.count_name > 1) return mismatch("Mcp-Name header is repeated");
    if (h.count_name == 0) {
      if (m.kind == RpcKind::kRequest) return mismatch("Mcp-Name header is required for " + m.method);
    } else {
      auto name = decode_header_value(*h.name);
      if (!name) return mismatch("Mcp-Name header has an invalid value");
      if (*name != *source) return mismatch("Mcp-Name header does not match the body");
    }
  }
  return check_params(h, m, params, input_schema);
}

std::optional<std::string> decode_header_value(std::string_view raw) {
  std::string_view v = trim(raw);
  if (is_sentinel(v)) {
    auto inner = v.substr(kSentinelOpen.size(), v.size() - kSentinelOpen.size() - kSentinelClose.size());
    // Standard base64 with its padding: SEP-2243's test cases reject "SGVsbG8"
    // (padding missing) as well as foreign characters.
    auto decoded = encoding::base64_decode(inner, {encoding::Base64Alphabet::kStandard, encoding::Base64Padding::kRequired});
    if (!decoded || !valid_utf8(*decoded)) return std::nullopt;
    return decoded;
  }
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u != '\t' && (u < 0x20 || u > 0x7E)) return std::nullopt;
  }
  return std::string(v);
}

std::string encode_header_value(std::string_view value) {
  if (plain_safe(value) && !is_sentinel(value)) return std::string(value);
  return std::string(kSentinelOpen) + encoding::base64_encode(value) + std::string(kSentinelClose);
}

std::optional<std::string> name_source(const RpcMessage& m, const nlohmann::json& params) {
  auto str = [&](const char* key) -> std::optional<std::string> {
    auto it = params.find(key);
    if (it == params.end() || !it->is_string()) return std::string();
    return it->get<std::string>();
  };
  if (m.method == "tools/call" || m.method == "prompts/get") return str("name");
  if (m.method == "resources/read") return str("uri");
  if (m.method == "tasks/get" || m.method == "tasks/update" || m.method == "tasks/cancel") return str("taskId");
  return std::nullopt;
}

bool x_mcp_headers(const nlohmann::json& input_schema, std::vector<ParamHeader>& out, std::string& why) {
  out.clear();
  std::vector<std::string> path;
  return walk_schema(input_schema, true, path, out, why);
}

std::vector<std::string> drop_invalid_tools(nlohmann::json& list_result) {
  std::vector<std::string> dropped;
  if (!list_result.is_object()) return dropped;
  auto tools = list_result.find("tools");
  if (tools == list_result.end() || !tools->is_array()) return dropped;
  json kept = json::array();
  for (auto& t : *tools) {
    std::vector<ParamHeader> headers;
    std::string why;
    auto schema = t.is_object() ? t.find("inputSchema") : t.end();
    if (t.is_object() && schema != t.end() && !x_mcp_headers(*schema, headers, why)) {
      dropped.push_back(t.value("name", std::string("?")) + ": " + why);
      continue;
    }
    kept.push_back(std::move(t));
  }
  *tools = std::move(kept);
  return dropped;
}

std::string with_result_type(std::string reply) {
  json m;
  if (!parse_json_strict(reply, m) || !m.is_object()) return reply;
  auto r = m.find("result");
  if (r == m.end() || !r->is_object() || r->contains("resultType")) return reply;
  (*r)["resultType"] = "complete";
  return m.dump();
}

bool make_private(nlohmann::json& result) {
  if (!result.is_object() || !result.contains("cacheScope")) return false;
  bool changed = result["cacheScope"] != "private" || result.value("ttlMs", json(0)) != 0;
  result["cacheScope"] = "private";
  result["ttlMs"] = 0;
  return changed;
}

}  // namespace portcullis::gateway::mcp2026
