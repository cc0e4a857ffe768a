// The legacy HTTP+SSE transport (MCP 2024-11-05): the agent's SSE stream is
// the upstream's, relayed event by event, with three changes: its endpoint
// event names a gateway URL with a sealed handle (legacy_endpoint.h), answers
// to tools/list are filtered for the agent, and the answers the gateway gives
// itself (policy refusals of POSTed calls) are written into it. A POST is
// forwarded to the upstream's message endpoint only after the same stages as
// a Streamable HTTP POST (connection.cc).
#include "gateway/legacy_sse.h"

#include <openssl/rand.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <optional>

#include "gateway/await_callback.h"
#include "gateway/errors.h"
#include "gateway/http_fields.h"
#include "gateway/http_rules.h"
#include "gateway/legacy_endpoint.h"
#include "gateway/legacy_route.h"
#include "gateway/log.h"
#include "gateway/policy_stage.h"
#include "gateway/session_sealer.h"
#include "gateway/sse_parser.h"
#include "gateway/upstream_request.h"

namespace portcullis::gateway {

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t kRelayChunk = 4096;  // as proxy.cc: a thousand streams fit in a few MB
// Events queued for a slow agent: beyond this the upstream is not read further
// (its TCP window then pushes back), so a stream never buffers without bound.
constexpr std::size_t kMaxQueued = 256 * 1024;
// Queued bytes beyond which an answer delivered from a POST cuts the stream
// instead: its agent does not read it.
constexpr std::size_t kMaxDelivered = 1024 * 1024;
constexpr std::size_t kMaxPostAnswer = 64 * 1024;  // an upstream's answer to a POST ("Accepted")

// Names this process in handles: a handle another replica sealed (with a
// shared session key) names a stream that is not here.
const std::string& instance_nonce() {
  static const std::string nonce = [] {
    unsigned char b[8];
    RAND_bytes(b, sizeof b);
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned char x : b) {
      s += hex[x >> 4];
      s += hex[x & 15];
    }
    return s;
  }();
  return nonce;
}

std::atomic<std::uint64_t> next_stream_id{0};

// Copies the agent's trace context to an upstream request; nothing else of
// what the agent sent (its Authorization least of all) goes upstream.
void copy_trace_headers(const Request& from, http::request<http::string_body>& to) {
  for (auto name : {"traceparent", "tracestate"}) {
    auto v = header(from, name);
    if (!v.empty()) to.set(name, v);
  }
}

// Why an upstream exchange failed, and what the agent is told.
struct Failure {
  unsigned status;
  int code;
  std::string message;
  std::string detail;       // for the log
  std::string error_class;  // for metrics and the outcome record
};

Awaitable<bool> reply_failure(Conn& c, RequestContext& ctx, const Failure& f) {
  ctx.error_class = f.error_class;
  if (auto* m = c.runtime->metrics) m->upstream_error(ctx.upstream->name, f.error_class);
  log::warn("upstream failure", {{"request_id", ctx.request_id}, {"upstream", ctx.upstream->name},
                                 {"transport", "sse"}, {"status", f.status}, {"detail", f.detail}});
  co_return co_await send_rpc_error(c, ctx, f.status, ctx.rpc.first_id(), f.code, f.message, ctx.keep_alive);
}

// One request to the upstream with the gateway's credential: the same single
// retries as proxy.cc (a kept-alive connection the upstream had closed; a
// fresh credential after a 401).
class UpstreamCall {
 public:
  UpstreamCall(Conn& c, RequestContext& ctx)
      : c_(c), ctx_(ctx), up_(*ctx.upstream), pool_(c.worker.pool(up_)) {}

  // Sends `req` and reads the answer's header; nullopt when it arrived (any
  // status but 401/403, which are the upstream refusing our credential).
  Awaitable<std::optional<Failure>> open(http::request<http::string_body>& req, bool fresh_connection);
  Awaitable<std::pair<error_code, std::size_t>> read_some(char* buf, std::size_t size, std::chrono::milliseconds t);
  http::response_parser<http::buffer_body>& response() { return *rp_; }
  UpstreamConn* connection() { return uc_.get(); }
  // Back to the pool when the answer was read whole, else dropped.
  void finish() {
    if (uc_ && rp_ && rp_->is_done() && rp_->keep_alive()) pool_.release(std::move(uc_));
    uc_.reset();
  }

