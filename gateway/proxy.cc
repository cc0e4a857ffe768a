// Forward: sends the request to the upstream over a pooled keep-alive
// connection and relays the answer as it arrives: JSON bodies piece by piece,
// SSE event by event (never half an event, never the whole stream). While it
// runs, a watcher notices a client that goes away; the upstream request is
// then cancelled with notifications/cancelled and the connection dropped.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <optional>

#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/held_progress.h"
#include "gateway/http_fields.h"
#include "gateway/http_rules.h"
#include "gateway/kill_message.h"
#include "gateway/await_callback.h"
#include "gateway/log.h"
#include "gateway/mcp2026.h"
#include "gateway/policy_stage.h"
#include "gateway/session_sealer.h"
#include "gateway/sse_parser.h"
#include "gateway/upstream_request.h"

namespace portcullis::gateway {
namespace {

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

// Small on purpose: a thousand open streams must fit in a few MB.
constexpr std::size_t kRelayChunk = 4096;
constexpr std::size_t kMaxBuffered = 8 << 20;  // initialize answers and results Portcullis rewrites
// A kill switch that cuts a POST's SSE answer gives the client this long for
// the last event: the connection is closed by then whatever the client does
// (the kill's promise is "closed within 100 ms").
constexpr auto kKillAnswerBound = 50ms;

class Exchange {
 public:
  Exchange(Conn& c, RequestContext& ctx, Request& req)
      : c_(c), ctx_(ctx), req_(req), up_(*ctx.upstream), pool_(c.worker.pool(up_)), header_sent_(ctx.stream_open) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;
  ~Exchange();

  // Returns whether the downstream connection may be reused.
  Awaitable<bool> run();
  // Ids of requests in this POST, for cancellation.
  std::vector<nlohmann::json> request_ids() const;
  const std::string& upstream_session() const { return upstream_session_; }
  // Ids of requests a kill switch cut (answered with its error): the upstream
  // is told they are cancelled.
  const std::vector<nlohmann::json>& killed_ids() const { return killed_ids_; }

 private:
  void build_upstream_request();
  // 2026-07-28: Mcp-Method and Mcp-Name recomputed from the body that goes
  // upstream; Mcp-Param-* passed on as received (checked against the body
  // where the tool is known, and the body is forwarded unchanged).
  void set_request_metadata();
  // The upstream's own credential in place of the agent's token; false after
  // replying 502 (or 401 when the agent's token expired for an exchange).
  Awaitable<bool> attach_credential();
  Awaitable<bool> fail(unsigned status, int code, std::string_view message, std::string_view detail);
  Awaitable<bool> write_down(net::const_buffer b);
  Awaitable<bool> write_down_header(http::response<http::empty_body>& h);
  Awaitable<std::pair<error_code, std::size_t>> read_up(char* buf, std::size_t size, std::chrono::milliseconds t);
  http::response<http::empty_body> downstream_header(unsigned status);
  Awaitable<bool> relay_buffered_initialize();
  Awaitable<bool> relay_sse();
  Awaitable<bool> relay_body();
  void finish_upstream();
  // tools/list answers are filtered per agent: the agent sees exactly the
  // tools some rule could allow or hold for it.
  bool filters_list() const;
  bool filter_message(nlohmann::json& m) const;
  Awaitable<bool> relay_filtered_json();
  // A held call whose answer is already an SSE stream (ctx.stream_open): the
  // upstream's JSON answer goes in as one event (streamed), its SSE events as
  // they come (relay_sse).
  Awaitable<bool> relay_json_into_stream();
  // An error answer as the last event of an open stream.
  Awaitable<bool> end_stream_with_error(int code, std::string_view message);
  // Adds the exchange to the worker's stream registry, so that a kill switch
  // cuts it; undone when the returned guard goes.
  struct StreamRegistration;
  StreamRegistration register_stream();
  // The registry's cut: the upstream is closed at once; a POST's answer
  // (relay_sse, requests still open) is then ended by answer_killed, else the
  // client's connection is closed too.
  void cut(const admin::KillSwitch& ks);
  // Closes the client's connection kKillAnswerBound after a cut, should the
  // last event not be out by then (a client that does not read). Shared with
  // the timer's handler, which may run after the exchange is gone.
  struct KillDeadline {
    net::steady_timer timer;
    Conn* conn;
  };
  // After a cut: one error event per request still open, then the end of the
  // body; the connection is not reused.
  Awaitable<bool> answer_killed();

