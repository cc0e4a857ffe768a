// One downstream connection: read a request within size and time limits,
// route it, check the transport rules, parse the JSON-RPC body once, and hand
// it to forward(). Every local reply is a JSON-RPC error body with the right
// HTTP status.
#include <openssl/crypto.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#include "gateway/await_callback.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/held_progress.h"
#include "gateway/http_fields.h"
#include "gateway/http_rules.h"
#include "gateway/kill_message.h"
#include "gateway/legacy_sse.h"
#include "gateway/log.h"
#include "gateway/mcp2026.h"
#include "admin/kill_switch.h"
#include "gateway/policy_stage.h"
#include "gateway/shared_state_status.h"
#include "gateway/sse_parser.h"
#include "audit/record.h"
#include "identity/auth_error.h"
#include "identity/resource_metadata.h"

namespace portcullis::gateway {
namespace {

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

// The request-metadata headers of protocol revision 2026-07-28 as received.
mcp2026::MirroredHeaders mirrored_headers(const http::fields& f) {
  mcp2026::MirroredHeaders h;
  constexpr std::string_view kParam = "mcp-param-";
  for (const auto& field : f) {
    std::string_view name(field.name_string().data(), field.name_string().size());
    std::string value(field.value());
    if (beast::iequals(name, "MCP-Protocol-Version")) {
      ++h.count_protocol_version;
      h.protocol_version = std::move(value);
    } else if (beast::iequals(name, "Mcp-Method")) {
      ++h.count_method;
      h.method = std::move(value);
    } else if (beast::iequals(name, "Mcp-Name")) {
      ++h.count_name;
      h.name = std::move(value);
    } else if (name.size() > kParam.size() && beast::iequals(name.substr(0, kParam.size()), kParam)) {
      h.params.emplace_back(std::string(name.substr(kParam.size())), std::move(value));
    }
  }
  return h;
}

bool has_body(const http::request_parser<http::empty_body>& p) {
  return p.chunked() || (p.content_length() && *p.content_length() > 0);
}

void access_log(const RequestContext& ctx, std::string_view path) {
  if (!log::enabled(log::Level::kInfo)) return;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - ctx.start).count();
  nlohmann::json f = {{"request_id", ctx.request_id}, {"method", ctx.http_method},
                      {"path", std::string(path)},
                      {"status", ctx.status}, {"duration_us", us}};
  if (ctx.upstream) f["upstream"] = ctx.upstream->name;
  if (!ctx.protocol_version.empty()) f["protocol_version"] = ctx.protocol_version;
  if (!ctx.rpc.messages.empty()) {
    const auto& m = ctx.rpc.messages.front();
    if (!m.method.empty()) f["rpc_method"] = m.method;
    if (!m.target.empty()) f["rpc_target"] = m.target;
  }
  log::info("request", std::move(f));
}

audit::DecisionFacts decision_facts(const RequestContext& ctx, const Runtime& rt) {
  audit::DecisionFacts f;
  f.config_revision = rt.config->revision;
  f.upstream = ctx.upstream->name;
  if (ctx.principal) {
    const auto& p = *ctx.principal;
    f.agent = p.agent_id;
    f.owner = p.agent ? p.agent->owner : std::string();
    f.user = p.user;
    f.issuer = p.issuer;
    f.token_id = p.token_id;
  } else {
    f.agent = "anonymous";
  }
  f.latency = std::chrono::steady_clock::now() - ctx.start;
  return f;
}

// A call without `arguments` is recorded and shown with an empty object.
const nlohmann::json kNoArguments = nlohmann::json::object();

// What a decision record reads as the call's arguments: a node of the parsed
// body (valid while the request's context lives), never a copy.
const nlohmann::json* arguments_of(const RpcMessage& m) { return m.arguments ? m.arguments : &kNoArguments; }

// Appends one decision record per decided call and resolves once every one
// is durable (true) or any failed (false). No record, no forward.
Awaitable<bool> record_decisions(const RequestContext& ctx, const Runtime& rt) {
  auto* log = rt.audit;
  std::vector<audit::Record> records;
  for (const auto& d : ctx.decisions) {
    const auto& m = ctx.rpc.messages[d.message];
    auto f = decision_facts(ctx, rt);
    f.decision_id = d.decision_id;
    f.decision = d.decision.effect == policy::Effect::kAllow             ? "allow"
                 : d.decision.effect == policy::Effect::kRequireApproval ? "held"
                                                                          : "deny";
    f.policy_version = d.decision.policy_version;
    f.policy_revision = d.decision.policy_revision;
    f.shadow = d.decision.shadow;
    f.method = m.method;
    f.jsonrpc_id = m.id.dump();
    f.tool = d.target.empty() ? m.target : d.target;
    if (rt.policy_state)
      if (auto info = rt.policy_state->catalog.find(ctx.upstream->name, f.tool)) f.tool_fingerprint = info->pinned_fingerprint;
    f.action = d.decision.action;
    f.sensitivity = d.decision.sensitivity;
    f.arguments_ref = arguments_of(m);
    f.rules = d.decision.rules;
    f.reason = d.hidden ? "tool not visible to this agent" : d.decision.reason;
    f.credential_kind = ctx.upstream->credential.empty() ? "none" : ctx.upstream->credential;
    records.push_back(audit::make_decision_record(f, log->hasher()));
  }
  if (records.empty()) co_return true;
  // Named before the co_await: GCC 12 destroys a lambda temporary with
  // non-trivial captures twice when it sits inside a co_await expression.
  // By reference: `records` lives in this coroutine's frame until it resumes.
  auto start = [log, &records](auto done) mutable {
    if (records.size() == 1) {  // one call per POST, the common case: no join
      log->append(std::move(records.front()), [done = std::move(done)](const audit::AuditStatus& st) mutable {
        done(st.ok());
      });
      return;
    }
    struct Join {
      std::size_t left = 0;
      bool ok = true;
      std::mutex mu;
      std::function<void(bool)> cb;
    };
    auto j = std::make_shared<Join>();
    j->left = records.size();
    j->cb = std::move(done);
    for (auto& r : records)
      log->append(std::move(r), [j](const audit::AuditStatus& st) {
        std::unique_lock lk(j->mu);
        if (!st.ok()) j->ok = false;
        if (--j->left == 0) {
          bool ok = j->ok;
          lk.unlock();
          j->cb(ok);
        }
      });
  };
  co_return co_await await_callback<bool>(std::move(start));
}

void record_outcome(const RequestContext& ctx, const Runtime& rt) {
  if (!rt.audit) return;
  for (const auto& d : ctx.decisions) {
    if (d.decision.effect != policy::Effect::kAllow) continue;
    audit::OutcomeFacts o;
    o.decision_id = d.decision_id;
    o.http_status = static_cast<int>(ctx.upstream_status);
    o.status = ctx.error_class.empty() ? "ok" : ctx.error_class == "cancelled" ? "cancelled" : "error";
    o.error_class = ctx.error_class;
    o.result_bytes = ctx.result_bytes;
    if (ctx.forwarded_at.time_since_epoch().count())
      o.upstream_latency = std::chrono::steady_clock::now() - ctx.forwarded_at;
    rt.audit->append_background(audit::make_outcome_record(o));  // nobody waits on an outcome
  }
}

void log_decisions(const RequestContext& ctx, admin::Metrics* metrics) {
  for (const auto& d : ctx.decisions) {
    if (metrics) {
      metrics->decision(policy::effect_name(d.decision.effect), d.decision.rules.empty() ? "" : d.decision.rules.front());
      metrics->policy_latency(static_cast<double>(d.decision.eval_ns) / 1e9);
    }
    const auto& m = ctx.rpc.messages[d.message];
    std::string rules;
    for (const auto& r : d.decision.rules) rules += (rules.empty() ? "" : ",") + r;
    log::info("decision", {{"request_id", ctx.request_id}, {"decision_id", d.decision_id},
                           {"agent", ctx.principal ? ctx.principal->agent_id : std::string("anonymous")},
                           {"upstream", ctx.upstream->name}, {"method", m.method},
                           {"target", d.target.empty() ? m.target : d.target},
                           {"effect", std::string(policy::effect_name(d.decision.effect))},
                           {"hidden", d.hidden}, {"rules", rules}, {"reason", d.decision.reason},
                           {"policy_version", d.decision.policy_version}, {"eval_ns", d.decision.eval_ns}});
  }
}

// A tools/call answer with isError, naming the decision (for held calls).
std::string refusal_json(const RequestContext& ctx, const CallDecision& d, const std::string& why) {
  const auto& m = ctx.rpc.messages[d.message];
  std::string rules;
  for (const auto& r : d.decision.rules) rules += (rules.empty() ? "" : ", ") + r;
  std::string text = why + " (rule: " + rules + "; decision " + d.decision_id + ")";
  nlohmann::json j = {{"jsonrpc", "2.0"}, {"id", m.id},
                      {"result", {{"content", nlohmann::json::array({{{"type", "text"}, {"text", text}}})},
                                  {"isError", true}}}};
  return j.dump();
}

// A held call's outcome, handed from the resolving thread to the
// connection's executor: set, then `wake` cancelled (its waiter resumes).
struct HeldWait {
  std::optional<admin::ApprovalOutcome> outcome;
  std::unique_ptr<net::steady_timer> wake;
};

class Session {
 public:
  Session(Worker& w, AnyStream&& s) : c_(w, std::move(s)) {}