 private:
  Awaitable<std::optional<Failure>> attach_credential(http::request<http::string_body>& req);

  Conn& c_;
  RequestContext& ctx_;
  const config::UpstreamConfig& up_;
  UpstreamPool& pool_;
  UpstreamConnPtr uc_;
  std::optional<http::response_parser<http::buffer_body>> rp_;
  credentials::Provider* provider_ = nullptr;
  std::optional<credentials::Credential> credential_;
};

Awaitable<std::optional<Failure>> UpstreamCall::attach_credential(http::request<http::string_body>& req) {
  if (up_.credential.empty()) co_return std::nullopt;
  auto* reg = c_.runtime->credentials.get();
  provider_ = reg ? reg->find(up_.credential) : nullptr;
  if (!provider_)
    co_return Failure{502, kCredentialUnavailable, "Bad gateway: no credential could be obtained for the upstream",
                      "provider not found", "credential"};
  auto identity = call_identity(ctx_);
  auto* provider = provider_;
  auto get = [provider, &identity](auto done) { provider->get(identity, std::move(done)); };
  auto r = co_await await_callback<credentials::CredentialResult>(std::move(get));
  if (!r) {
    if (r.error().code == credentials::CredentialError::Code::kSubjectExpired)
      co_return Failure{401, kUnauthorized, "Unauthorized: the agent's token has expired", r.error().message,
                        "credential"};
    co_return Failure{502, kCredentialUnavailable, "Bad gateway: no credential could be obtained for the upstream",
                      r.error().message, "credential"};
  }
  credential_ = std::move(r.value());
  req.set(credential_->header, credential_->value->reveal());
  co_return std::nullopt;
}

Awaitable<std::optional<Failure>> UpstreamCall::open(http::request<http::string_body>& req, bool fresh_connection) {
  auto attached = co_await attach_credential(req);
  if (attached) co_return attached;
  bool credential_retried = false;
  for (int attempt = 0;; ++attempt) {
    auto [conn, err] = co_await pool_.acquire(fresh_connection || attempt > 0);
    if (!conn) co_return Failure{502, kUpstreamUnavailable, "Bad gateway: upstream unavailable", err, "connect"};
    uc_ = std::move(conn);
    rp_.emplace();
    rp_->body_limit(boost::none);  // streams are unbounded; idle timeouts bound them
    uc_->stream.tcp().expires_after(up_.timeouts.request);
    auto [wec, wn] = co_await uc_->stream.visit([&](auto& s) { return http::async_write(s, req, kNoThrow); });
    bool reused = uc_->reused;
    if (wec) {
      if (reused && attempt == 0) continue;
      co_return Failure{502, kUpstreamUnavailable, "Bad gateway: upstream unavailable", wec.message(), "connect"};
    }
    auto [rec, rn] = co_await uc_->stream.visit(
        [&](auto& s) { return http::async_read_header(s, uc_->buffer, *rp_, kNoThrow); });
    if (rec) {
      // A kept-alive connection closed just as we reused it: never read, so
      // sending once more is safe.
      if (reused && attempt == 0 && rn == 0 &&
          (rec == http::error::end_of_stream || rec == net::error::connection_reset || rec == net::error::eof))
        continue;
      uc_.reset();
      if (rec == beast::error::timeout)
        co_return Failure{504, kUpstreamTimeout, "Gateway timeout: upstream timed out", "no response header in time",
                          "timeout"};
      co_return Failure{502, kUpstreamUnavailable, "Bad gateway: upstream sent an invalid response", rec.message(),
                        "connect"};
    }
    if (rp_->get().result_int() == 401 && provider_ && !credential_retried) {
      credential_retried = true;
      auto identity = call_identity(ctx_);
      provider_->invalidate(identity, credential_ ? &*credential_ : nullptr);
      uc_.reset();
      auto again = co_await attach_credential(req);
      if (again) co_return again;
      attempt = -1;
      continue;
    }
    break;
  }
  unsigned status = rp_->get().result_int();
  if (status == 401 || status == 403) {
    // The upstream refused the gateway's own credential; its challenge is not
    // the agent's business (the agent authenticates to Portcullis only).
    uc_.reset();
    co_return Failure{502, kUpstreamRejected, "Bad gateway: upstream refused the gateway's credentials",
                      "upstream status " + std::to_string(status), "upstream_error"};
  }
  co_return std::nullopt;
}

