#include "admin/admin_api.h"

#include <openssl/crypto.h>

#include <charconv>

#include "admin/util.h"
#include "admin/web_page.h"
#include "common/sha256.h"

namespace portcullis::admin {
namespace {

constexpr std::string_view kPrefix = "/admin/v1/";

AdminResponse json_response(int status, const nlohmann::json& body) {
  AdminResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

AdminResponse error(int status, std::string_view code, std::string_view message) {
  return json_response(status, {{"error", {{"code", code}, {"message", message}}}});
}

AdminResponse method_not_allowed(std::string_view allow) {
  AdminResponse r = error(405, "method_not_allowed", "method not allowed; use " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; '+' is a space only in query strings. nullopt on a bad
// escape or a decoded NUL.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return std::nullopt;
      out.push_back(d);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

const std::string* header(const AdminRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (detail::iequals(k, name)) return &v;
  return nullptr;
}

std::optional<std::array<unsigned char, 32>> decode_sha256_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  std::array<unsigned char, 32> out{};
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return out;
}

// Parses a JSON object body; an empty body is `{}` when `empty_ok`.
std::optional<nlohmann::json> parse_body(const std::string& body, bool empty_ok, AdminResponse& err) {
  if (body.size() > AdminApi::kMaxBody) {
    err = error(413, "payload_too_large", "request body over 64 KiB");
    return std::nullopt;
  }
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (empty_ok) return nlohmann::json::object();
    err = error(400, "bad_request", "expected a JSON object body");
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    err = error(400, "bad_request", "the body is not valid JSON");
    return std::nullopt;
  }
  if (!j.is_object()) {
    err = error(400, "bad_request", "expected a JSON object body");
    return std::nullopt;
  }
  return j;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name, bool& bad) {
  if (query.empty()) return std::nullopt;
  for (std::string_view kv : split(query, '&')) {
    auto eq = kv.find('=');
    std::string_view k = kv.substr(0, eq);
    if (k != name) continue;
    auto v = percent_decode(eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1), true);
    if (!v) {
      bad = true;
      return std::nullopt;
    }
    return v;
  }
  return std::nullopt;
}

AdminResponse static_page(std::string_view body, std::string_view content_type) {
  AdminResponse r;
  r.status = 200;
  r.content_type = std::string(content_type);
  r.body = std::string(body);
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                         "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
                         "form-action 'none'");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  return r;
}

}  // namespace

AdminApi::AdminApi(std::vector<config::AdminToken> tokens, KillSwitches& kill_switches, Approvals& approvals,
                   Inventory& inventory, AdminHooks hooks)
    : kill_switches_(kill_switches), approvals_(approvals), inventory_(inventory), hooks_(std::move(hooks)) {
  set_tokens(std::move(tokens));
}

void AdminApi::set_tokens(std::vector<config::AdminToken> tokens) {
  std::vector<Token> next;
  for (const auto& t : tokens) {
    Token k;
    k.name = t.name;
    if (auto h = decode_sha256_hex(t.sha256_hex)) {
      k.sha256 = *h;
      k.valid = true;
    }
    for (const auto& role : t.roles) {
      if (role == "viewer") k.viewer = true;
      else if (role == "operator") k.operator_ = true;
      else if (role == "approver") k.approver = true;
    }
    next.push_back(std::move(k));
  }
  std::lock_guard lock(tokens_mu_);
  tokens_ = std::move(next);
}

std::chrono::system_clock::time_point AdminApi::now() const {
  return hooks_.clock ? hooks_.clock() : std::chrono::system_clock::now();
}