  Conn& c_;
  RequestContext& ctx_;
  Request& req_;
  const config::UpstreamConfig& up_;
  UpstreamPool& pool_;
  http::request<http::string_body> ureq_;
  UpstreamConnPtr uc_;
  std::optional<http::response_parser<http::buffer_body>> rp_;
  std::string upstream_session_;
  bool header_sent_;
  credentials::Provider* provider_ = nullptr;
  std::optional<credentials::Credential> credential_;
  bool relaying_ = false;  // on an open stream: the upstream's events are being relayed
  bool answers_cut_ = false;  // relay_sse: a cut ends the stream with errors for pending_
  std::vector<nlohmann::json> pending_;  // relay_sse: ids of requests not answered yet
  std::optional<std::string> killed_;    // set by cut(): the kill's JSON-RPC error message
  std::vector<nlohmann::json> killed_ids_;
  std::shared_ptr<KillDeadline> kill_deadline_;
};

Exchange::~Exchange() {
  if (kill_deadline_) {
    kill_deadline_->conn = nullptr;
    kill_deadline_->timer.cancel();
  }
}

Awaitable<bool> Exchange::attach_credential() {
  if (up_.credential.empty()) co_return true;
  auto* reg = c_.runtime->credentials.get();
  provider_ = reg ? reg->find(up_.credential) : nullptr;
  if (!provider_) {
    co_await fail(502, kCredentialUnavailable, "No credential available for the upstream", "provider not found");
    co_return false;
  }
  auto identity = call_identity(ctx_);
  auto r = co_await await_callback<credentials::CredentialResult>(
      [&](auto done) { provider_->get(identity, std::move(done)); });
  if (!r) {
    ctx_.error_class = "credential";
    log::warn("upstream credential unavailable", {{"request_id", ctx_.request_id}, {"upstream", up_.name},
                                                  {"provider", up_.credential}, {"error", r.error().message}});
    if (r.error().code == credentials::CredentialError::Code::kSubjectExpired && !header_sent_) {
      co_await send_rpc_error(c_, ctx_, 401, ctx_.rpc.first_id(), kUnauthorized,
                              "Unauthorized: the agent's token has expired", ctx_.keep_alive);
      co_return false;
    }
    uc_.reset();
    if (ctx_.stream_open) {
      std::string_view why = r.error().code == credentials::CredentialError::Code::kSubjectExpired
                                 ? "Unauthorized: the agent's token has expired"
                                 : "Bad gateway: no credential could be obtained for the upstream";
      co_await end_stream_with_error(kCredentialUnavailable, why);
      co_return false;
    }
    if (!header_sent_)
      co_await send_rpc_error(c_, ctx_, 502, ctx_.rpc.first_id(), kCredentialUnavailable,
                              "Bad gateway: no credential could be obtained for the upstream", ctx_.keep_alive);
    co_return false;
  }
  credential_ = std::move(r.value());
  ureq_.set(credential_->header, credential_->value->reveal());
  co_return true;
}

void Exchange::build_upstream_request() {
  ureq_ = {req_.method(), up_.target, 11};
  ureq_.set(http::field::host, host_header(up_));
  ureq_.set(http::field::user_agent, "portcullis/0.1");
  // An allow-list: the agent's Authorization, cookies and anything else it
  // sent never reach the upstream.
  for (auto name : {"Accept", "MCP-Protocol-Version", "Last-Event-ID", "traceparent", "tracestate"}) {
    if (ctx_.modern && std::string_view(name) == "Last-Event-ID") continue;  // streams are not resumable
    auto v = header(req_, name);
    if (!v.empty()) ureq_.set(name, v);
  }
  if (ctx_.modern) set_request_metadata();
  if (ctx_.session) {
    upstream_session_ = ctx_.session->upstream_session;
    if (!upstream_session_.empty()) ureq_.set("Mcp-Session-Id", upstream_session_);
  }
  ureq_.set("X-Request-Id", ctx_.request_id);
  if (req_.method() == http::verb::post) {
    ureq_.set(http::field::content_type, "application/json");
    ureq_.body() = std::move(req_.body());
  }
  ureq_.keep_alive(true);
  ureq_.prepare_payload();
}

void Exchange::set_request_metadata() {
  const auto& m = ctx_.rpc.messages.front();
  ureq_.set("Mcp-Method", mcp2026::encode_header_value(m.method));
  static const nlohmann::json kEmpty = nlohmann::json::object();
  auto p = ctx_.rpc.json.find("params");
  if (auto name = mcp2026::name_source(m, p != ctx_.rpc.json.end() && p->is_object() ? *p : kEmpty))
    ureq_.set("Mcp-Name", mcp2026::encode_header_value(*name));
  constexpr std::string_view kParam = "mcp-param-";
  for (const auto& f : req_) {
    std::string_view n(f.name_string().data(), f.name_string().size());
    if (n.size() > kParam.size() && beast::iequals(n.substr(0, kParam.size()), kParam))
      ureq_.insert(f.name_string(), f.value());
  }
}

std::vector<nlohmann::json> Exchange::request_ids() const {
  std::vector<nlohmann::json> ids;
  for (const auto& m : ctx_.rpc.messages)
    if (m.kind == RpcKind::kRequest && m.method != "initialize") ids.push_back(m.id);
  return ids;
}

Awaitable<bool> Exchange::fail(unsigned status, int code, std::string_view message, std::string_view detail) {
  ctx_.error_class = status == 504 ? "timeout" : code == kUpstreamRejected ? "upstream_error" : "connect";
  if (auto* m = c_.runtime->metrics) m->upstream_error(up_.name, ctx_.error_class);
  log::warn("upstream failure", {{"request_id", ctx_.request_id}, {"upstream", up_.name},
                                 {"status", status}, {"detail", detail}});
  uc_.reset();  // never reuse a connection in an unknown state
  if (ctx_.stream_open && !relaying_) co_return co_await end_stream_with_error(code, message);
  if (header_sent_) co_return false;
  co_return co_await send_rpc_error(c_, ctx_, status, ctx_.rpc.first_id(), code, message, ctx_.keep_alive);
}

Awaitable<bool> Exchange::write_down(net::const_buffer b) {
  c_.stream.tcp().expires_after(up_.timeouts.request);
  auto [ec, n] = co_await c_.stream.visit([&](auto& s) { return net::async_write(s, b, kNoThrow); });
  co_return !ec;
}

Awaitable<bool> Exchange::write_down_header(http::response<http::empty_body>& h) {
  ctx_.status = h.result_int();
  http::response_serializer<http::empty_body> sr{h};
  c_.stream.tcp().expires_after(up_.timeouts.request);
  auto [ec, n] = co_await c_.stream.visit([&](auto& s) { return http::async_write_header(s, sr, kNoThrow); });
  header_sent_ = true;
  co_return !ec;
}

Awaitable<std::pair<error_code, std::size_t>> Exchange::read_up(char* buf, std::size_t size,
                                                                std::chrono::milliseconds t) {
  auto& body = rp_->get().body();
  body.data = buf;
  body.size = size;
  uc_->stream.tcp().expires_after(t);
  // read_some, not read: read would wait until the buffer is full, which
  // would hold SSE events back until 4 KiB had accumulated.
  auto [ec, n] = co_await uc_->stream.visit(
      [&](auto& s) { return http::async_read_some(s, uc_->buffer, *rp_, kNoThrow); });
  if (ec == http::error::need_buffer) ec = {};
  ctx_.result_bytes += size - body.size;
  co_return std::pair{ec, size - body.size};
}

http::response<http::empty_body> Exchange::downstream_header(unsigned status) {
  const auto& uh = rp_->get();
  http::response<http::empty_body> h{static_cast<http::status>(status), 11};
  for (auto name : {"Content-Type", "Cache-Control", "Allow", "Retry-After", "MCP-Protocol-Version"}) {
    auto v = header(uh, name);
    if (!v.empty()) h.set(name, v);
  }
  h.set("X-Request-Id", ctx_.request_id);
  h.keep_alive(ctx_.keep_alive);
  // The upstream's session id is echoed only as the sealed id the agent holds.
  auto usid = header(uh, "Mcp-Session-Id");
  if (!usid.empty() && ctx_.session && !ctx_.modern && usid == ctx_.session->upstream_session)
    h.set("Mcp-Session-Id", header(req_, "Mcp-Session-Id"));
  return h;
}

bool Exchange::filters_list() const {
  if (!c_.runtime->policy || ctx_.rpc.messages.size() != 1 || ctx_.rpc.messages[0].kind != RpcKind::kRequest)
    return false;
  const auto& method = ctx_.rpc.messages[0].method;
  // A resources/read the policy decided is visible per agent: a modern
  // answer's "public" cache hint must not reach a shared cache either.
  return method == "tools/list" || (ctx_.modern && method == "resources/read");
}

bool Exchange::filter_message(nlohmann::json& m) const {
  if (!m.is_object() || !m.contains("result") || !m["result"].is_object()) return false;
  if (m.value("id", nlohmann::json()) != ctx_.rpc.messages[0].id) return false;
  auto& result = m["result"];
  if (ctx_.rpc.messages[0].method == "tools/list") {
    if (ctx_.modern) {
      // As an HTTP client of the upstream: tools whose x-mcp-header
      // annotations are invalid are dropped (and named in the log).
      for (const auto& why : mcp2026::drop_invalid_tools(result))
        log::warn("tool dropped from tools/list: invalid x-mcp-header",
                  {{"request_id", ctx_.request_id}, {"upstream", up_.name}, {"tool", why}});
    }
    filter_tools_list(*c_.runtime->policy, *c_.runtime->policy_state, ctx_, result);
  }
  mcp2026::make_private(result);
  return true;
}

Awaitable<bool> Exchange::relay_filtered_json() {
  std::string body;
  char buf[kRelayChunk];
  while (!rp_->is_done()) {
    auto [ec, got] = co_await read_up(buf, sizeof buf, up_.timeouts.request);
    if (ec) co_return co_await fail(502, kUpstreamUnavailable, "Upstream closed mid-response", ec.message());
    body.append(buf, got);
    if (body.size() > kMaxBuffered) co_return co_await fail(502, kUpstreamUnavailable, "Upstream answer too large", "tools/list");
  }
  nlohmann::json m;
  // Fail closed: an answer that cannot be filtered is not passed on.
  if (!parse_json_strict(body, m)) co_return co_await fail(502, kUpstreamUnavailable, "Upstream sent invalid JSON", ctx_.rpc.messages[0].method);
  filter_message(m);
  auto dh = downstream_header(rp_->get().result_int());
  http::response<http::string_body> res{dh.result(), 11};
  for (const auto& f : dh) res.set(f.name_string(), f.value());
  res.keep_alive(ctx_.keep_alive);
  res.body() = m.dump();
  ctx_.status = res.result_int();
  finish_upstream();
  header_sent_ = true;
  bool ok = co_await send_response(c_, res);
  co_return ok && ctx_.keep_alive;
}

void Exchange::finish_upstream() {
  // Not after a cut: its socket is closed.
  if (uc_ && rp_->is_done() && rp_->keep_alive() && uc_->stream.tcp().socket().is_open())
    pool_.release(std::move(uc_));
  uc_.reset();
}

Awaitable<bool> Exchange::run() {
  build_upstream_request();
  if (!co_await attach_credential()) co_return false;
  ctx_.forwarded_at = std::chrono::steady_clock::now();
  bool credential_retried = false;
  for (int attempt = 0;; ++attempt) {
    auto [conn, err] = co_await pool_.acquire(attempt > 0);
    if (!conn) co_return co_await fail(502, kUpstreamUnavailable, "Upstream unavailable", err);
    uc_ = std::move(conn);
    rp_.emplace();
    rp_->body_limit(boost::none);  // streams are unbounded; idle timeouts bound them
    uc_->stream.tcp().expires_after(up_.timeouts.request);
    auto [wec, wn] = co_await uc_->stream.visit([&](auto& s) { return http::async_write(s, ureq_, kNoThrow); });
    bool reused = uc_->reused;
    if (wec) {
      if (reused && attempt == 0) continue;
      co_return co_await fail(502, kUpstreamUnavailable, "Upstream unavailable", wec.message());
    }
    auto [rec, rn] = co_await uc_->stream.visit(
        [&](auto& s) { return http::async_read_header(s, uc_->buffer, *rp_, kNoThrow); });
    if (rec) {
      // A kept-alive connection the upstream closed just as we reused it: the
      // request was never read, so it is safe to send it once more.
      if (reused && attempt == 0 && rn == 0 &&
          (rec == http::error::end_of_stream || rec == net::error::connection_reset || rec == net::error::eof))
        continue;
      if (rec == beast::error::timeout)
        co_return co_await fail(504, kUpstreamTimeout, "Upstream timed out", "no response header in time");
      co_return co_await fail(502, kUpstreamUnavailable, "Upstream sent an invalid response", rec.message());
    }
    if (rp_->get().result_int() == 401 && provider_ && !credential_retried) {
      // The upstream refused our credential: drop it and try once more with
      // a fresh one (a rotated key, an early-expired token).
      credential_retried = true;
      auto identity = call_identity(ctx_);
      provider_->invalidate(identity, credential_ ? &*credential_ : nullptr);
      uc_.reset();
      if (!co_await attach_credential()) co_return false;
      attempt = -1;  // a fresh connection, and the keep-alive retry again
      continue;
    }
    break;
  }

  unsigned status = rp_->get().result_int();
  ctx_.upstream_status = status;
  if (auto* m = c_.runtime->metrics)
    m->upstream_latency(up_.name, std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx_.forwarded_at).count());
  if (status == 401 || status == 403) {
    // The upstream refused the gateway's own credential; its challenge is not
    // the agent's business (the agent authenticates to Portcullis only).
    co_return co_await fail(502, kUpstreamRejected, "Upstream refused the gateway's credentials",
                            "upstream status " + std::to_string(status));
  }
  std::string ct = header(rp_->get(), "Content-Type");
  std::string usid = header(rp_->get(), "Mcp-Session-Id");
  bool is_initialize = ctx_.rpc.messages.size() == 1 && ctx_.rpc.messages[0].method == "initialize";
  bool new_session = !usid.empty() && (!ctx_.session || usid != ctx_.session->upstream_session);
  if (ctx_.stream_open) {
    // A held call: the status line went out while it was held, so the
    // upstream's answer can only be events (its status is in the outcome
    // record). A session id it would mint now cannot reach the agent.
    if (is_event_stream(ct)) co_return co_await relay_sse();
    co_return co_await relay_json_into_stream();
  }
  // A modern request never gets a session, whatever the upstream sends.
  if (!ctx_.modern && (is_initialize || new_session)) co_return co_await relay_buffered_initialize();
  if (is_event_stream(ct)) co_return co_await relay_sse();
  if (filters_list() && is_json_content_type(ct)) co_return co_await relay_filtered_json();
  co_return co_await relay_body();
}

Awaitable<bool> Exchange::relay_body() {
  unsigned status = rp_->get().result_int();
  auto h = downstream_header(status);
  bool chunked = false;
  if (rp_->is_done()) {
    h.content_length(0);
  } else if (auto len = rp_->content_length()) {
    h.content_length(*len);
  } else {
    h.chunked(true);
    chunked = true;
  }
  if (!co_await write_down_header(h)) co_return false;
  char buf[kRelayChunk];
  while (!rp_->is_done()) {
    auto [ec, got] = co_await read_up(buf, sizeof buf, up_.timeouts.request);
    if (ec) co_return co_await fail(502, kUpstreamUnavailable, "Upstream closed mid-response", ec.message());
    if (got == 0) continue;
    bool ok;
    if (chunked) {
      c_.stream.tcp().expires_after(up_.timeouts.request);
      auto [wec, wn] = co_await c_.stream.visit([&](auto& s) {
        return net::async_write(s, http::make_chunk(net::const_buffer(buf, got)), kNoThrow);
      });
      ok = !wec;
    } else {
      ok = co_await write_down(net::const_buffer(buf, got));
    }
    if (!ok) co_return false;
  }
  if (chunked) {
    auto [ec, n] = co_await c_.stream.visit([&](auto& s) { return net::async_write(s, http::make_chunk_last(), kNoThrow); });
    if (ec) co_return false;
  }
  finish_upstream();
  co_return ctx_.keep_alive;
}

struct Exchange::StreamRegistration {
  Worker& w;
  std::list<Worker::ActiveStream>::iterator it;
  StreamRegistration(Worker& worker, std::list<Worker::ActiveStream>::iterator i) : w(worker), it(i) {}
  StreamRegistration(const StreamRegistration&) = delete;
  ~StreamRegistration() {
    w.state().active_streams--;
    w.remove_stream(it);
  }
};

Exchange::StreamRegistration Exchange::register_stream() {
  c_.worker.state().active_streams++;
  std::vector<std::string> tools;  // a tool kill switch cuts the streamed answers of its calls too
  for (const auto& m : ctx_.rpc.messages)
    if (m.kind == RpcKind::kRequest && m.method == "tools/call") tools.push_back(m.target);
  auto it = c_.worker.add_stream(
      {ctx_.principal, up_.name, std::move(tools), [this](const admin::KillSwitch& ks) { cut(ks); }});
  return StreamRegistration{c_.worker, it};
}

void Exchange::cut(const admin::KillSwitch& ks) {
  error_code ignored;
  // Nothing more is relayed: the pending read ends with operation_aborted.
  if (uc_) uc_->stream.tcp().socket().close(ignored);
  ctx_.error_class = "killed";
  if (!answers_cut_ || pending_.empty()) {
    // A stream no request waits on (or all answered): closing says it all.
    c_.stream.tcp().socket().close(ignored);
    return;
  }
  killed_ = kill_message(ks);
  // A write to the client may be under way (the relay awaits it, not the
  // upstream): the deadline bounds it and the last event alike.
  kill_deadline_ = std::make_shared<KillDeadline>(KillDeadline{net::steady_timer(c_.worker.ioc()), &c_});
  kill_deadline_->timer.expires_after(kKillAnswerBound);
  kill_deadline_->timer.async_wait([d = kill_deadline_](error_code ec) {
    if (ec || !d->conn) return;
    error_code ignored;
    d->conn->stream.tcp().socket().close(ignored);
  });
}

Awaitable<bool> Exchange::answer_killed() {
  uc_.reset();
  log::warn("kill switch cut a streamed answer", {{"request_id", ctx_.request_id}, {"upstream", up_.name},
                                                  {"answered_requests", pending_.size()}});
  std::string out;
  for (const auto& id : pending_) out += sse_message(rpc_error_body(id, kForbidden, *killed_));
  killed_ids_ = std::move(pending_);
  pending_.clear();
  if (!c_.stream.tcp().socket().is_open()) co_return false;  // the deadline passed first
  auto [wec, wn] = co_await c_.stream.visit(
      [&](auto& s) { return net::async_write(s, http::make_chunk(net::buffer(out)), kNoThrow); });
  if (wec) co_return false;
  // The stream ends here whether or not the last chunk gets out.
  (void)co_await c_.stream.visit([&](auto& s) { return net::async_write(s, http::make_chunk_last(), kNoThrow); });
  co_return false;
}

Awaitable<bool> Exchange::end_stream_with_error(int code, std::string_view message) {
  std::string event = sse_message(rpc_error_body(ctx_.rpc.first_id(), code, message));
  co_return co_await end_event_stream(c_, ctx_, event);
}

Awaitable<bool> Exchange::relay_json_into_stream() {
  auto registered = register_stream();
  unsigned status = rp_->get().result_int();
  if (!is_json_content_type(header(rp_->get(), "Content-Type"))) {
    std::string message = "Upstream sent no JSON-RPC answer (HTTP " + std::to_string(status) + ")";
    std::string detail = "held call: status " + std::to_string(status);
    co_return co_await fail(502, kUpstreamUnavailable, message, detail);
  }
  // Streamed, never read whole: the body becomes the data lines of one event.
  std::string out = "event: message\ndata: ";
  bool started = false;
  char buf[kRelayChunk];
  while (!rp_->is_done()) {
    auto [ec, got] = co_await read_up(buf, sizeof buf, up_.timeouts.request);
    if (ec == net::error::operation_aborted) co_return false;  // the client left or a kill cut us
    if (ec) {
      if (started) {
        // Half an event is out: no answer can follow it. Dropping the
        // connection tells the client the call failed.
        uc_.reset();
        ctx_.error_class = "connect";
        co_return false;
      }
      const bool timeout = ec == beast::error::timeout;
      std::string detail = ec.message();
      co_return co_await fail(timeout ? 504 : 502, timeout ? kUpstreamTimeout : kUpstreamUnavailable,
                              "Upstream closed mid-response", detail);
    }
    append_data_lines(out, std::string_view(buf, got));
    if (got == 0) continue;
    bool written = co_await write_event_chunk(c_, out);
    if (!written) co_return false;
    started = true;
    out.clear();
  }
  if (!started && out == "event: message\ndata: ") {
    std::string message = "Upstream sent an empty answer (HTTP " + std::to_string(status) + ")";
    co_return co_await fail(502, kUpstreamUnavailable, message, "held call: empty body");
  }
  out += "\n\n";
  finish_upstream();
  co_return co_await end_event_stream(c_, ctx_, out);
}

Awaitable<bool> Exchange::relay_sse() {
  if (!header_sent_) {
    auto h = downstream_header(rp_->get().result_int());
    h.chunked(true);
    h.set(http::field::cache_control, "no-cache");
    h.set("X-Accel-Buffering", "no");
    if (!co_await write_down_header(h)) co_return false;
  }
  relaying_ = true;
  pending_ = request_ids();  // answered ids are removed as they pass
  answers_cut_ = true;
  auto registered = register_stream();
  const bool filter = filters_list();
  SseParser parser;
  std::vector<SseEvent> events;
  char buf[kRelayChunk];
  std::string out;
  bool upstream_failed = false;
  bool timed_out = false;
  while (!rp_->is_done()) {
    auto [ec, got] = co_await read_up(buf, sizeof buf, up_.timeouts.stream_idle);
    if (killed_) co_return co_await answer_killed();
    if (ec == net::error::operation_aborted) co_return false;  // the client left, or a kill closed a stream no request waits on
    if (ec) {
      upstream_failed = true;
      timed_out = ec == beast::error::timeout;
      break;
    }
    events.clear();
    if (!parser.feed(std::string_view(buf, got), events)) {
      upstream_failed = true;
      break;
    }
    if (events.empty()) continue;
    out.clear();
    for (auto& ev : events) {
      if ((!pending_.empty() || ctx_.modern || ctx_.progress_sent > 0) && !ev.data.empty()) {
        nlohmann::json m;
        bool parsed = parse_json_strict(ev.data, m) && m.is_object();
        if (parsed && shift_progress(m, ctx_.progress_token, ctx_.progress_sent)) {
          out += sse_message(m.dump(), ev.id);  // continues the hold's progress
          continue;
        }
        if (parsed && ctx_.modern && m.contains("method") && m.contains("id")) {
          // 2026-07-28 has no server-to-client requests (input comes through
          // input_required results): a modern client never gets one.
          log::warn("upstream sent a JSON-RPC request on a 2026-07-28 stream: dropped",
                    {{"request_id", ctx_.request_id}, {"upstream", up_.name},
                     {"method", m["method"].is_string() ? m["method"].get<std::string>() : std::string("?")}});
          continue;
        }
        if (parsed && m.contains("id") && (m.contains("result") || m.contains("error"))) {
          std::erase(pending_, m["id"]);
          if (filter && filter_message(m)) {
            out += sse_message(m.dump(), ev.id);
            continue;
          }
        }
      }
      out += ev.raw;
    }
    if (out.empty()) continue;  // an empty chunk would end the chunked body
    c_.stream.tcp().expires_after(up_.timeouts.request);
    auto [wec, wn] = co_await c_.stream.visit(
        [&](auto& s) { return net::async_write(s, http::make_chunk(net::buffer(out)), kNoThrow); });
    if (wec) co_return false;  // the client is gone; the caller cancels upstream
  }
  if (killed_) co_return co_await answer_killed();  // cut as the upstream's last bytes went out
  if (upstream_failed) {
    uc_.reset();
    log::warn("upstream stream ended abnormally",
              {{"request_id", ctx_.request_id}, {"upstream", up_.name}, {"timed_out", timed_out}});
    // Answer what the upstream left unanswered, so no client waits forever.
    out.clear();
    for (const auto& id : pending_)
      out += sse_message(rpc_error_body(id, timed_out ? kUpstreamTimeout : kUpstreamUnavailable,
                                        timed_out ? "Upstream stream idle timeout"
                                                  : "Upstream closed the stream before responding"));
    if (!out.empty()) {
      auto [wec, wn] = co_await c_.stream.visit(
          [&](auto& s) { return net::async_write(s, http::make_chunk(net::buffer(out)), kNoThrow); });
      if (wec) co_return false;
    }
  }
  auto [ec, n] = co_await c_.stream.visit([&](auto& s) { return net::async_write(s, http::make_chunk_last(), kNoThrow); });
  if (ec) co_return false;
  finish_upstream();
  co_return ctx_.keep_alive;
}

Awaitable<bool> Exchange::relay_buffered_initialize() {
  // The initialize answer is small and must be read whole: the session id the
  // agent gets seals the revision the upstream negotiated.
  std::string body;
  char buf[kRelayChunk];
  bool sse = is_event_stream(header(rp_->get(), "Content-Type"));
  SseParser parser;
  std::vector<SseEvent> events;
  std::string negotiated;
  bool answered = false;
  while (!rp_->is_done() && !answered) {
    auto [ec, got] = co_await read_up(buf, sizeof buf, up_.timeouts.request);
    if (ec) co_return co_await fail(ec == beast::error::timeout ? 504 : 502,
                                    ec == beast::error::timeout ? kUpstreamTimeout : kUpstreamUnavailable,
                                    "Upstream failed during initialize", ec.message());
    body.append(buf, got);
    if (body.size() > kMaxBuffered) co_return co_await fail(502, kUpstreamUnavailable, "Upstream answer too large", "initialize");
    if (sse) {
      if (!parser.feed(std::string_view(buf, got), events))
        co_return co_await fail(502, kUpstreamUnavailable, "Upstream answer too large", "initialize event");
      for (const auto& ev : events) {
        nlohmann::json m;
        if (!ev.data.empty() && parse_json_strict(ev.data, m) && m.is_object() && m.contains("result")) {
          answered = true;
          if (m["result"].is_object() && m["result"].contains("protocolVersion") &&
              m["result"]["protocolVersion"].is_string())
            negotiated = m["result"]["protocolVersion"].get<std::string>();
        }
      }
      events.clear();
    }
  }
  if (!sse) {
    nlohmann::json m;
    if (parse_json_strict(body, m) && m.is_object() && m.contains("result") && m["result"].is_object() &&
        m["result"].contains("protocolVersion") && m["result"]["protocolVersion"].is_string())
      negotiated = m["result"]["protocolVersion"].get<std::string>();
  }
  unsigned status = rp_->get().result_int();
  auto dh = downstream_header(status);
  http::response<http::string_body> res{dh.result(), 11};
  for (const auto& f : dh) res.set(f.name_string(), f.value());
  std::string usid = header(rp_->get(), "Mcp-Session-Id");
  if (!usid.empty()) {
    SessionClaims claims{up_.name, usid, ctx_.principal_key,
                         negotiated.empty() ? ctx_.protocol_version : negotiated, unix_now()};
    res.set("Mcp-Session-Id", c_.runtime->sealer->seal(claims));
  }
  res.keep_alive(ctx_.keep_alive);
  res.body() = std::move(body);
  ctx_.status = status;
  if (rp_->is_done()) finish_upstream();
  else uc_.reset();  // a stream left open after the answer: drop it
  header_sent_ = true;
  bool ok = co_await send_response(c_, res);
  co_return ok && ctx_.keep_alive;
}

}  // namespace