Awaitable<std::pair<error_code, std::size_t>> UpstreamCall::read_some(char* buf, std::size_t size,
                                                                      std::chrono::milliseconds t) {
  auto& body = rp_->get().body();
  body.data = buf;
  body.size = size;
  uc_->stream.tcp().expires_after(t);
  auto [ec, n] =
      co_await uc_->stream.visit([&](auto& s) { return http::async_read_some(s, uc_->buffer, *rp_, kNoThrow); });
  if (ec == http::error::need_buffer) ec = {};
  ctx_.result_bytes += size - body.size;
  co_return std::pair{ec, size - body.size};
}

}  // namespace

// One agent's legacy SSE stream, in the coroutine frame of its GET, on one
// worker. Other connections reach it only through Worker::legacy_stream on
// this worker's thread (on_stream below), so its state needs no lock.
class LegacyStream {
 public:
  LegacyStream(Conn& c, RequestContext& ctx, Request& req)
      : c_(c), ctx_(ctx), req_(req), up_(*ctx.upstream), call_(c, ctx),
        wake_(c.worker.ioc(), std::chrono::steady_clock::time_point::max()),
        space_(c.worker.ioc(), std::chrono::steady_clock::time_point::max()) {}

  Awaitable<bool> run();

  // For POSTs, on this worker's thread. A handle names this stream only when
  // sealed for its route and identity (checked again here: defence in depth).
  bool belongs_to(const LegacyHandle& h) const {
    return h.upstream == up_.name && h.principal == ctx_.principal_key && !closing();
  }
  // A request was forwarded: its answer is expected on this stream (filtered
  // with `list_policy` when it is a tools/list and a policy is loaded).
  void expect(const nlohmann::json& id, policy::PolicySnapshotPtr list_policy) {
    pending_[id.dump()] = Pending{id, std::move(list_policy)};
  }
  void forget(const nlohmann::json& id) { pending_.erase(id.dump()); }
  // An answer the gateway gives itself (a JSON-RPC message or, for a batch, an array of them).
  void deliver(const std::string& json);
  // Events the gateway adds while a POSTed call is held (a keepalive comment,
  // progress): expendable, so dropped rather than queued behind a slow agent.
  void notify(std::string events) {
    if (closing() || queued_ > kMaxQueued) return;
    enqueue(std::move(events));
  }

 private:
  struct Pending {
    nlohmann::json id;
    policy::PolicySnapshotPtr list_policy;  // null: relay as is
  };

  bool closing() const { return ended_ || writer_done_ || cut_; }
  void enqueue(std::string event) {
    queued_ += event.size();
    outbox_.push_back(std::move(event));
    wake_.cancel();
  }
  void cut();
  Awaitable<std::optional<Failure>> read_endpoint(std::string& message_target, std::vector<SseEvent>& early);
  // The agent's endpoint event for the upstream's message target.
  std::string endpoint_for(std::string message_target) const;
  std::optional<std::string> endpoint_event(std::string_view data) const;
  void relay_event(SseEvent& ev);
  Awaitable<void> pump_upstream();
  Awaitable<void> pump_outbox();

  Conn& c_;
  RequestContext& ctx_;
  Request& req_;
  const config::UpstreamConfig& up_;
  UpstreamCall call_;
  std::uint64_t id_ = 0;
  SseParser parser_;
  std::map<std::string, Pending> pending_;  // by id.dump()
  std::deque<std::string> outbox_;
  std::size_t queued_ = 0;
  bool ended_ = false;        // the upstream side is done; the writer flushes and ends
  bool writer_done_ = false;  // the agent side is gone
  bool cut_ = false;
  // Condition variables of one thread: a waiter waits on a timer that never
  // expires; a notifier cancels the wait.
  net::steady_timer wake_;   // outbox non-empty or ended_
  net::steady_timer space_;  // outbox drained below kMaxQueued, or writer_done_
};