std::optional<AdminApi::Caller> AdminApi::authenticate(const AdminRequest& request) const {
  const std::string* auth = header(request, "authorization");
  if (!auth) return std::nullopt;
  std::string_view v = *auth;
  if (v.size() < 7 || !detail::iequals(v.substr(0, 7), "bearer ")) return std::nullopt;
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty() || v.size() > 4096) return std::nullopt;
  const Sha256Digest md = sha256(v);
  std::lock_guard lock(tokens_mu_);
  // Compare against every token without stopping at a match, so that timing
  // says nothing about which (or whether a) token matched.
  const Token* found = nullptr;
  for (const Token& t : tokens_) {
    bool eq = t.valid && CRYPTO_memcmp(md.data(), t.sha256.data(), 32) == 0;
    if (eq && !found) found = &t;
  }
  if (!found) return std::nullopt;
  Caller c;
  c.name = found->name;
  c.operator_ = found->operator_;
  c.approver = found->approver;
  c.viewer = found->viewer || found->operator_ || found->approver;
  return c;
}

void AdminApi::audit(const Caller& caller, std::string_view action, std::string_view outcome,
                     nlohmann::json details) const {
  if (!hooks_.audit) return;
  nlohmann::json rec = {{"type", "admin_action"},
                        {"action", action},
                        {"admin", caller.name},
                        {"outcome", outcome},
                        {"time", detail::format_time(now())}};
  if (details.is_object())
    for (auto& [k, v] : details.items()) rec[k] = v;
  hooks_.audit(std::move(rec));
}

AdminResponse AdminApi::handle(const AdminRequest& request) const {
  std::string_view target = request.target;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);

  if (path == "/admin") {  // relative URLs in the page (app.js, API) need the slash
    AdminResponse r;
    r.status = 308;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "see /admin/\n";
    r.headers.emplace_back("Location", "/admin/");
    return r;
  }
  if (path == "/admin/" || path == "/admin/index.html" || path == "/admin/app.js") {
    if (request.method != "GET" && request.method != "HEAD") return method_not_allowed("GET");
    if (path == "/admin/app.js") return static_page(web_app_js(), "text/javascript; charset=utf-8");
    return static_page(web_index_html(), "text/html; charset=utf-8");
  }
  AdminResponse r;
  if (path.substr(0, kPrefix.size()) != kPrefix) {
    r = error(404, "not_found", "no such endpoint");
  } else {
    r = handle_v1(request, path.substr(kPrefix.size()), query);
  }
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