  Awaitable<void> run();

 private:
  Awaitable<bool> handle(http::request_parser<http::empty_body>& hp);
  Awaitable<bool> handle_mcp(http::request_parser<http::empty_body>& hp, RequestContext& ctx);
  Awaitable<bool> send_killed(RequestContext& ctx, const admin::KillSwitch& ks);
  Awaitable<bool> send_refusal(RequestContext& ctx, const mcp2026::Refusal& r);
  // After the decision records could not be written: true under
  // on_failure: fail_open (and said loudly), false to refuse.
  bool go_on_without_record(const RequestContext& ctx);
  // The policy stage; with limits shared by several replicas, the limits the
  // engine meets are counted in the shared store (one round trip) or, while
  // it is unreachable, by this replica alone.
  Awaitable<DecideResult> decide(const policy::PolicySnapshot& snapshot, RequestContext& ctx);
  // on_exceed: suspend_agent: engage the agent's kill switch (off the I/O
  // thread: it writes the state file).
  void suspend_if_asked(const RequestContext& ctx);
  // Holds a require_approval call until it is approved (nullopt: forward) or
  // not (the JSON-RPC answer to send). The client going away cancels it.
  Awaitable<std::optional<std::string>> hold_for_approval(RequestContext& ctx);
  // Waits for the held call's outcome (true); with a stream open (or, on a
  // legacy route, into the agent's GET stream), writes a keepalive comment
  // (and progress) every `interval` meanwhile. False: the client can no
  // longer be written to.
  Awaitable<bool> keep_held(RequestContext& ctx, std::shared_ptr<HeldWait> wait, std::string approval_id,
                            std::chrono::milliseconds interval);
  // The 200 text/event-stream header of a held call's answer.
  Awaitable<bool> start_event_stream(RequestContext& ctx);
  // Authenticate: the bearer token -> ctx.principal, else a 401/403/503 reply.
  Awaitable<bool> authenticate(const http::request_header<>& h, RequestContext& ctx, bool& replied);
  Conn c_;
};

Awaitable<void> Session::run() {
  auto& w = c_.worker;
  auto tracked = w.track(&c_.stream.tcp().socket());
  w.state().active_connections++;
  struct Untrack {
    Worker& w;
    std::list<Worker::ConnHandle>::iterator it;
    ~Untrack() {
      w.untrack(it);
      w.state().active_connections--;
    }
  } untrack{w, tracked};

  const auto& server = w.runtime()->config->server;
  if (auto* tls = c_.stream.tls()) {
    c_.stream.tcp().expires_after(server.header_timeout);
    auto [ec] = co_await tls->async_handshake(ssl::stream_base::server, kNoThrow);
    if (ec) co_return;
  }

  for (;;) {
    tracked->idle = true;
    if (w.state().draining) break;
    const auto& srv = w.runtime()->config->server;
    if (c_.buffer.size() == 0) {
      c_.stream.tcp().expires_after(srv.idle_timeout);
      // Small first read: an idle keep-alive connection should cost little.
      auto [ec, n] = co_await c_.stream.visit(
          [&](auto& s) { return s.async_read_some(c_.buffer.prepare(1024), kNoThrow); });
      if (ec) break;
      c_.buffer.commit(n);
    }
    tracked->idle = false;
    // The whole header must arrive within header_timeout (slowloris).
    c_.stream.tcp().expires_after(srv.header_timeout);
    http::request_parser<http::empty_body> hp;
    hp.header_limit(static_cast<std::uint32_t>(srv.max_header_bytes));
    auto [ec, n] = co_await c_.stream.visit(
        [&](auto& s) { return http::async_read_header(s, c_.buffer, hp, kNoThrow); });
    if (ec) {
      RequestContext ctx;
      ctx.request_id = w.next_request_id();
      if (ec == http::error::header_limit) {
        co_await send_rpc_error(c_, ctx, 431, nullptr, kBadRequest, "Request header fields too large", false);
      } else if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != net::error::eof &&
                 ec != net::error::connection_reset && ec != net::error::operation_aborted &&
                 ec.category() == make_error_code(http::error::end_of_stream).category()) {
        co_await send_rpc_error(c_, ctx, 400, nullptr, kBadRequest, "Malformed HTTP request", false);
      }
      break;
    }
    if (!co_await handle(hp)) break;
    if (c_.buffer.size() == 0) c_.buffer.shrink_to_fit();  // give idle connections' memory back
  }
  error_code ignored;
  if (auto* tls = c_.stream.tls()) {
    c_.stream.tcp().expires_after(1s);
    co_await tls->async_shutdown(kNoThrow);
  }
  c_.stream.tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
  // Lingering close (as nginx does): read and drop what the client is still
  // sending (the rest of a refused 413 body), so that it reads our answer
  // instead of a connection reset. Bounded in time and bytes.
  if (c_.stream.tcp().socket().is_open() && !c_.stream.tls()) {
    std::size_t drained = 0;
    char sink[4096];
    c_.stream.tcp().expires_after(2s);
    while (drained < (4u << 20)) {
      auto [ec, n] = co_await c_.stream.tcp().async_read_some(net::buffer(sink), kNoThrow);
      if (ec) break;
      drained += n;
    }
  }
  c_.stream.tcp().close();
}