void LegacyStream::cut() {
  if (cut_) return;
  cut_ = true;
  error_code ignored;
  c_.stream.tcp().socket().close(ignored);
  if (auto* uc = call_.connection()) uc->stream.tcp().socket().close(ignored);
}

void LegacyStream::deliver(const std::string& json) {
  if (closing()) return;
  if (queued_ > kMaxDelivered) {
    log::warn("legacy SSE stream cut: the agent does not read its answers",
              {{"request_id", ctx_.request_id}, {"upstream", up_.name}, {"queued_bytes", queued_}});
    cut();
    return;
  }
  nlohmann::json parsed;
  if (!json.empty() && json.front() == '[' && parse_json_strict(json, parsed) && parsed.is_array()) {
    for (const auto& m : parsed) enqueue(sse_message(m.dump()));  // a batch's answers, one event each
    return;
  }
  enqueue(sse_message(json));
}

std::string LegacyStream::endpoint_for(std::string message_target) const {
  LegacyHandle h;
  h.upstream = up_.name;
  h.principal = ctx_.principal_key;
  h.message_target = std::move(message_target);
  h.instance = instance_nonce();
  h.worker = static_cast<std::uint32_t>(c_.worker.index());
  h.stream = id_;
  h.issued_at = unix_now();
  return "event: endpoint\ndata: " + gateway_endpoint(up_.path, seal_legacy_handle(*c_.runtime->sealer, h)) +
         "\n\n";
}

std::optional<std::string> LegacyStream::endpoint_event(std::string_view data) const {
  auto target = resolve_upstream_endpoint(data, up_);
  if (!target) {
    log::warn("legacy SSE: the upstream's endpoint event is refused",
              {{"request_id", ctx_.request_id}, {"upstream", up_.name}, {"reason", target.error().message}});
    return std::nullopt;
  }
  return endpoint_for(std::move(*target));
}

void LegacyStream::relay_event(SseEvent& ev) {
  if (ev.type == "endpoint") {
    // Again mid-stream: rewritten like the first, or dropped (never passed
    // on: it names the upstream's session).
    if (auto e = endpoint_event(ev.data)) enqueue(std::move(*e));
    return;
  }
  if (!pending_.empty() && !ev.data.empty() && (ev.type.empty() || ev.type == "message")) {
    nlohmann::json m;
    if (parse_json_strict(ev.data, m) && m.is_object() && m.contains("id") &&
        (m.contains("result") || m.contains("error"))) {
      auto it = pending_.find(m["id"].dump());
      if (it != pending_.end()) {
        auto list_policy = std::move(it->second.list_policy);
        pending_.erase(it);
        if (list_policy && m.contains("result") && m["result"].is_object()) {
          filter_tools_list(*list_policy, *c_.runtime->policy_state, ctx_, m["result"]);
          enqueue(sse_message(m.dump(), ev.id));
          return;
        }
      }
    }
  }
  enqueue(std::move(ev.raw));
}