AdminResponse AdminApi::handle_v1(const AdminRequest& request, std::string_view path, std::string_view query) const {
  auto caller = authenticate(request);
  if (!caller) {
    bool sent = header(request, "authorization") != nullptr;
    AdminResponse r = error(401, "unauthorized", sent ? "unknown admin token" : "an admin bearer token is required");
    r.headers.emplace_back("WWW-Authenticate",
                           sent ? "Bearer realm=\"portcullis-admin\", error=\"invalid_token\""
                                : "Bearer realm=\"portcullis-admin\"");
    return r;
  }
  std::vector<std::string> seg;
  for (std::string_view s : split(path, '/')) {
    auto d = percent_decode(s, false);
    if (!d) return error(400, "bad_request", "bad percent-encoding in the path");
    seg.push_back(std::move(*d));
  }
  const std::string& m = request.method;
  auto need = [&](bool has, std::string_view role) -> std::optional<AdminResponse> {
    if (has) return std::nullopt;
    audit(*caller, "forbidden", "refused", {{"method", m}, {"path", std::string(path)}, {"required_role", role}});
    return error(403, "forbidden", "this admin token lacks the " + std::string(role) + " role");
  };
  auto empty_id = [&](const std::string& s) { return s.empty(); };

  if (seg.size() == 1 && seg[0] == "agents") {
    if (m != "GET") return method_not_allowed("GET");
    if (auto e = need(caller->viewer, "viewer")) return *e;
    nlohmann::json list = nlohmann::json::array();
    for (const auto& a : inventory_.list(&kill_switches_)) list.push_back(to_json(a));
    return json_response(200, {{"agents", list}, {"dropped_unregistered", inventory_.dropped_unregistered()}});
  }
  if (seg.size() == 1 && seg[0] == "kill") {
    if (m == "GET") {
      if (auto e = need(caller->viewer, "viewer")) return *e;
      nlohmann::json list = nlohmann::json::array();
      for (const auto& k : kill_switches_.list()) list.push_back(to_json(k));
      return json_response(200, {{"kill_switches", list}});
    }
    if (m != "POST") return method_not_allowed("GET, POST");
    if (auto e = need(caller->operator_, "operator")) return *e;
    return post_kill(*caller, request);
  }
  if (seg.size() == 2 && seg[0] == "kill" && !empty_id(seg[1])) {
    if (m != "DELETE") return method_not_allowed("DELETE");
    if (auto e = need(caller->operator_, "operator")) return *e;
    return delete_kill(*caller, seg[1]);
  }
  if (seg.size() == 1 && seg[0] == "approvals") {
    if (m != "GET") return method_not_allowed("GET");
    if (auto e = need(caller->viewer, "viewer")) return *e;
    nlohmann::json pending = nlohmann::json::array(), recent = nlohmann::json::array();
    for (const auto& p : approvals_.list()) pending.push_back(to_json(p));
    auto rec = approvals_.recent();
    // Newest first, at most 50: enough for the page, bounded for the wire.
    for (auto it = rec.rbegin(); it != rec.rend() && recent.size() < 50; ++it) recent.push_back(to_json(*it));
    return json_response(200, {{"approvals", pending}, {"recent", recent}});
  }
  if (seg.size() == 3 && seg[0] == "approvals" && !empty_id(seg[1]) && (seg[2] == "approve" || seg[2] == "deny")) {
    if (m != "POST") return method_not_allowed("POST");
    if (auto e = need(caller->approver, "approver")) return *e;
    return decide(*caller, request, seg[1], seg[2] == "approve");
  }
  if (seg.size() == 1 && seg[0] == "decisions") {
    if (m != "GET") return method_not_allowed("GET");
    if (auto e = need(caller->viewer, "viewer")) return *e;
    return get_decisions(query);
  }
  if (seg.size() == 1 && seg[0] == "reload") {
    if (m != "POST") return method_not_allowed("POST");
    if (auto e = need(caller->operator_, "operator")) return *e;
    return post_reload(*caller);
  }
  if (seg.size() == 3 && seg[0] == "credentials" && !empty_id(seg[1]) && seg[2] == "rotate") {
    if (m != "POST") return method_not_allowed("POST");
    if (auto e = need(caller->operator_, "operator")) return *e;
    return post_rotate(*caller, seg[1]);
  }
  if (seg.size() == 1 && seg[0] == "tools") {
    if (m != "GET") return method_not_allowed("GET");
    if (auto e = need(caller->viewer, "viewer")) return *e;
    if (!hooks_.tools) return error(404, "not_found", "no policy is loaded: there is no tool catalog");
    return json_response(200, hooks_.tools());
  }
  if (seg.size() == 4 && seg[0] == "tools" && !empty_id(seg[1]) && !empty_id(seg[2]) && seg[3] == "accept") {
    if (m != "POST") return method_not_allowed("POST");
    if (auto e = need(caller->operator_, "operator")) return *e;
    return post_accept_tool(*caller, request, seg[1], seg[2]);
  }
  return error(404, "not_found", "no such endpoint");
}

AdminResponse AdminApi::post_accept_tool(const Caller& caller, const AdminRequest& request, std::string_view upstream,
                                         std::string_view tool) const {
  if (!hooks_.accept_tool) return error(404, "not_found", "no policy is loaded: there is no tool catalog");
  AdminResponse err;
  auto body = parse_body(request.body, false, err);
  if (!body) return err;
  std::string fingerprint;
  for (auto& [key, value] : body->items()) {
    if (key != "fingerprint") return error(400, "bad_request", "unexpected key \"" + key + "\"; expected fingerprint");
    if (value.is_string()) fingerprint = value.get<std::string>();
  }
  bool hex = fingerprint.size() == 64 && fingerprint.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!hex) return error(400, "bad_request", "\"fingerprint\" must be 64 lowercase hex digits (GET /admin/v1/tools)");
  nlohmann::json details = {{"upstream", upstream}, {"tool", tool}, {"fingerprint", fingerprint}};
  auto res = hooks_.accept_tool(upstream, tool, fingerprint);
  if (!res) {
    details["error"] = res.error().message;
    audit(caller, "accept_tool", "failed", details);
    if (res.error().message.rfind("unknown upstream", 0) == 0) return error(404, "not_found", res.error().message);
    return error(500, "not_persisted", res.error().message);
  }
  details["released"] = res->value("released", false);
  audit(caller, "accept_tool", "ok", details);
  return json_response(200, *res);
}