Awaitable<bool> Session::handle(http::request_parser<http::empty_body>& hp) {
  auto& w = c_.worker;
  c_.runtime = w.runtime();
  const auto& cfg = *c_.runtime->config;
  const auto& h = hp.get();
  RequestContext ctx;
  ctx.request_id = w.next_request_id();
  ctx.start = std::chrono::steady_clock::now();
  ctx.http_method = std::string(h.method_string());
  // A body we do not read poisons the connection: close after early replies.
  ctx.keep_alive = h.keep_alive() && !has_body(hp) && !w.state().draining;
  w.state().requests++;

  // Copied: the header moves into the body parser during the request.
  const std::string path(target_path(std::string_view(h.target().data(), h.target().size())));
  bool ok = true;

  if (path == "/healthz") {
    nlohmann::json body = nlohmann::json::object();
    body["status"] = std::string("ok");
    ok = co_await send_json(c_, ctx, 200, body, ctx.keep_alive);
    ctx.status = 200;
  } else if (path == "/readyz") {
    const auto& rt = *c_.runtime;
    bool keys = !rt.verifier || rt.verifier->ready();
    bool audit_ok = !rt.audit || rt.audit->healthy();
    bool shared_ok = !rt.state || !rt.state->shared() || rt.state->reachable();
    bool ready = !w.state().draining && keys && audit_ok && shared_ok;
    nlohmann::json body = nlohmann::json::object();
    body["status"] = std::string(ready ? "ready" : "not ready");
    body["draining"] = w.state().draining.load();
    body["keys_fetched"] = keys;
    body["audit_writable"] = audit_ok;
    if (rt.state && rt.state->shared()) body["shared_state"] = shared_state_status(*rt.state, *rt.kills);
    body["config_revision"] = cfg.revision;
    ctx.status = ready ? 200 : 503;
    ok = co_await send_json(c_, ctx, ctx.status, body, ctx.keep_alive);
  } else if (path == "/metrics" && c_.runtime->metrics) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.keep_alive(ctx.keep_alive);
    res.body() = c_.runtime->metrics->render();
    ctx.status = 200;
    ok = co_await send_response(c_, res);
  } else if (path == "/.well-known/jwks.json") {
    // Public keys of signed_jwt providers, for upstreams to verify our tokens.
    auto jwks = c_.runtime->credentials ? nlohmann::json::parse(c_.runtime->credentials->jwks_json())
                                        : nlohmann::json{{"keys", nlohmann::json::array()}};
    ctx.status = 200;
    ok = co_await send_json(c_, ctx, 200, jwks, ctx.keep_alive);
  } else if (path.rfind("/.well-known/oauth-protected-resource", 0) == 0) {
    // RFC 9728 metadata, per route, without a token.
    std::string route = path.substr(std::string_view("/.well-known/oauth-protected-resource").size());
    const auto* up = route.empty() && cfg.upstreams.size() == 1 ? &cfg.upstreams[0] : cfg.upstream_by_path(route);
    if (!up || up->auth_none || !cfg.identity.enabled()) {
      ok = co_await send_rpc_error(c_, ctx, 404, nullptr, kBadRequest, "Not found", ctx.keep_alive);
    } else {
      std::vector<std::string> issuers;
      for (const auto& i : cfg.identity.issuers) issuers.push_back(i.issuer);
      auto doc = nlohmann::json::parse(identity::protected_resource_metadata(
          identity::resource_uri(cfg.server.public_url, up->path), issuers, cfg.identity.required_scopes));
      ctx.status = 200;
      ok = co_await send_json(c_, ctx, 200, doc, ctx.keep_alive);
    }
  } else if (auto legacy = match_legacy_route(cfg, path)) {
    ctx.upstream = legacy->upstream;
    ctx.legacy = LegacyRequest{legacy->path, std::nullopt};
    ok = co_await handle_mcp(hp, ctx);
  } else if (const auto* up = cfg.upstream_by_path(path)) {
    ctx.upstream = up;
    ok = co_await handle_mcp(hp, ctx);
  } else {
    ok = co_await send_rpc_error(c_, ctx, 404, nullptr, kBadRequest, "Not found: no route for this path",
                                 ctx.keep_alive);
  }
  access_log(ctx, path);
  if (auto* m = c_.runtime->metrics) {
    std::string_view rpc = ctx.rpc.messages.empty() ? std::string_view() : std::string_view(ctx.rpc.messages[0].method);
    m->request(ctx.upstream ? std::string_view(ctx.upstream->name) : std::string_view(), rpc,
               static_cast<int>(ctx.status),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.start).count());
  }
  co_return ok && ctx.keep_alive;
}