// Reads the upstream's first event, which must be `endpoint` (2024-11-05:
// "the server MUST send an endpoint event"), before the agent sees anything,
// so that a server of another kind gets the agent a 502 rather than a stream
// that never works. Events after it in the same read go to `early`.
Awaitable<std::optional<Failure>> LegacyStream::read_endpoint(std::string& message_target,
                                                              std::vector<SseEvent>& early) {
  auto deadline = std::chrono::steady_clock::now() + up_.timeouts.request;
  char buf[kRelayChunk];
  std::vector<SseEvent> events;
  while (!call_.response().is_done()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto [ec, got] = co_await call_.read_some(buf, sizeof buf, std::max(left, std::chrono::milliseconds(1)));
    if (ec == beast::error::timeout)
      co_return Failure{504, kUpstreamTimeout, "Gateway timeout: the upstream sent no endpoint event in time",
                        "no endpoint event", "timeout"};
    if (ec) co_return Failure{502, kUpstreamUnavailable, "Bad gateway: upstream closed the stream", ec.message(), "connect"};
    if (!parser_.feed(std::string_view(buf, got), events))
      co_return Failure{502, kUpstreamUnavailable, "Bad gateway: upstream sent an oversized event", "event too large",
                        "upstream_error"};
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].comment_only) continue;
      if (events[i].type != "endpoint")
        co_return Failure{502, kUpstreamUnavailable,
                          "Bad gateway: the upstream's stream did not start with an endpoint event (is it a legacy "
                          "HTTP+SSE server?)",
                          "first event: " + events[i].type, "upstream_error"};
      auto target = resolve_upstream_endpoint(events[i].data, up_);
      if (!target)
        co_return Failure{502, kUpstreamUnavailable, "Bad gateway: the upstream's endpoint event is refused",
                          target.error().message, "upstream_error"};
      message_target = std::move(*target);
      for (std::size_t j = i + 1; j < events.size(); ++j) early.push_back(std::move(events[j]));
      co_return std::nullopt;
    }
    events.clear();
  }
  co_return Failure{502, kUpstreamUnavailable, "Bad gateway: upstream ended the stream before its endpoint event",
                    "stream ended", "connect"};
}

Awaitable<bool> LegacyStream::run() {
  http::request<http::string_body> ureq{http::verb::get, up_.target, 11};
  ureq.set(http::field::host, host_header(up_));
  ureq.set(http::field::user_agent, "portcullis/0.1");
  ureq.set(http::field::accept, "text/event-stream");
  ureq.set(http::field::cache_control, "no-cache");
  ureq.set("X-Request-Id", ctx_.request_id);
  copy_trace_headers(req_, ureq);
  ureq.keep_alive(true);
  ureq.prepare_payload();
  ctx_.forwarded_at = std::chrono::steady_clock::now();
  // A stream holds its upstream connection for its whole life: a fresh one.
  auto opened = co_await call_.open(ureq, /*fresh_connection=*/true);
  if (opened) co_return co_await reply_failure(c_, ctx_, *opened);
  unsigned status = call_.response().get().result_int();
  ctx_.upstream_status = status;
  if (status != 200 || !is_event_stream(header(call_.response().get(), "Content-Type"))) {
    call_.finish();
    co_return co_await reply_failure(
        c_, ctx_,
        Failure{502, kUpstreamUnavailable,
                "Bad gateway: the upstream did not open an SSE stream (HTTP " + std::to_string(status) +
                    "); is it a legacy HTTP+SSE server?",
                "GET answered " + std::to_string(status), "upstream_error"});
  }
  if (auto* m = c_.runtime->metrics)
    m->upstream_latency(up_.name, std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx_.forwarded_at).count());

  std::string message_target;
  std::vector<SseEvent> early;
  auto no_endpoint = co_await read_endpoint(message_target, early);
  if (no_endpoint) co_return co_await reply_failure(c_, ctx_, *no_endpoint);

  // Registered: the kill switch cuts it, POSTs on any worker reach it.
  id_ = ++next_stream_id;
  auto& w = c_.worker;
  w.add_legacy_stream(id_, this);
  auto registered = w.add_stream({ctx_.principal, up_.name, {}, [this](const admin::KillSwitch&) { cut(); }});
  w.state().active_streams++;
  struct Unregister {
    Worker& w;
    std::uint64_t id;
    std::list<Worker::ActiveStream>::iterator it;
    ~Unregister() {
      w.remove_legacy_stream(id);
      w.remove_stream(it);
      w.state().active_streams--;
    }
  } unregister{w, id_, registered};

  // The endpoint event names the gateway (a path: SDK clients require the
  // stream's own origin), never the upstream's URL and session.
  std::string endpoint = endpoint_for(std::move(message_target));
  enqueue(std::move(endpoint));
  for (auto& ev : early) relay_event(ev);

  http::response<http::empty_body> dh{http::status::ok, 11};
  dh.set(http::field::content_type, "text/event-stream");
  dh.set(http::field::cache_control, "no-cache");
  dh.set("X-Accel-Buffering", "no");
  dh.set("X-Request-Id", ctx_.request_id);
  dh.keep_alive(false);
  dh.chunked(true);
  ctx_.status = 200;
  {
    http::response_serializer<http::empty_body> sr{dh};
    c_.stream.tcp().expires_after(up_.timeouts.request);
    auto [ec, n] = co_await c_.stream.visit([&](auto& s) { return http::async_write_header(s, sr, kNoThrow); });
    if (ec) co_return false;
  }
  log::info("legacy SSE stream open", {{"request_id", ctx_.request_id}, {"upstream", up_.name},
                                       {"agent", ctx_.principal ? ctx_.principal->agent_id : "anonymous"}});

  // Reads of the watcher must not time out; each write sets its own deadline.
  c_.stream.tcp().expires_never();
  co_await ((pump_upstream() && pump_outbox()) || watch_client(c_));
  log::info("legacy SSE stream closed", {{"request_id", ctx_.request_id}, {"upstream", up_.name},
                                         {"cut", cut_}, {"open_requests", pending_.size()}});
  co_return false;
}