Awaitable<bool> watch_client(Conn& c) {
  for (;;) {
    if (c.buffer.size() > 64 * 1024) {
      net::steady_timer t(co_await net::this_coro::executor, std::chrono::hours(24 * 365));
      co_await t.async_wait(kNoThrow);
      co_return false;
    }
    auto [ec, n] = co_await c.stream.visit([&](auto& s) { return s.async_read_some(c.buffer.prepare(1024), kNoThrow); });
    if (ec) co_return ec != net::error::operation_aborted;
    c.buffer.commit(n);
  }
}

namespace {

// Tells the upstream that the client gave up (MCP cancellation), on a fresh
// exchange that no client waits for.
Awaitable<void> send_cancellations(Worker& w, RuntimePtr rt, config::UpstreamConfig up, std::string usid,
                                   std::string version, std::vector<nlohmann::json> ids, std::string reason) {
  auto& pool = w.pool(up);
  for (const auto& id : ids) {
    auto [conn, err] = co_await pool.acquire();
    if (!conn) co_return;
    http::request<http::string_body> req{http::verb::post, up.target, 11};
    req.set(http::field::host, host_header(up));
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json, text/event-stream");
    if (!usid.empty()) req.set("Mcp-Session-Id", usid);
    if (!version.empty()) req.set("MCP-Protocol-Version", version);
    nlohmann::json note = {{"jsonrpc", "2.0"},
                           {"method", "notifications/cancelled"},
                           {"params", {{"requestId", id}, {"reason", reason}}}};
    req.body() = note.dump();
    req.keep_alive(true);
    req.prepare_payload();
    conn->stream.tcp().expires_after(up.timeouts.request);
    auto [wec, wn] = co_await conn->stream.visit([&](auto& s) { return http::async_write(s, req, kNoThrow); });
    if (wec) co_return;
    http::response<http::string_body> res;
    auto [rec, rn] = co_await conn->stream.visit(
        [&](auto& s) { return http::async_read(s, conn->buffer, res, kNoThrow); });
    if (rec) co_return;
    if (res.keep_alive()) pool.release(std::move(conn));
  }
  (void)rt;
}

}  // namespace