Awaitable<bool> Session::handle_mcp(http::request_parser<http::empty_body>& hp, RequestContext& ctx) {
  const auto& cfg = *c_.runtime->config;
  const auto& h = hp.get();
  std::string_view target(h.target().data(), h.target().size());

  // DNS-rebinding protection: a present Origin must be allowed (403).
  if (!origin_allowed(header(h, "Origin"), cfg.server.allowed_origins))
    co_return co_await send_rpc_error(c_, ctx, 403, nullptr, kForbidden, "Forbidden: Origin not allowed",
                                      ctx.keep_alive);
  if (query_has_access_token(target)) {
    Headers challenge{{std::string("WWW-Authenticate"), std::string("Bearer error=\"invalid_request\"")}};
    co_return co_await send_rpc_error(c_, ctx, 401, nullptr, kUnauthorized,
                                      "Access tokens are not accepted in the query string", ctx.keep_alive,
                                      challenge);
  }

  auto verb = h.method();
  if (verb != http::verb::post && verb != http::verb::get && verb != http::verb::delete_) {
    Headers allow{{std::string("Allow"), std::string("GET, POST, DELETE")}};
    co_return co_await send_rpc_error(c_, ctx, 405, nullptr, kBadRequest, "Method not allowed", ctx.keep_alive,
                                      allow);
  }
  if (ctx.legacy) {
    bool replied = false;
    bool alive = co_await legacy_refuse(c_, ctx, h, replied);
    if (replied) co_return alive;
  }

  if (!ctx.upstream->auth_none) {
    bool replied = false;
    bool alive = co_await authenticate(h, ctx, replied);
    if (replied) co_return alive;
  }

  if (auto ks = c_.runtime->kills->match(ctx.principal.get(), ctx.upstream->name, "")) {
    if (ctx.principal) c_.runtime->inventory->record_request(*ctx.principal, true);
    co_return co_await send_killed(ctx, *ks);
  }

  std::string version = header(h, "MCP-Protocol-Version");
  // 2026-07-28 is stateless: no GET stream, no DELETE, no session (the id is
  // ignored, never opened or minted).
  const bool modern_header = mcp2026::is_modern_version(version);
  if (modern_header && verb != http::verb::post) {
    Headers allow{{std::string("Allow"), std::string("POST")}};
    co_return co_await send_rpc_error(c_, ctx, 405, nullptr, kBadRequest,
                                      "Method not allowed: protocol revision 2026-07-28 has no GET stream and no "
                                      "sessions; send each request as a POST",
                                      ctx.keep_alive, allow);
  }
  // A POST's revision is judged once its body is parsed: a modern body
  // carries its own in _meta and gets the modern error (-32022).
  if (verb != http::verb::post && !version.empty() && !is_supported_protocol_version(version))
    co_return co_await send_rpc_error(c_, ctx, 400, nullptr, kBadRequest,
                                      "Bad Request: Unsupported protocol version: " + version.substr(0, 64),
                                      ctx.keep_alive);

  std::string sid = modern_header ? std::string() : header(h, "Mcp-Session-Id");
  if (!sid.empty()) {
    auto claims = c_.runtime->sealer->open(
        sid, std::chrono::duration_cast<std::chrono::seconds>(cfg.server.session_ttl), unix_now());
    // Unknown, forged, expired, other route, or other identity: all 404, so
    // a client re-initializes and nothing tells a prober which it was.
    if (!claims || claims->upstream != ctx.upstream->name || claims->principal != ctx.principal_key)
      co_return co_await send_rpc_error(c_, ctx, 404, nullptr, kSessionNotFound, "Session not found",
                                        ctx.keep_alive);
    ctx.session = std::move(claims.value());
  }
  ctx.protocol_version = !version.empty() ? version
                         : ctx.session && !ctx.session->protocol_version.empty()
                             ? ctx.session->protocol_version
                             : std::string(kDefaultProtocolVersion);
  if (ctx.legacy) {
    bool replied = false;
    bool alive = co_await legacy_admit(c_, ctx, h, replied);
    if (replied) co_return alive;
  }

  if (verb == http::verb::get) {
    if (!get_accept_ok(header(h, "Accept")))
      co_return co_await send_rpc_error(c_, ctx, 406, nullptr, kBadRequest,
                                        "Not Acceptable: Client must accept text/event-stream", ctx.keep_alive);
  }

  if (verb == http::verb::post) {
    if (!is_json_content_type(header(h, "Content-Type")))
      co_return co_await send_rpc_error(c_, ctx, 415, nullptr, kBadRequest,
                                        "Unsupported Media Type: Content-Type must be application/json",
                                        ctx.keep_alive);
    if (!ctx.legacy && !post_accept_ok(header(h, "Accept")))  // 2024-11-05 asks nothing of Accept
      co_return co_await send_rpc_error(
          c_, ctx, 406, nullptr, kBadRequest,
          "Not Acceptable: Client must accept both application/json and text/event-stream", ctx.keep_alive);
  }

  // Read the body within max_body (413) and the header timeout's sibling.
  http::request_parser<http::string_body> p(std::move(hp));
  p.body_limit(cfg.server.max_body);
  if (p.content_length() && *p.content_length() > cfg.server.max_body) {
    ctx.keep_alive = false;
    co_return co_await send_rpc_error(c_, ctx, 413, nullptr, kBadRequest, "Payload too large", false);
  }
  c_.stream.tcp().expires_after(cfg.upstream_by_name(ctx.upstream->name)->timeouts.request);
  auto [ec, n] = co_await c_.stream.visit([&](auto& s) { return http::async_read(s, c_.buffer, p, kNoThrow); });
  if (ec == http::error::body_limit) {
    ctx.keep_alive = false;
    co_return co_await send_rpc_error(c_, ctx, 413, nullptr, kBadRequest, "Payload too large", false);
  }
  if (ec) co_return false;
  ctx.keep_alive = p.get().keep_alive() && !c_.worker.state().draining;
  Request req = p.release();

  if (verb == http::verb::post) {
    auto parsed = parse_rpc_body(req.body(), ctx.protocol_version == "2025-03-26");
    if (!parsed) {
      const auto& e = parsed.error();
      co_return co_await send_rpc_error(c_, ctx, e.http_status, nullptr, e.code, e.message, ctx.keep_alive);
    }
    ctx.rpc = std::move(parsed.value());
    auto mirrored = mirrored_headers(req);
    if (mcp2026::is_modern_request(ctx.rpc, mirrored)) {
      // Decided on the body; the headers must agree with it (-32020).
      const auto& m = ctx.rpc.messages.front();
      policy::ToolInfoPtr tool;
      if (m.method == "tools/call" && c_.runtime->policy_state)
        tool = c_.runtime->policy_state->catalog.find(ctx.upstream->name, m.target);
      const nlohmann::json* schema = tool && !tool->input_schema.is_null() ? &tool->input_schema : nullptr;
      if (auto refusal = mcp2026::check_modern_request(ctx.rpc, mirrored, schema))
        co_return co_await send_refusal(ctx, *refusal);
      ctx.modern = true;
      ctx.protocol_version = std::string(mcp2026::kModernVersion);
      ctx.session.reset();
    } else if (!version.empty() && !is_supported_protocol_version(version)) {
      co_return co_await send_rpc_error(c_, ctx, 400, nullptr, kBadRequest,
                                        "Bad Request: Unsupported protocol version: " + version.substr(0, 64),
                                        ctx.keep_alive);
    }
    for (const auto& m : ctx.rpc.messages) {
      if (m.method != "tools/call") continue;
      if (auto ks = c_.runtime->kills->match(ctx.principal.get(), ctx.upstream->name, m.target)) {
        if (ctx.principal) c_.runtime->inventory->record_request(*ctx.principal, true);
        co_return co_await send_killed(ctx, *ks);
      }
    }
    if (const auto& snapshot = c_.runtime->policy) {
      auto decided = co_await decide(*snapshot, ctx);
      ctx.decisions = std::move(decided.decisions);
      log_decisions(ctx, c_.runtime->metrics);
      suspend_if_asked(ctx);
      bool durable = co_await record_decisions(ctx, *c_.runtime);
      if (!durable && !go_on_without_record(ctx))
        co_return co_await send_rpc_error(c_, ctx, 503, ctx.rpc.first_id(), kAuditUnavailable,
                                          "Service unavailable: the decision record cannot be written",
                                          ctx.keep_alive);
      if (ctx.principal) c_.runtime->inventory->record_request(*ctx.principal, !decided.forward);
      if (!decided.forward && decided.hold) {
        auto held = co_await hold_for_approval(ctx);
        if (held.has_value()) {
          if (held->empty()) co_return false;  // the client went away while held
          if (ctx.legacy) co_return co_await legacy_reply(c_, ctx, std::move(*held));
          if (ctx.stream_open) {
            // Named: a temporary std::string inside a co_await expression is
            // what GCC 12 mishandles (see await_callback.h).
            std::string event = sse_message(ctx.modern ? mcp2026::with_result_type(std::move(*held)) : std::move(*held));
            co_return co_await end_event_stream(c_, ctx, event);
          }
          ctx.status = 200;
          http::response<http::string_body> res{http::status::ok, 11};
          res.set(http::field::content_type, "application/json");
          res.set("X-Request-Id", ctx.request_id);
          res.keep_alive(ctx.keep_alive);
          res.body() = ctx.modern ? mcp2026::with_result_type(std::move(*held)) : std::move(*held);
          bool sent = co_await send_response(c_, res);
          co_return sent && ctx.keep_alive;
        }
        decided.forward = true;  // approved: on to the upstream
      }
      if (!decided.forward) {
        if (ctx.legacy) co_return co_await legacy_reply(c_, ctx, std::move(decided.reply));
        ctx.status = 200;
        http::response<http::string_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        res.set("X-Request-Id", ctx.request_id);
        res.keep_alive(ctx.keep_alive);
        res.body() = ctx.modern ? mcp2026::with_result_type(std::move(decided.reply)) : std::move(decided.reply);
        bool sent = co_await send_response(c_, res);
        co_return sent && ctx.keep_alive;
      }
    } else if (c_.runtime->audit) {
      ctx.decisions = unpoliced_decisions(ctx);
      bool durable = co_await record_decisions(ctx, *c_.runtime);
      if (!durable && !go_on_without_record(ctx))
        co_return co_await send_rpc_error(c_, ctx, 503, ctx.rpc.first_id(), kAuditUnavailable,
                                          "Service unavailable: the decision record cannot be written",
                                          ctx.keep_alive);
    }
  }

  bool reusable;
  if (ctx.legacy)
    reusable = co_await legacy_forward(c_, ctx, req);
  else
    reusable = co_await forward(c_, ctx, req);
  record_outcome(ctx, *c_.runtime);
  co_return reusable;
}