Awaitable<void> LegacyStream::pump_upstream() {
  char buf[kRelayChunk];
  std::vector<SseEvent> events;
  bool timed_out = false;
  while (!call_.response().is_done()) {
    while (queued_ > kMaxQueued && !writer_done_) co_await space_.async_wait(kNoThrow);
    if (writer_done_) break;
    auto [ec, got] = co_await call_.read_some(buf, sizeof buf, up_.timeouts.stream_idle);
    if (ec) {
      timed_out = ec == beast::error::timeout;
      break;
    }
    events.clear();
    if (!parser_.feed(std::string_view(buf, got), events)) break;
    for (auto& ev : events) relay_event(ev);
  }
  if (!writer_done_ && !cut_) {
    log::warn("legacy SSE: the upstream's stream ended", {{"request_id", ctx_.request_id}, {"upstream", up_.name},
                                                          {"timed_out", timed_out}, {"open_requests", pending_.size()}});
    // Answer what the upstream left open, so no request waits forever.
    for (const auto& [key, p] : pending_)
      enqueue(sse_message(rpc_error_body(p.id, timed_out ? kUpstreamTimeout : kUpstreamUnavailable,
                                         timed_out ? "Upstream stream idle timeout"
                                                   : "Upstream closed the stream before responding")));
  }
  pending_.clear();
  call_.finish();
  ended_ = true;
  wake_.cancel();
}

Awaitable<void> LegacyStream::pump_outbox() {
  std::string out;
  for (;;) {
    if (!outbox_.empty()) {
      out.clear();
      while (!outbox_.empty() && out.size() < 64 * 1024) {
        out += outbox_.front();
        queued_ -= outbox_.front().size();
        outbox_.pop_front();
      }
      space_.cancel();
      c_.stream.tcp().expires_after(up_.timeouts.request);
      auto [ec, n] = co_await c_.stream.visit(
          [&](auto& s) { return net::async_write(s, http::make_chunk(net::buffer(out)), kNoThrow); });
      if (ec) break;
      continue;
    }
    if (ended_) {
      c_.stream.tcp().expires_after(up_.timeouts.request);
      co_await c_.stream.visit([&](auto& s) { return net::async_write(s, http::make_chunk_last(), kNoThrow); });
      co_return;
    }
    co_await wake_.async_wait(kNoThrow);
  }
  // The agent is gone: stop reading the upstream too.
  writer_done_ = true;
  outbox_.clear();
  queued_ = 0;
  space_.cancel();
  error_code ignored;
  if (auto* uc = call_.connection()) uc->stream.tcp().socket().close(ignored);
}