AdminResponse AdminApi::post_kill(const Caller& caller, const AdminRequest& request) const {
  AdminResponse err;
  auto body = parse_body(request.body, false, err);
  if (!body) return err;
  std::optional<KillKind> kind;
  std::string target, reason;
  for (auto& [key, value] : body->items()) {
    if (key == "reason") {
      if (!value.is_string()) return error(400, "bad_request", "\"reason\" must be a string");
      reason = value.get<std::string>();
      continue;
    }
    auto k = parse_kill_kind(key);
    if (!k) return error(400, "bad_request", "unknown key \"" + key + "\"; expected one of agent, owner, user, token, "
                                             "upstream, tool, all, reason");
    if (kind) return error(400, "bad_request", "name exactly one of agent, owner, user, token, upstream, tool, all");
    if (*k == KillKind::kAll) {
      if (!value.is_boolean() || !value.get<bool>()) return error(400, "bad_request", "\"all\" must be true");
    } else {
      if (!value.is_string() || value.get<std::string>().empty())
        return error(400, "bad_request", "\"" + key + "\" must be a non-empty string");
      target = value.get<std::string>();
    }
    kind = *k;
  }
  if (!kind) return error(400, "bad_request", "name one of agent, owner, user, token, upstream, tool, all");
  auto res = kill_switches_.engage(*kind, target, reason, caller.name, now());
  if (!res) {
    audit(caller, "kill", "failed", {{"kind", kill_kind_name(*kind)}, {"target", target}, {"error", res.error().message}});
    return error(400, "bad_request", res.error().message);
  }
  std::size_t killed_held = res->created ? approvals_.kill_matching(res->kill_switch) : 0;
  nlohmann::json j = to_json(res->kill_switch);
  j["persisted"] = res->persisted;
  if (!res->persisted) j["warning"] = "in effect, but not persisted (a restart would lose it): " + res->error;
  j["shared"] = res->shared;
  if (!res->shared)
    j["share_warning"] = "in force on this replica; the others learn of it when the shared state is reachable "
                         "again: " + res->share_error;
  if (!res->created) j["already_engaged"] = true;
  audit(caller, "kill", res->created ? "ok" : "exists",
        {{"kill_switch", to_json(res->kill_switch)}, {"persisted", res->persisted}, {"held_calls_killed", killed_held}});
  return json_response(res->created ? 201 : 200, j);
}

AdminResponse AdminApi::delete_kill(const Caller& caller, std::string_view id) const {
  auto res = kill_switches_.lift(id);
  if (!res) return error(404, "not_found", "no kill switch with id " + std::string(id));
  nlohmann::json j = to_json(res->kill_switch);
  j["lifted"] = true;
  j["persisted"] = res->persisted;
  if (!res->persisted) j["warning"] = "lifted now, but a restart would engage it again: " + res->error;
  j["shared"] = res->shared;
  if (!res->shared)
    j["share_warning"] = "lifted on this replica; the others lift it when the shared state is reachable again: " + res->share_error;
  audit(caller, "lift", "ok", {{"kill_switch", to_json(res->kill_switch)}, {"persisted", res->persisted}});
  return json_response(200, j);
}