Awaitable<DecideResult> Session::decide(const policy::PolicySnapshot& snapshot, RequestContext& ctx) {
  auto& state = *c_.runtime->policy_state;
  auto now = std::chrono::system_clock::now();
  if (!state.shared_limits) co_return decide_request(snapshot, state, ctx, now);
  policy::RecordingLimitCounter recorder;
  auto first = decide_request_with(snapshot, state, ctx, now, recorder,
                                   [&recorder](std::uint32_t g) { recorder.set_group(g); });
  if (recorder.requests().empty()) co_return first;  // no limit met: no round trip
  const std::vector<policy::LimitRequest>& asked = recorder.requests();
  auto* shared = c_.worker.shared_limits() ? c_.worker.shared_limits() : state.shared_limits;
  // Named, capturing by reference (GCC 12, see await_callback.h).
  auto start = [shared, &asked](auto done) mutable { shared->acquire(asked, std::move(done)); };
  auto granted = co_await await_callback<Result<std::vector<bool>>>(std::move(start));
  if (!granted) {
    // Documented bound: while Redis is unreachable each replica allows up to
    // N per window on its own (R replicas: at most R x N in total).
    static std::atomic<std::int64_t> last_warned{0};
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    if (secs - last_warned.exchange(secs) >= 10)
      log::warn("rate limits counted by this replica alone: the shared state is unreachable",
                {{"error", granted.error().message}});
    co_return decide_request(snapshot, state, ctx, now);
  }
  // Everything granted: the first pass (whose counter granted everything)
  // is the decision a replay would make.
  if (std::all_of(granted->begin(), granted->end(), [](bool g) { return g; })) co_return first;
  policy::ReplayLimitCounter replay(asked, *granted);
  co_return decide_request_with(snapshot, state, ctx, now, replay, [&replay](std::uint32_t g) { replay.set_group(g); });
}