namespace {

// Runs f(stream) on the worker holding the handle's stream and resumes here
// once it ran: false when that stream is gone (or on another replica).
template <class F>
Awaitable<bool> on_stream(Conn& c, const LegacyHandle& h, F& f) {
  if (h.instance != instance_nonce()) co_return false;
  const auto& workers = c.worker.state().workers;
  if (h.worker >= workers.size()) co_return false;
  Worker* w = workers[h.worker];
  auto run = [w, &h, &f]() {
    LegacyStream* s = w->legacy_stream(h.stream);
    if (!s || !s->belongs_to(h)) return false;
    f(*s);
    return true;
  };
  if (w == &c.worker) co_return run();
  // Named, capturing by reference: this frame lives until `done` resumes it.
  auto start = [w, &run](auto done) { net::post(w->ioc(), [&run, done = std::move(done)]() mutable { done(run()); }); };
  co_return co_await await_callback<bool>(std::move(start));
}

Awaitable<bool> session_gone(Conn& c, RequestContext& ctx) {
  co_return co_await send_rpc_error(c, ctx, 404, ctx.rpc.first_id(), kSessionNotFound,
                                    "Session not found: its SSE stream is closed (open GET " + ctx.upstream->path +
                                        "/sse again)",
                                    ctx.keep_alive);
}

Awaitable<bool> send_accepted(Conn& c, RequestContext& ctx) {
  ctx.status = 202;
  http::response<http::string_body> res{http::status::accepted, 11};
  res.set("X-Request-Id", ctx.request_id);
  res.keep_alive(ctx.keep_alive);
  bool ok = co_await send_response(c, res);
  co_return ok && ctx.keep_alive;
}

// A POSTed message, admitted and decided: register the answers it expects with
// the stream, then hand it to the upstream's message endpoint.
Awaitable<bool> post_message(Conn& c, RequestContext& ctx, Request& req) {
  const LegacyHandle& h = *ctx.legacy->handle;
  const auto& up = *ctx.upstream;
  std::vector<std::pair<nlohmann::json, policy::PolicySnapshotPtr>> expected;
  for (const auto& m : ctx.rpc.messages)
    if (m.kind == RpcKind::kRequest)
      expected.emplace_back(m.id, m.method == "tools/list" ? c.runtime->policy : nullptr);
  auto expect = [&expected](LegacyStream& s) {
    for (const auto& [id, list_policy] : expected) s.expect(id, list_policy);
  };
  if (!co_await on_stream(c, h, expect)) co_return co_await session_gone(c, ctx);
  auto forget = [&expected](LegacyStream& s) {
    for (const auto& e : expected) s.forget(e.first);
  };

  http::request<http::string_body> ureq{http::verb::post, h.message_target, 11};
  ureq.set(http::field::host, host_header(up));
  ureq.set(http::field::user_agent, "portcullis/0.1");
  ureq.set(http::field::content_type, "application/json");
  ureq.set("X-Request-Id", ctx.request_id);
  auto version = header(req, "MCP-Protocol-Version");
  if (!version.empty()) ureq.set("MCP-Protocol-Version", version);
  copy_trace_headers(req, ureq);
  ureq.body() = std::move(req.body());
  ureq.keep_alive(true);
  ureq.prepare_payload();

  UpstreamCall call(c, ctx);
  ctx.forwarded_at = std::chrono::steady_clock::now();
  auto failed = co_await call.open(ureq, false);
  if (failed) {
    if (!expected.empty()) co_await on_stream(c, h, forget);
    co_return co_await reply_failure(c, ctx, *failed);
  }
  unsigned status = call.response().get().result_int();
  ctx.upstream_status = status;
  if (auto* m = c.runtime->metrics)
    m->upstream_latency(up.name, std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.forwarded_at).count());
  // The answer to a POST is a status ("Accepted"): read it to reuse the connection.
  char buf[kRelayChunk];
  std::size_t total = 0;
  while (!call.response().is_done() && total <= kMaxPostAnswer) {
    auto [ec, got] = co_await call.read_some(buf, sizeof buf, up.timeouts.request);
    if (ec) break;
    total += got;
  }
  call.finish();
  if (status >= 200 && status < 300) co_return co_await send_accepted(c, ctx);