Awaitable<bool> forward(Conn& c, RequestContext& ctx, Request& req) {
  Exchange x(c, ctx, req);
  // The watcher's read must not time out: writes set their own deadline.
  c.stream.tcp().expires_never();
  auto outcome = co_await (x.run() || watch_client(c));
  if (outcome.index() == 0) {
    // 2026-07-28: closing the upstream stream (done by the cut) is the cancellation.
    if (!x.killed_ids().empty() && !ctx.modern)
      net::co_spawn(c.worker.ioc(),
                    send_cancellations(c.worker, c.runtime, *ctx.upstream, x.upstream_session(),
                                       ctx.protocol_version, x.killed_ids(), "stopped by a kill switch"),
                    net::detached);
    co_return std::get<0>(outcome);
  }

  // The client went away mid-request.
  auto ids = x.request_ids();
  log::info("client disconnected", {{"request_id", ctx.request_id}, {"upstream", ctx.upstream->name},
                                    {"cancelled_requests", ids.size()}});
  // 2026-07-28 has no notifications/cancelled on HTTP: closing the upstream
  // stream (done as the exchange is torn down) is the cancellation.
  if (!ids.empty() && !ctx.modern)
    net::co_spawn(c.worker.ioc(),
                  send_cancellations(c.worker, c.runtime, *ctx.upstream, x.upstream_session(),
                                     ctx.protocol_version, std::move(ids), "client disconnected"),
                  net::detached);
  co_return false;
}

}  // namespace portcullis::gateway