void Session::suspend_if_asked(const RequestContext& ctx) {
  for (const auto& d : ctx.decisions) {
    if (!d.decision.suspend_agent || !ctx.principal) continue;
    auto* kills = c_.runtime->kills;
    std::string agent = ctx.principal->agent_id;
    std::string reason = "policy rate limit exceeded (rule " +
                         (d.decision.rules.empty() ? std::string("?") : d.decision.rules.front()) +
                         ", decision " + d.decision_id + ")";
    log::warn("suspending agent: on_exceed suspend_agent", {{"agent", agent}, {"reason", reason}});
    // In effect before this request's answer leaves, so the agent's next
    // request is refused; saving and sharing it (blocking I/O) happen off
    // the I/O thread.
    auto engaged = kills->engage_in_memory(admin::KillKind::kAgent, agent, reason, "policy");
    if (engaged && engaged->created)
      std::thread([kills, k = engaged->kill_switch] { (void)kills->finish_engage(k); }).detach();
    return;
  }
}

bool Session::go_on_without_record(const RequestContext& ctx) {
  if (!c_.runtime->config->audit.fail_open) return false;
  log::error("AUDIT FAILED and on_failure is fail_open: going ahead without a durable record",
             {{"request_id", ctx.request_id}});
  return true;
}

Awaitable<bool> Session::send_refusal(RequestContext& ctx, const mcp2026::Refusal& r) {
  ctx.status = r.http_status;
  http::response<http::string_body> res{static_cast<http::status>(r.http_status), 11};
  res.set(http::field::content_type, "application/json");
  res.set("X-Request-Id", ctx.request_id);
  res.keep_alive(ctx.keep_alive);
  res.body() = r.body(ctx.rpc.messages.empty() ? nlohmann::json() : ctx.rpc.messages.front().id);
  log::info("modern request refused", {{"request_id", ctx.request_id}, {"code", r.code}, {"reason", r.message}});
  bool sent = co_await send_response(c_, res);
  co_return sent && ctx.keep_alive;
}

Awaitable<bool> Session::send_killed(RequestContext& ctx, const admin::KillSwitch& ks) {
  log::warn("kill switch refused a request", {{"request_id", ctx.request_id}, {"kill_switch", ks.id},
                                              {"kind", std::string(admin::kill_kind_name(ks.kind))},
                                              {"target", ks.target},
                                              {"agent", ctx.principal ? ctx.principal->agent_id : "anonymous"}});
  if (auto* log = c_.runtime->audit) {
    auto f = decision_facts(ctx, *c_.runtime);
    f.decision_id = new_decision_id();
    f.decision = "killed";
    f.reason = "kill switch " + ks.id + " (" + std::string(admin::kill_kind_name(ks.kind)) +
               (ks.target.empty() ? "" : ": " + ks.target) + ")";
    for (const auto& m : ctx.rpc.messages)
      if (m.kind == RpcKind::kRequest) {
        f.method = m.method;
        f.tool = m.target;
        break;
      }
    log->append(audit::make_decision_record(f, log->hasher()), [](const audit::AuditStatus&) {});
  }
  co_return co_await send_rpc_error(c_, ctx, 403, ctx.rpc.first_id(), kForbidden, kill_message(ks), ctx.keep_alive);
}