  if (!expected.empty()) co_await on_stream(c, h, forget);
  if (status == 404)
    co_return co_await reply_failure(c, ctx, Failure{404, kSessionNotFound,
                                                     "Session not found: the upstream no longer knows this session",
                                                     "upstream status 404", "upstream_error"});
  if (status >= 500)
    co_return co_await reply_failure(c, ctx, Failure{502, kUpstreamUnavailable,
                                                     "Bad gateway: the upstream failed on the message (HTTP " +
                                                         std::to_string(status) + ")",
                                                     "upstream status " + std::to_string(status), "upstream_error"});
  co_return co_await reply_failure(c, ctx, Failure{status, kBadRequest,
                                                   "The upstream refused the message (HTTP " + std::to_string(status) + ")",
                                                   "upstream status " + std::to_string(status), "upstream_error"});
}

}  // namespace

Awaitable<bool> legacy_refuse(Conn& c, RequestContext& ctx, const http::request_header<>& h, bool& replied) {
  auto method = h.method_string();
  auto refusal = legacy_refusal(LegacyRoute{ctx.upstream, ctx.legacy->path}, std::string_view(method.data(), method.size()));
  if (!refusal) co_return true;
  replied = true;
  Headers extra;
  if (!refusal->allow.empty()) extra.emplace_back("Allow", refusal->allow);
  co_return co_await send_rpc_error(c, ctx, refusal->status, nullptr, kBadRequest, refusal->message, ctx.keep_alive,
                                    extra);
}

Awaitable<bool> legacy_admit(Conn& c, RequestContext& ctx, const http::request_header<>& h, bool& replied) {
  // No revision header: the legacy transport's own (no JSON-RPC batches).
  if (header(h, "MCP-Protocol-Version").empty()) ctx.protocol_version = std::string(kLegacyProtocolVersion);
  if (ctx.legacy->path != LegacyPath::kMessages) co_return true;
  std::string_view target(h.target().data(), h.target().size());
  auto handle = endpoint_handle(target);
  if (handle.empty()) {
    replied = true;
    co_return co_await send_rpc_error(c, ctx, 400, nullptr, kBadRequest,
                                      "Bad Request: no session: POST to the URL the endpoint event of GET " +
                                          ctx.upstream->path + "/sse named",
                                      ctx.keep_alive);
  }
  const auto& cfg = *c.runtime->config;
  auto opened = open_legacy_handle(*c.runtime->sealer, handle,
                                   std::chrono::duration_cast<std::chrono::seconds>(cfg.server.session_ttl), unix_now());
  // Forged, expired, another route or another identity: all 404, as for
  // Mcp-Session-Id, so nothing tells a prober which it was.
  if (!opened || opened->upstream != ctx.upstream->name || opened->principal != ctx.principal_key) {
    if (opened && opened->principal != ctx.principal_key)
      log::warn("legacy SSE: a POST named another identity's session",
                {{"request_id", ctx.request_id}, {"upstream", ctx.upstream->name},
                 {"agent", ctx.principal ? ctx.principal->agent_id : "anonymous"}});
    replied = true;
    co_return co_await send_rpc_error(c, ctx, 404, nullptr, kSessionNotFound, "Session not found", ctx.keep_alive);
  }
  ctx.legacy->handle = std::move(opened.value());
  co_return true;
}

Awaitable<bool> legacy_reply(Conn& c, RequestContext& ctx, std::string answer) {
  if (!ctx.legacy->handle) co_return co_await session_gone(c, ctx);
  auto deliver = [&answer](LegacyStream& s) { s.deliver(answer); };
  if (!co_await on_stream(c, *ctx.legacy->handle, deliver)) co_return co_await session_gone(c, ctx);
  co_return co_await send_accepted(c, ctx);
}

Awaitable<bool> legacy_notify(Conn& c, RequestContext& ctx, std::string events) {
  if (!ctx.legacy->handle) co_return false;
  auto notify = [&events](LegacyStream& s) { s.notify(std::move(events)); };
  co_return co_await on_stream(c, *ctx.legacy->handle, notify);
}

Awaitable<bool> legacy_forward(Conn& c, RequestContext& ctx, Request& req) {
  if (req.method() == http::verb::get) {
    LegacyStream stream(c, ctx, req);
    co_return co_await stream.run();
  }
  co_return co_await post_message(c, ctx, req);
}

}  // namespace portcullis::gateway