AdminResponse AdminApi::decide(const Caller& caller, const AdminRequest& request, std::string_view id,
                               bool approve) const {
  AdminResponse err;
  auto body = parse_body(request.body, true, err);
  if (!body) return err;
  std::optional<std::string> expected_hash;
  std::string reason;
  for (auto& [key, value] : body->items()) {
    if (key == "arguments_hash" && value.is_string()) expected_hash = value.get<std::string>();
    else if (key == "reason" && value.is_string()) reason = value.get<std::string>();
    else return error(400, "bad_request", "unexpected key \"" + key + "\"; expected arguments_hash, reason");
  }
  if (reason.size() > KillSwitches::kMaxField) return error(400, "bad_request", "reason is longer than 1024 bytes");
  const char* action = approve ? "approve" : "deny";
  auto res = approve ? approvals_.approve(id, caller.name, caller.name,
                                          expected_hash ? std::optional<std::string_view>(*expected_hash) : std::nullopt,
                                          now())
                     : approvals_.deny(id, caller.name, reason, now());
  if (!res) {
    const ApprovalError& e = res.error();
    int status = 409;
    std::string code = "conflict";
    switch (e.code) {
      case ApprovalError::Code::kNotFound: status = 404; code = "not_found"; break;
      case ApprovalError::Code::kAlreadyResolved: status = 409; code = "already_resolved"; break;
      case ApprovalError::Code::kSelfApproval: status = 403; code = "self_approval"; break;
      case ApprovalError::Code::kHashMismatch: status = 409; code = "arguments_changed"; break;
      case ApprovalError::Code::kUnavailable: status = 503; code = "state_unavailable"; break;
    }
    if (status != 404) audit(caller, action, "refused", {{"approval_id", id}, {"error", code}});
    return error(status, code, e.message);
  }
  audit(caller, action, "ok", {{"approval", to_json(*res)}});
  return json_response(200, to_json(*res));
}

AdminResponse AdminApi::get_decisions(std::string_view query) const {
  bool bad = false;
  auto agent = query_param(query, "agent", bad);
  auto limit_s = query_param(query, "limit", bad);
  if (bad) return error(400, "bad_request", "bad percent-encoding in the query");
  std::size_t limit = 50;
  if (limit_s) {
    unsigned long v = 0;
    auto [p, ec] = std::from_chars(limit_s->data(), limit_s->data() + limit_s->size(), v);
    if (ec != std::errc() || p != limit_s->data() + limit_s->size() || v < 1 || v > 1000)
      return error(400, "bad_request", "limit must be an integer from 1 to 1000");
    limit = v;
  }
  if (!hooks_.decisions) return error(501, "not_implemented", "decision records are not available");
  nlohmann::json list = hooks_.decisions(agent ? *agent : std::string(), limit);
  if (!list.is_array()) list = nlohmann::json::array();
  return json_response(200, {{"decisions", list}});
}

AdminResponse AdminApi::post_reload(const Caller& caller) const {
  if (!hooks_.reload) return error(501, "not_implemented", "reload is not available");
  auto res = hooks_.reload();
  if (!res) {
    audit(caller, "reload", "failed", {{"error", res.error().message}});
    return error(409, "reload_rejected", res.error().message + " (the previous configuration keeps serving)");
  }
  audit(caller, "reload", "ok", {{"result", *res}});
  return json_response(200, {{"reloaded", true}, {"result", *res}});
}

AdminResponse AdminApi::post_rotate(const Caller& caller, std::string_view provider) const {
  if (!hooks_.rotate) return error(501, "not_implemented", "credential rotation is not available");
  auto res = hooks_.rotate(provider);
  if (!res) {
    const std::string& msg = res.error().message;
    audit(caller, "rotate", "failed", {{"provider", provider}, {"error", msg}});
    if (msg.rfind("unknown provider", 0) == 0) return error(404, "not_found", msg);
    return error(502, "rotation_failed", msg);
  }
  audit(caller, "rotate", "ok", {{"provider", provider}});
  return json_response(200, {{"rotated", true}, {"provider", provider}, {"result", *res}});
}

}  // namespace portcullis::admin