Awaitable<std::optional<std::string>> Session::hold_for_approval(RequestContext& ctx) {
  const auto& cfg = *c_.runtime->config;
  auto& d = ctx.decisions.front();
  const auto& m = ctx.rpc.messages[d.message];
  admin::HeldCall call;
  if (ctx.principal) {
    call.agent = ctx.principal->agent_id;
    call.owner = ctx.principal->agent ? ctx.principal->agent->owner : "";
    call.user = ctx.principal->user;
    call.token_id = ctx.principal->token_id;
    call.jti = ctx.principal->jti;
  } else {
    call.agent = "anonymous";
  }
  call.upstream = ctx.upstream->name;
  call.tool = m.target;
  static const nlohmann::json kArgumentsHashedWhenAbsent;  // null: the hash has always covered "null"
  call.arguments_redacted = audit::redact_arguments(*arguments_of(m), {});
  call.arguments_hash =
      c_.runtime->audit
          ? c_.runtime->audit->hasher().hash((m.arguments ? *m.arguments : kArgumentsHashedWhenAbsent).dump())
          : "";
  call.rule_id = d.decision.rules.empty() ? "" : d.decision.rules.front();
  call.decision_id = d.decision_id;
  call.created = std::chrono::system_clock::now();
  call.deadline = call.created + cfg.admin.approval_timeout;
  auto* approvals = c_.runtime->approvals;

  // The outcome arrives on an admin or timer thread; it resumes us through a
  // timer posted to this connection's executor (HeldWait).
  auto shared = std::make_shared<HeldWait>();
  shared->wake = std::make_unique<net::steady_timer>(co_await net::this_coro::executor,
                                                     std::chrono::steady_clock::time_point::max());
  auto ex = co_await net::this_coro::executor;
  auto id = approvals->hold(std::move(call), [shared, ex](const admin::ApprovalOutcome& o) {
    net::post(ex, [shared, o] {
      shared->outcome = o;
      shared->wake->cancel();
    });
  });
  if (!id) {
    d.decision.reason = "held for approval, but no more calls can be held: " + id.error().message;
    co_return std::optional<std::string>(refusal_json(ctx, d, "Needs approval, but cannot be held: " + id.error().message));
  }
  log::info("call held for approval", {{"request_id", ctx.request_id}, {"approval_id", *id},
                                       {"decision_id", d.decision_id}});
  c_.stream.tcp().expires_never();
  // Streamable HTTP (the client accepts SSE: checked before the body was
  // read): the answer starts now as an SSE stream kept alive while held. The
  // legacy transport answers into its GET stream (a POST there gets 202), so
  // the keepalives and progress go there.
  const auto keepalive = cfg.admin.approval_keepalive;
  if (keepalive.count() > 0) ctx.progress_token = progress_token(ctx.rpc.json);
  bool client_gone = false;
  if (keepalive.count() > 0 && !ctx.legacy) {
    bool started = co_await start_event_stream(ctx);
    client_gone = !started;
  }
  if (!client_gone) {
    // Named first, for GCC 12 (no temporaries with destructors inside co_await).
    auto keep = keep_held(ctx, shared, *id, keepalive);
    auto watch = watch_client(c_);
    auto waited = co_await (std::move(keep) || std::move(watch));
    client_gone = waited.index() == 1 || !std::get<0>(waited);
  }
  bool cancelled_here = false;
  if (client_gone && !shared->outcome) {
    // With several replicas the outcome is whichever decision the shared
    // store saw first: this disconnect, or an approval given elsewhere at the
    // same moment. Either way nothing is forwarded; the record says which.
    // The outcome always comes (at once on one replica; after the store's
    // answer, or its command timeout, with several).
    approvals->cancel(*id, "client disconnected");
    shared->wake->expires_at(std::chrono::steady_clock::time_point::max());
    while (!shared->outcome) co_await shared->wake->async_wait(kNoThrow);
    cancelled_here = true;
  }
  const auto& o = *shared->outcome;
  if (auto* log = c_.runtime->audit) {
    auto f = decision_facts(ctx, *c_.runtime);
    f.decision_id = d.decision_id;
    f.decision = o.approved() ? "approved" : "deny";
    f.method = m.method;
    f.tool = m.target;
    f.arguments_ref = arguments_of(m);
    f.rules = d.decision.rules;
    f.policy_version = d.decision.policy_version;
    f.policy_revision = d.decision.policy_revision;
    f.action = d.decision.action;
    f.sensitivity = d.decision.sensitivity;
    f.jsonrpc_id = m.id.dump();
    f.credential_kind = ctx.upstream->credential.empty() ? "none" : ctx.upstream->credential;
    if (auto info = c_.runtime->policy_state->catalog.find(ctx.upstream->name, m.target))
      f.tool_fingerprint = info->pinned_fingerprint;
    f.reason = std::string("approval ") + std::string(admin::outcome_name(o.kind)) +
               (o.decided_by.empty() ? "" : " by " + o.decided_by) + (o.reason.empty() ? "" : ": " + o.reason);
    if (cancelled_here && o.approved()) {
      f.decision = "deny";
      f.reason += "; not forwarded: the client disconnected";
    }
    auto rec = audit::make_decision_record(f, log->hasher());
    auto start = [log, &rec](auto done) mutable {
      log->append(std::move(rec), [done = std::move(done)](const audit::AuditStatus& st) mutable { done(st.ok()); });
    };
    bool durable = co_await await_callback<bool>(std::move(start));
    if (cancelled_here) co_return std::optional<std::string>(std::string());  // nobody to answer
    if (!durable && !cfg.audit.fail_open)
      co_return std::optional<std::string>(refusal_json(ctx, d, "Approved, but the decision record cannot be written"));
  }
  if (cancelled_here) co_return std::optional<std::string>(std::string());
  if (o.approved()) {
    d.decision.effect = policy::Effect::kAllow;
    co_return std::nullopt;
  }
  std::string why = std::string("Not approved (") + std::string(admin::outcome_name(o.kind)) + ")" +
                    (o.decided_by.empty() ? "" : " by " + o.decided_by) + (o.reason.empty() ? "" : ": " + o.reason);
  co_return std::optional<std::string>(refusal_json(ctx, d, why));
}

Awaitable<bool> Session::start_event_stream(RequestContext& ctx) {
  http::response<http::empty_body> h{http::status::ok, 11};
  h.set(http::field::content_type, "text/event-stream");
  h.set(http::field::cache_control, "no-cache");
  h.set("X-Accel-Buffering", "no");
  h.set("X-Request-Id", ctx.request_id);
  h.keep_alive(ctx.keep_alive);
  h.chunked(true);
  http::response_serializer<http::empty_body> sr{h};
  c_.stream.tcp().expires_after(30s);
  auto [ec, n] = co_await c_.stream.visit([&](auto& s) { return http::async_write_header(s, sr, kNoThrow); });
  ctx.status = 200;
  ctx.stream_open = true;
  co_return !ec;
}

Awaitable<bool> Session::keep_held(RequestContext& ctx, std::shared_ptr<HeldWait> wait, std::string approval_id,
                                   std::chrono::milliseconds interval) {
  const bool legacy_stream = ctx.legacy && interval.count() > 0;
  for (;;) {
    if (wait->outcome) co_return true;
    if (ctx.stream_open || legacy_stream) {
      // The first write goes out at once: the client learns it is held.
      std::string out(kHeldKeepalive);
      if (!ctx.progress_token.is_null()) out += held_progress_event(ctx.progress_token, ctx.progress_sent, approval_id);
      if (ctx.stream_open) {
        bool written = co_await write_event_chunk(c_, out);
        if (!written) co_return false;
      } else {
        // Into the agent's GET stream; a gone stream is noticed when the
        // outcome is delivered (404, as for any POST to it).
        auto notified = legacy_notify(c_, ctx, std::move(out));  // named: GCC 12 (see await_callback.h)
        co_await std::move(notified);
      }
      if (!ctx.progress_token.is_null()) ++ctx.progress_sent;
      wait->wake->expires_after(interval);
      // An outcome posted while we wrote cancelled no wait: look again.
      if (wait->outcome) co_return true;
    }
    co_await wait->wake->async_wait(kNoThrow);
  }
}

Awaitable<bool> Session::authenticate(const http::request_header<>& h, RequestContext& ctx, bool& replied) {
  const auto& cfg = *c_.runtime->config;
  const auto& verifier = c_.runtime->verifier;
  std::string prm = identity::resource_metadata_url(cfg.server.public_url, ctx.upstream->path);
  auto reply = [&](const identity::AuthError& err) -> Awaitable<bool> {
    replied = true;
    Headers challenge{{std::string("WWW-Authenticate"), identity::www_authenticate(err, prm)}};
    int status = identity::http_status(err);
    int code = status == 401 ? kUnauthorized : status == 403 ? kForbidden : kAuthUnavailable;
    std::string message = status == 401   ? "Unauthorized: " + err.description
                          : status == 403 ? "Forbidden: " + err.description
                                          : "Service unavailable: " + err.description;
    co_return co_await send_rpc_error(c_, ctx, static_cast<unsigned>(status), nullptr, code, message,
                                      ctx.keep_alive, challenge);
  };
  if (!verifier) co_return co_await reply(identity::AuthError::unavailable("identity is not configured"));

  std::string authz = header(h, "Authorization");
  auto token = identity::bearer_token(authz);
  if (!token) co_return co_await reply(token.error());
  identity::Audiences audiences{identity::resource_uri(cfg.server.public_url, ctx.upstream->path),
                                cfg.server.public_url};
  std::string tok(token.value());
  // A JWT (or a cached opaque token) is answered right here; only
  // introspection suspends this coroutine.
  std::optional<identity::VerifyResult> now = verifier->verify_now(tok, audiences);
  identity::VerifyResult result = Err(identity::AuthError::unavailable("not verified"));
  if (now) {
    result = std::move(*now);
  } else {
    auto introspect = [&verifier, &tok, &audiences](auto done) {
      verifier->introspect(tok, audiences, std::move(done));
    };
    result = co_await await_callback<identity::VerifyResult>(introspect);
  }
  OPENSSL_cleanse(authz.data(), authz.size());
  ctx.bearer = std::move(tok);
  if (!result) co_return co_await reply(result.error());
  ctx.principal = result.value();
  const auto& p = *ctx.principal;
  if (!p.registered && !cfg.identity.allow_unregistered_agents) {
    c_.runtime->inventory->record_request(p, true);  // listed either way: shadow agents are found
    log::warn("unregistered agent refused", {{"request_id", ctx.request_id}, {"agent", p.agent_id},
                                              {"issuer", p.issuer}});
    replied = true;
    co_return co_await send_rpc_error(c_, ctx, 403, nullptr, kForbidden,
                                      "Forbidden: agent is not registered with this gateway", ctx.keep_alive);
  }
  ctx.principal_key = p.issuer + "|" + p.agent_id + "|" + p.user;
  co_return true;
}

}  // namespace

Awaitable<bool> send_response(Conn& c, http::response<http::string_body>& res) {
  res.prepare_payload();
  c.stream.tcp().expires_after(30s);
  auto [ec, n] = co_await c.stream.visit([&](auto& s) { return http::async_write(s, res, kNoThrow); });
  co_return !ec;
}

Awaitable<bool> write_event_chunk(Conn& c, std::string_view events) {
  c.stream.tcp().expires_after(30s);
  auto [ec, n] = co_await c.stream.visit(
      [&](auto& s) { return net::async_write(s, http::make_chunk(net::const_buffer(events.data(), events.size())), kNoThrow); });
  co_return !ec;
}

Awaitable<bool> end_event_stream(Conn& c, const RequestContext& ctx, std::string_view events) {
  if (!events.empty() && !co_await write_event_chunk(c, events)) co_return false;
  c.stream.tcp().expires_after(30s);
  auto [ec, n] = co_await c.stream.visit([&](auto& s) { return net::async_write(s, http::make_chunk_last(), kNoThrow); });
  co_return !ec && ctx.keep_alive;
}

Awaitable<bool> send_rpc_error(Conn& c, const RequestContext& ctx, unsigned status, const nlohmann::json& id,
                               int code, std::string_view message, bool keep_alive, const Headers& extra) {
  const_cast<RequestContext&>(ctx).status = status;
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set("X-Request-Id", ctx.request_id);
  for (const auto& [k, v] : extra) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = rpc_error_body(id, code, message);
  bool ok = co_await send_response(c, res);
  co_return ok && keep_alive;
}

Awaitable<bool> send_json(Conn& c, const RequestContext& ctx, unsigned status, const nlohmann::json& body,
                          bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set("X-Request-Id", ctx.request_id);
  res.keep_alive(keep_alive);
  res.body() = body.dump();
  bool ok = co_await send_response(c, res);
  co_return ok && keep_alive;
}

void spawn_connection(Worker& w, tcp::socket socket) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  beast::tcp_stream stream(std::move(socket));
  std::shared_ptr<Session> session;
  const auto& rt = w.runtime();
  if (rt->server_tls)
    session = std::make_shared<Session>(w, AnyStream(std::move(stream), *rt->server_tls));
  else
    session = std::make_shared<Session>(w, AnyStream(std::move(stream)));
  net::co_spawn(w.ioc(), [session]() -> Awaitable<void> { co_await session->run(); }, net::detached);
}

}  // namespace portcullis::gateway
