#include "gateway/server.h"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "config/loader.h"
#include "credentials/clock.h"
#include "credentials/embedded_vault.h"
#include "credentials/provider_registry.h"
#include "credentials/secret_resolver.h"
#include "credentials/vault_key.h"
#include "policy/policy_loader.h"
#include "admin/admin_api.h"
#include "admin/approvals.h"
#include "admin/file_state_store.h"
#include "admin/redis_limit_counter.h"
#include "admin/redis_state_store.h"
#include "admin/inventory.h"
#include "admin/kill_switches.h"
#include "audit/reader.h"
#include "gateway/admin_session.h"
#include "gateway/control_loop.h"
#include "gateway/log.h"
#include "gateway/preflight.h"
#include "gateway/redis_client.h"
#include "gateway/shared_state_status.h"
#include "gateway/worker.h"

namespace portcullis::gateway {
namespace {

using namespace std::chrono_literals;

bool same(const config::SecretRef& a, const config::SecretRef& b) { return a.kind == b.kind && a.value == b.value; }
bool same(const std::optional<config::Endpoint>& a, const std::optional<config::Endpoint>& b) {
  if (!a || !b) return a.has_value() == b.has_value();
  return a->host == b->host && a->port == b->port;
}

// The settings a running gateway keeps from its start (listeners, threads,
// the audit log, the state store, the pin file): a reload that changes them
// takes the rest and names these, so nobody believes they took effect.
std::vector<std::string> restart_only_changes(const config::Config& was, const config::Config& now) {
  std::vector<std::string> out;
  auto note = [&](bool changed, const char* key) {
    if (changed) out.emplace_back(key);
  };
  note(!same(std::optional(was.server.listen), std::optional(now.server.listen)), "server.listen");
  note(was.server.threads != now.server.threads, "server.threads");
  note(!same(was.admin.listen, now.admin.listen), "admin.listen");
  note(was.admin.state_file != now.admin.state_file, "admin.state_file");
  note(was.policy.pins_file != now.policy.pins_file, "policy.pins_file");
  const auto &a = was.audit, &b = now.audit;
  note(a.dir != b.dir, "audit.dir");
  note(a.fail_open != b.fail_open, "audit.on_failure");
  note(!same(a.signing_key, b.signing_key), "audit.signing_key");
  note(a.checkpoint_records != b.checkpoint_records || a.checkpoint_interval != b.checkpoint_interval,
       "audit.checkpoint_every");
  note(a.segment_bytes != b.segment_bytes || a.segment_age != b.segment_age, "audit.segment");
  note(a.queue_limit != b.queue_limit, "audit.queue_limit");
  note(a.group_commit_delay != b.group_commit_delay || a.group_commit_records != b.group_commit_records,
       "audit.group_commit");
  const auto &s = was.state, &t = now.state;
  note(s.backend != t.backend || s.url != t.url || s.host != t.host || s.port != t.port || s.db != t.db ||
           s.username != t.username || s.prefix != t.prefix || s.connect_timeout != t.connect_timeout ||
           s.command_timeout != t.command_timeout || !same(s.password, t.password),
       "state");
  return out;
}

}  // namespace

// What the metrics collector last added per JWKS issuer and credentials
// provider, for the runtime generation it last saw.
struct FetchCountsSeen {
  std::mutex mu;
  const Runtime* runtime = nullptr;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> counts;  // ok, failed
};

struct Server::Impl {
  config::ConfigPtr config;
  std::string config_path;
  GatewayState state;
  std::vector<std::unique_ptr<Worker>> workers;
  // state: redis: each worker's rate-limit link and counters (on the
  // worker's loop). After `workers`, so destroyed before them (the links
  // need their io_context); the links before the counters they call.
  std::vector<std::unique_ptr<admin::RedisLimitCounter>> worker_limits;
  std::vector<std::unique_ptr<RedisClient>> worker_redis;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::signal_set> signals;
  std::shared_ptr<const SessionSealer> random_sealer;  // kept across reloads
  std::uint64_t generation = 0;
  std::size_t next_worker = 0;
  std::atomic<bool> reloading{false};
  ControlLoop control;  // background HTTP (JWKS, token endpoints) and timers
  PolicyState policy_state;  // tool pins and rate-limit counters outlive reloads
  std::unique_ptr<audit::AuditLog> audit;  // opened once; a reload cannot move it
  // The vault of the current generation; older runtimes' registries keep
  // theirs alive through Runtime::vault.
  std::shared_ptr<credentials::EmbeddedVault> vault;

  // Operations state: outlives reloads. Admin requests run on their own worker.
  std::unique_ptr<admin::StateStore> state_store;
  std::unique_ptr<admin::KillSwitches> kills;
  std::unique_ptr<admin::Approvals> approvals;
  std::unique_ptr<admin::Inventory> inventory;
  std::unique_ptr<admin::AdminApi> admin_api;
  std::unique_ptr<admin::Metrics> metrics;
  std::unique_ptr<Worker> admin_worker;
  std::unique_ptr<tcp::acceptor> admin_acceptor;
  std::shared_ptr<const AdminHandler> admin_handler;
  // Admin API requests that may block (admin_session.h); two threads so a
  // reload waiting for its validation never delays a kill switch.
  net::thread_pool admin_blocking{2};
  RuntimePtr current;  // the newest generation (admin worker reads it for rotate/readyz)
  std::mutex current_mu;
  // `state: { backend: redis }`. Last member: destroyed (stopped and joined)
  // first, since its thread calls into the store, kills and approvals above.
  std::unique_ptr<RedisClient> redis;

  Status start_admin();
  Result<std::unique_ptr<admin::StateStore>> open_state_store();
  void wait_for_first_sync();
  Awaitable<void> admin_accept_loop();
  void on_kill_change();
  void expire_approvals();

  Result<RuntimePtr> build_runtime(config::ConfigPtr cfg);
  Awaitable<void> accept_loop();
  void on_signal(int sig);
  // Loads and validates the config file off the I/O threads, then swaps it
  // in. The future resolves once the new version is accepted (its summary)
  // or rejected (why); serving it follows.
  std::future<Result<nlohmann::json>> reload();
  void drain();
  Worker& main_worker() { return *workers[0]; }
};

Result<RuntimePtr> Server::Impl::build_runtime(config::ConfigPtr cfg) {
  auto rt = std::make_shared<Runtime>();
  rt->config = cfg;
  rt->generation = ++generation;
  // Secrets come from the vault when the config names one. Every secret and
  // file the config names is checked at once (as `portcullis check` does),
  // so that one start or reload reports every problem.
  auto opened_vault = open_vault(*cfg);
  if (auto problems = preflight_secrets_and_files(*cfg, opened_vault); !problems.empty())
    return Err(join_problems(problems));
  auto vault = opened_vault.value();
  rt->vault = vault;
  credentials::SecretResolver resolver(vault.get());

  const auto& sk = cfg->server.session_key;
  if (sk.empty()) {
    if (!random_sealer) {
      random_sealer = std::make_shared<SessionSealer>(SessionSealer::random_key());
      log::warn("server.session_key is not set: using a random key; sessions will not survive a restart "
                "or span replicas");
    }
    rt->sealer = random_sealer;
  } else {
    auto secret = resolver.resolve(sk, "server.session_key");
    if (!secret) return Err(secret.error().message);
    SessionSealer::Key key{};
    if (!decode_session_key(std::string(secret->reveal()), key))
      return Err("server.session_key must be 32 bytes (raw, 64 hex digits or base64)");
    rt->sealer = std::make_shared<SessionSealer>(key);
    OPENSSL_cleanse(key.data(), key.size());
  }
  if (!cfg->credentials.providers.empty()) {
    credentials::ProviderEnv env{control, control, credentials::real_clock(), vault.get(), cfg->server.public_url};
    auto reg = credentials::ProviderRegistry::create(cfg->credentials, env);
    if (!reg) return Err(reg.error().message);
    rt->credentials = std::move(reg.value());
  }
  if (cfg->identity.enabled()) {
    identity::VerifierOptions opts;
    if (cfg->identity.introspection && !cfg->identity.introspection->client_secret.empty()) {
      auto secret = resolver.resolve(cfg->identity.introspection->client_secret,
                                     "identity.introspection.client_secret");
      if (!secret) return Err(secret.error().message);
      opts.introspection_secret = std::string(secret->reveal());
    }
    rt->verifier = std::make_shared<identity::TokenVerifier>(cfg->identity, cfg->agents, cfg->users, control, control,
                                                              std::move(opts));
    rt->verifier->start();
  }
  rt->policy_state = &policy_state;
  rt->audit = audit.get();
  rt->kills = kills.get();
  rt->approvals = approvals.get();
  rt->inventory = inventory.get();
  rt->metrics = metrics.get();
  rt->state = state_store.get();
  if (!cfg->policy.files.empty() && !audit)
    return Err("policy needs the audit log (audit.dir): no decision may go unrecorded");
  if (!cfg->policy.files.empty()) {
    policy::LoadOptions opts;
    opts.shadow = cfg->policy.shadow;
    for (const auto& up : cfg->upstreams) opts.known_upstreams.push_back(up.name);
    opts.catalog = &policy_state.catalog;
    auto loaded = policy::load_policy_files(cfg->policy.files, opts);
    if (!loaded) {
      std::string all;
      for (const auto& e : loaded.error()) all += (all.empty() ? "" : "; ") + e.to_string();
      return Err("policy: " + all);
    }
    for (const auto& w : loaded->warnings) log::warn("policy lint", {{"warning", w.to_string()}});
    rt->policy = loaded->snapshot;
    if (auto problems = preflight_clearances(*cfg, *rt->policy); !problems.empty())
      return Err(join_problems(problems));
    log::info("policy loaded", {{"version", rt->policy->version}, {"revision", rt->policy->revision},
                                {"shadow", cfg->policy.shadow}});
  }
  for (const auto& up : cfg->upstreams)
    if (up.auth_none)
      log::warn("AUTHENTICATION IS OFF for this route (`auth: none`): anyone who reaches it is served",
                {{"upstream", up.name}, {"path", up.path}});
  try {
    for (const auto& up : cfg->upstreams) rt->upstream_tls[up.name] = make_upstream_tls(up);
    if (cfg->server.tls) {
      auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
      ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
      ctx->use_certificate_chain_file(cfg->server.tls->cert_file);
      ctx->use_private_key_file(cfg->server.tls->key_file, ssl::context::pem);
      rt->server_tls = ctx;
    }
  } catch (const std::exception& e) {
    return Err(std::string("TLS setup: ") + e.what());
  }
  return RuntimePtr(std::move(rt));
}

Awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    Worker& w = *workers[next_worker];
    next_worker = (next_worker + 1) % workers.size();
    auto [ec, socket] = co_await acceptor->async_accept(w.ioc(), kNoThrow);
    if (ec == net::error::operation_aborted || !acceptor->is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      log::error("accept failed", {{"error", ec.message()}});
      net::steady_timer t(acceptor->get_executor(), 100ms);
      co_await t.async_wait(kNoThrow);
      continue;
    }
    if (state.active_connections.load() >= config->server.max_connections) {
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    net::post(w.ioc(), [&w, s = std::move(socket)]() mutable { spawn_connection(w, std::move(s)); });
  }
}

std::future<Result<nlohmann::json>> Server::Impl::reload() {
  auto verdict = std::make_shared<std::promise<Result<nlohmann::json>>>();
  auto answer = verdict->get_future();
  if (reloading.exchange(true)) {
    verdict->set_value(Err("a reload is already in progress"));
    return answer;
  }
  // Reading and validating files is blocking work: never on an I/O thread.
  std::thread([this, verdict] {
    auto loaded = config::load_config_file(config_path);
    if (!loaded) {
      nlohmann::json errs = nlohmann::json::array();
      std::string joined;
      for (const auto& e : loaded.error()) {
        errs.push_back(e.to_string());
        joined += (joined.empty() ? "" : "; ") + e.to_string();
      }
      log::error("reload rejected: the old configuration keeps serving", {{"errors", errs}});
      reloading = false;
      verdict->set_value(Err(std::move(joined)));
      return;
    }
    auto cfg = std::move(loaded.value());
    auto rt = build_runtime(cfg);
    if (!rt) {
      log::error("reload rejected: the old configuration keeps serving", {{"errors", {rt.error().message}}});
      reloading = false;
      verdict->set_value(Err(rt.error().message));
      return;
    }
    std::string serving;
    std::vector<std::string> restart;
    {
      std::lock_guard lk(current_mu);
      if (current) {
        serving = current->config->revision;
        restart = restart_only_changes(*current->config, *cfg);
      }
    }
    if (!restart.empty())
      log::warn("reload: these settings changed but take effect only after a restart; the running values stay",
                {{"settings", restart}});
    verdict->set_value(nlohmann::json{{"status", "accepted"},
                                      {"revision", cfg->revision},
                                      {"previous_revision", serving},
                                      {"generation", (*rt)->generation},
                                      {"restart_required", restart}});
    // Let the new generation fetch its keys before it serves.
    if (auto& v = (*rt)->verifier)
      for (int i = 0; i < 50 && !v->ready(); ++i) std::this_thread::sleep_for(100ms);
    net::post(main_worker().ioc(), [this, cfg, rt = *rt] {
      config = cfg;
      for (auto& w : workers) w->set_runtime(rt);
      if (admin_worker) admin_worker->set_runtime(rt);
      {
        std::lock_guard lk(current_mu);
        current = rt;
      }
      if (inventory) inventory->set_registered(cfg->agents);
      if (admin_api) admin_api->set_tokens(cfg->admin.tokens);
      if (audit) {
        audit::Record r;
        r.kind = audit::kind::kReload;
        r.fields = {{"config_revision", cfg->revision},
                    {"policy_revision", rt->policy ? rt->policy->revision : std::string()}};
        audit->append(std::move(r), [](const audit::AuditStatus&) {});
      }
      log::info("configuration reloaded", {{"revision", cfg->revision}, {"generation", rt->generation}});
      reloading = false;
    });
  }).detach();
  return answer;
}

void Server::Impl::drain() {
  if (state.draining.exchange(true)) return;
  log::info("draining", {{"active_connections", state.active_connections.load()}});
  error_code ignored;
  acceptor->close(ignored);
  if (admin_acceptor) net::post(admin_worker->ioc(), [this] {
    error_code e;
    admin_acceptor->close(e);
  });
  for (auto& w : workers) net::post(w->ioc(), [wp = w.get()] { wp->close_idle(); });
  auto deadline = std::chrono::steady_clock::now() + config->server.drain_timeout;
  net::co_spawn(
      main_worker().ioc(),
      [this, deadline]() -> Awaitable<void> {
        net::steady_timer t(co_await net::this_coro::executor);
        while (state.active_connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
          for (auto& w : workers) net::post(w->ioc(), [wp = w.get()] { wp->close_idle(); });
          t.expires_after(50ms);
          co_await t.async_wait(kNoThrow);
        }
        log::info("drained", {{"remaining_connections", state.active_connections.load()}});
        for (auto& w : workers) w->stop();
        control.stop();
      },
      net::detached);
}

void Server::Impl::on_signal(int sig) {
  if (sig == SIGHUP) {
    log::info("SIGHUP: reloading configuration");
    reload();
  } else {
    drain();
    return;  // no more signals wanted after drain starts, except a second one
  }
  signals->async_wait([this](error_code ec, int s) {
    if (!ec) on_signal(s);
  });
}

void Server::Impl::on_kill_change() {
  // Cut the open streams of every newly covered target, deny its held calls,
  // and make its cached upstream credentials unusable.
  auto index = kills->snapshot();
  for (auto& w : workers)
    net::post(w->ioc(), [wp = w.get(), k = kills.get()] {
      auto n = wp->cut_streams([k](const Worker::ActiveStream& s) {
        return k->matches_stream(s.principal.get(), s.upstream, s.tools);
      });
      if (n) log::warn("kill switch: streams cut", {{"worker", wp->index()}, {"streams", n}});
    });
  for (const auto& ks : index->switches()) {
    approvals->kill_matching(ks);
    if (ks.kind == admin::KillKind::kAgent) {
      std::lock_guard lk(current_mu);
      if (current && current->credentials) current->credentials->drop_agent(ks.target);
    }
  }
}

void Server::Impl::expire_approvals() {
  approvals->expire_due(std::chrono::system_clock::now());
  inventory->flush();  // shared inventory: one batch per tick
  auto t = std::make_shared<net::steady_timer>(admin_worker->ioc(), 250ms);
  t->async_wait([this, t](error_code ec) {
    if (!ec) expire_approvals();
  });
}

Awaitable<void> Server::Impl::admin_accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await admin_acceptor->async_accept(admin_worker->ioc(), kNoThrow);
    if (ec == net::error::operation_aborted || !admin_acceptor->is_open()) co_return;
    if (ec) {
      net::steady_timer t(admin_acceptor->get_executor(), 100ms);
      co_await t.async_wait(kNoThrow);
      continue;
    }
    spawn_admin_connection(*admin_worker, std::move(socket), admin_handler, admin_blocking.get_executor());
  }
}

Result<std::unique_ptr<admin::StateStore>> Server::Impl::open_state_store() {
  const auto& acfg = config->admin;
  std::unique_ptr<admin::StateStore> local;
  if (acfg.state_file.empty()) {
    local = std::make_unique<admin::MemoryStateStore>();
    if (!config->state.redis())
      log::warn("admin.state_file is not set: kill switches will not survive a restart");
    else
      log::warn("admin.state_file is not set: a replica that restarts while Redis is unreachable starts without "
                "the kill switches engaged elsewhere");
  } else {
    auto opened = admin::FileStateStore::open(acfg.state_file);
    if (!opened) return Err("admin.state_file: " + opened.error().message);
    local = std::move(opened.value());
  }
  if (!config->state.redis()) return local;

  const auto& sc = config->state;
  RedisClient::Options o;
  o.host = sc.host;
  o.port = sc.port;
  o.db = sc.db;
  o.username = sc.username;
  o.channel = sc.prefix + "events";
  o.connect_timeout = sc.connect_timeout;
  o.command_timeout = sc.command_timeout;
  if (!sc.password.empty()) {
    auto vault = open_vault(*config);
    if (!vault) return Err("state.password: " + vault.error().message);
    auto pw = credentials::SecretResolver(vault->get()).resolve(sc.password, "state.password");
    if (!pw) return Err(pw.error().message);
    o.password = std::string(pw->reveal());
  }
  if (state.instance == "portcullis")
    log::warn("state: several replicas share this Redis; give each its own PORTCULLIS_INSTANCE so that audit "
              "records and held calls name their replica");
  redis = std::make_unique<RedisClient>(o);
  admin::RedisStateStore::Options so;
  so.prefix = sc.prefix;
  so.replica = state.instance;
  so.command_timeout = sc.command_timeout;
  // A decided approval must outlive any call that could still be claimed.
  so.decided_keep = std::max<std::chrono::milliseconds>(
      std::chrono::hours(24),
      std::chrono::duration_cast<std::chrono::milliseconds>(config->admin.approval_timeout) + std::chrono::hours(1));
  auto store = std::make_unique<admin::RedisStateStore>(*redis, std::move(local), so);
  for (auto& w : workers) {
    RedisClient::Options wo = o;
    wo.channel.clear();  // commands only: pub/sub is the shared link's
    wo.loud = false;
    wo.name = "worker-" + std::to_string(w->index());
    worker_redis.push_back(std::make_unique<RedisClient>(std::move(wo), w->ioc()));
    worker_limits.push_back(
        std::make_unique<admin::RedisLimitCounter>(*worker_redis.back(), sc.prefix, store->shared_limits()));
    w->set_shared_limits(worker_limits.back().get());
  }
  OPENSSL_cleanse(o.password.data(), o.password.size());
  store->on_resync([](std::size_t republished, std::size_t lifts) {
    log::info("state: kill switches resynced with Redis", {{"republished", republished}, {"lifts_replayed", lifts}});
  });
  store->start();
  log::info("state: shared through Redis", {{"redis", sc.host + ":" + std::to_string(sc.port)}, {"db", sc.db},
                                            {"prefix", sc.prefix}, {"replica", state.instance}});
  return std::unique_ptr<admin::StateStore>(std::move(store));
}

// Fail closed at start: a replica that serves before it has learnt the kill
// switches engaged elsewhere would let a killed agent through. Waits up to
// the connect timeout; if Redis cannot be reached, it serves with what it
// has on disk (admin.state_file) and reports not ready.
void Server::Impl::wait_for_first_sync() {
  auto* rs = static_cast<admin::RedisStateStore*>(state_store.get());
  auto deadline = std::chrono::steady_clock::now() + config->state.connect_timeout + 500ms;
  while (rs->resyncs() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  if (rs->resyncs() == 0)
    log::error("STATE: Redis is UNREACHABLE at start: serving with the kill switches known locally "
               "(admin.state_file); approvals refused until it is reachable",
               {{"redis", config->state.host + ":" + std::to_string(config->state.port)}});
}

Status Server::Impl::start_admin() {
  const auto& acfg = config->admin;
  auto opened_store = open_state_store();
  if (!opened_store) return Err(opened_store.error());
  state_store = std::move(opened_store.value());
  kills = std::make_unique<admin::KillSwitches>(*state_store);
  admin::Approvals::Options aopts;
  aopts.ledger = state_store.get();
  approvals = std::make_unique<admin::Approvals>(aopts);
  inventory = std::make_unique<admin::Inventory>(config->agents);
  kills->on_change([this] { on_kill_change(); });
  if (state_store->shared()) {
    inventory->set_shared(state_store.get());
    policy_state.shared_limits = state_store->shared_limits();
    // Everything that listens to the store is registered: connect.
    redis->start();
    for (auto& link : worker_redis) link->start();
    wait_for_first_sync();
  }
  metrics->add_collector([this](admin::Metrics& m) {
    m.set_open_streams(static_cast<double>(state.active_streams.load()));
    m.set_held_approvals(static_cast<double>(approvals->pending_count()));
    m.set_kill_switches_engaged(static_cast<double>(kills->list().size()));
    if (state_store->shared()) m.set_shared_state_reachable(state_store->reachable());
    if (audit) m.audit_queue_depth(static_cast<double>(audit->stats().queue_depth));
  });
  // JWKS and credential fetches: the verifier and the providers count them;
  // each scrape adds what happened since the previous one. A reload builds a
  // new verifier and registry, whose counts start again from zero.
  metrics->add_collector([this, seen = std::make_shared<FetchCountsSeen>()](admin::Metrics& m) {
    RuntimePtr rt;
    {
      std::lock_guard lk(current_mu);
      rt = current;
    }
    if (!rt) return;
    std::lock_guard lk(seen->mu);
    if (rt.get() != seen->runtime) {
      seen->runtime = rt.get();
      seen->counts.clear();
    }
    auto add = [&](const std::string& key, std::uint64_t ok, std::uint64_t failed, auto&& count) {
      auto& last = seen->counts[key];
      count(ok - std::min(ok, last.first), failed - std::min(failed, last.second));
      last = {std::max(ok, last.first), std::max(failed, last.second)};
    };
    if (rt->verifier) {
      auto stats = rt->verifier->stats();
      const auto& issuers = rt->config->identity.issuers;
      for (std::size_t i = 0; i < stats.issuers.size() && i < issuers.size(); ++i) {
        const std::string& name = issuers[i].issuer;
        add("jwks " + name, stats.issuers[i].refreshes, stats.issuers[i].failures, [&](auto ok, auto failed) {
          m.jwks_refresh(name, true, ok);
          m.jwks_refresh(name, false, failed);
        });
      }
    }
    if (rt->credentials) {
      for (const auto& c : rt->credentials->counters()) {
        add("credential " + c.provider, c.stats.refreshes, c.stats.failures, [&](auto ok, auto failed) {
          m.credential_refresh(c.provider, true, ok);
          m.credential_refresh(c.provider, false, failed);
        });
      }
    }
  });
  if (!kills->list().empty())
    log::warn("kill switches in force from the state file", {{"count", kills->list().size()}});

  admin::AdminHooks hooks;
  hooks.decisions = [this](std::string_view agent, std::size_t limit) {
    nlohmann::json out = nlohmann::json::array();
    // The log opened at start: a reload that changes audit.dir does not move it.
    if (!audit) return out;
    audit::ReadFilter f;
    f.agent = std::string(agent);
    f.limit = limit;
    auto recs = audit::read_recent(audit->dir(), f);
    if (recs)
      for (auto& r : *recs) out.push_back(std::move(r));
    return out;
  };
  hooks.reload = [this]() -> Result<nlohmann::json> {
    // The admin thread waits for the verdict (reading and checking the files,
    // usually milliseconds) so that a rejected config answers 409; the swap
    // itself follows once the new identity keys are fetched.
    auto verdict = reload();
    if (verdict.wait_for(30s) != std::future_status::ready)
      return nlohmann::json{{"status", "started"}, {"note", "still validating after 30 s; see the log"}};
    return verdict.get();
  };
  hooks.rotate = [this](std::string_view name) -> Result<nlohmann::json> {
    RuntimePtr rt;
    {
      std::lock_guard lk(current_mu);
      rt = current;
    }
    if (!rt || !rt->credentials || !rt->credentials->find(name)) return Err("unknown provider: " + std::string(name));
    auto st = rt->credentials->rotate(name);
    if (!st) return Err(st.error().message);
    return nlohmann::json{{"provider", std::string(name)}, {"rotated", true}};
  };
  hooks.audit = [this](nlohmann::json record) {
    log::info("admin action", record);
    if (!audit) return;
    // The record's envelope carries the kind and the time; fields with the
    // envelope's names would make the log refuse the record.
    record.erase("type");
    for (auto it = record.begin(); it != record.end();)
      it = audit::is_reserved_field(it.key()) ? record.erase(it) : std::next(it);
    audit::Record r;
    r.kind = audit::kind::kAdminAction;
    r.fields = std::move(record);
    audit->append(std::move(r), [](const audit::AuditStatus& st) {
      if (!st) log::error("an admin action is missing from the audit log", {{"error", st.error().message}});
    });
  };
  hooks.tools = [this] {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& t : policy_state.catalog.all()) {
      list.push_back({{"upstream", t->upstream}, {"tool", t->name}, {"pinned_fingerprint", t->pinned_fingerprint},
                      {"seen_fingerprint", t->seen_fingerprint}, {"held", t->held()}, {"annotations", t->annotations}});
    }
    return nlohmann::json{{"tools", std::move(list)}, {"persisted", policy_state.pins != nullptr}};
  };
  hooks.accept_tool = [this](std::string_view upstream, std::string_view tool,
                             std::string_view fingerprint) -> Result<nlohmann::json> {
    RuntimePtr rt;
    {
      std::lock_guard lk(current_mu);  // `config` belongs to the main worker, which reloads swap on
      rt = current;
    }
    bool known = false;
    if (rt)
      for (const auto& up : rt->config->upstreams) known = known || up.name == upstream;
    if (!known) return Err("unknown upstream: " + std::string(upstream));
    bool released = policy_state.catalog.accept(upstream, tool, fingerprint);
    nlohmann::json out{{"upstream", upstream}, {"tool", tool}, {"fingerprint", fingerprint}, {"released", released},
                       {"persisted", false}};
    if (policy_state.pins) {
      if (auto saved = policy_state.pins->save_now(); !saved)
        return Err("the pin is in effect but not saved (a restart would lose it): " + saved.error().message);
      out["persisted"] = true;
    }
    return out;
  };
  admin_api = std::make_unique<admin::AdminApi>(acfg.tokens, *kills, *approvals, *inventory, std::move(hooks));

  admin_worker = std::make_unique<Worker>(-1, state);
  admin_handler = std::make_shared<const AdminHandler>([this](const admin::AdminRequest& req) {
    std::string_view path(req.target);
    path = path.substr(0, path.find('?'));
    if (req.method == "GET" && path == "/metrics") {
      admin::AdminResponse res;
      res.content_type = "text/plain; version=0.0.4";
      res.body = metrics->render();
      return res;
    }
    if (req.method == "GET" && (path == "/healthz" || path == "/readyz")) {
      RuntimePtr rt;
      {
        std::lock_guard lk(current_mu);
        rt = current;
      }
      bool keys = !rt || !rt->verifier || rt->verifier->ready();
      bool audit_ok = !audit || audit->healthy();
      bool shared_ok = !state_store->shared() || state_store->reachable();
      bool ready = path == "/healthz" || (!state.draining && keys && audit_ok && shared_ok);
      admin::AdminResponse res;
      res.status = ready ? 200 : 503;
      nlohmann::json body{{"status", ready ? "ok" : "not ready"}, {"keys_fetched", keys},
                          {"audit_writable", audit_ok}, {"draining", state.draining.load()}};
      if (state_store->shared()) body["shared_state"] = shared_state_status(*state_store, *kills);
      res.body = body.dump();
      return res;
    }
    return admin_api->handle(req);
  });
  if (acfg.listen) {
    error_code ec;
    auto addr = net::ip::make_address(acfg.listen->host == "localhost" ? "127.0.0.1" : acfg.listen->host, ec);
    if (ec) return Err("admin.listen: bad address");
    admin_acceptor = std::make_unique<tcp::acceptor>(admin_worker->ioc());
    tcp::endpoint ep(addr, acfg.listen->port);
    admin_acceptor->open(ep.protocol(), ec);
    if (!ec) admin_acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) admin_acceptor->bind(ep, ec);
    if (!ec) admin_acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Err("admin.listen: " + ec.message());
    net::co_spawn(admin_worker->ioc(), admin_accept_loop(), net::detached);
    log::info("admin listening", {{"address", admin_acceptor->local_endpoint().address().to_string()},
                                  {"port", admin_acceptor->local_endpoint().port()}});
  }
  net::post(admin_worker->ioc(), [this] { expire_approvals(); });
  return {};
}

Server::Server(config::ConfigPtr config, std::string config_path) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->config_path = std::move(config_path);
}

Server::~Server() = default;

int Server::run() {
  auto& d = *impl_;
  d.metrics = std::make_unique<admin::Metrics>();  // before the audit log, which reports to it
  int threads = d.config->server.threads > 0 ? d.config->server.threads
                                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) d.workers.push_back(std::make_unique<Worker>(i, d.state));
  for (auto& w : d.workers) d.state.workers.push_back(w.get());

  d.control.start();
  d.state.instance = std::getenv("PORTCULLIS_INSTANCE") ? std::getenv("PORTCULLIS_INSTANCE") : "portcullis";
  if (!d.config->audit.dir.empty()) {
    auto opts = audit::AuditLogOptions::from_config(d.config->audit, d.state.instance);
    if (!d.config->audit.signing_key.empty()) {
      auto vault = open_vault(*d.config);
      if (!vault) {
        log::error("cannot start", {{"error", vault.error().message}});
        return 1;
      }
      auto key = credentials::SecretResolver(vault->get()).resolve(d.config->audit.signing_key, "audit.signing_key");
      if (!key) {
        log::error("cannot start", {{"error", key.error().message}});
        return 1;
      }
      opts.signing_key = std::string(key->reveal());
    }
    opts.on_batch_written = [m = d.metrics.get()](std::chrono::nanoseconds took, std::size_t) {
      m->audit_write_latency(std::chrono::duration<double>(took).count());
    };
    auto opened = audit::AuditLog::open(std::move(opts));
    if (!opened) {
      log::error("cannot start: audit log", {{"error", opened.error().message}});
      return 1;
    }
    d.audit = std::move(opened.value());
    log::info("audit log open", {{"dir", d.config->audit.dir}, {"fail_open", d.config->audit.fail_open}});
  }
  if (const auto& pins_file = d.config->policy.pins_file; !pins_file.empty()) {
    auto pins = policy::PinFile::open(pins_file, d.policy_state.catalog, [](const Status& saved) {
      if (!saved) log::error("tool pins not saved: a restart would pin tools afresh", {{"error", saved.error().message}});
    });
    if (!pins) {
      log::error("cannot start: policy.pins_file", {{"error", pins.error().message}});
      return 1;
    }
    d.policy_state.pins = std::move(pins.value());
    log::info("tool pins loaded", {{"file", pins_file}, {"pins", d.policy_state.catalog.all().size()}});
  } else if (!d.config->policy.files.empty()) {
    log::warn("policy.pins_file is not set: tool pins last only as long as the process");
  }
  if (auto st = d.start_admin(); !st) {
    log::error("cannot start", {{"error", st.error().message}});
    return 1;
  }
  auto rt = d.build_runtime(d.config);
  if (!rt) {
    log::error("cannot start", {{"error", rt.error().message}});
    return 1;
  }
  for (auto& w : d.workers) w->set_runtime(*rt);
  d.admin_worker->set_runtime(*rt);
  d.current = *rt;

  const auto& listen = d.config->server.listen;
  error_code ec;
  auto addr = net::ip::make_address(listen.host == "localhost" ? "127.0.0.1" : listen.host, ec);
  if (ec) {
    log::error("cannot start: bad listen address", {{"listen", listen.host}});
    return 1;
  }
  d.acceptor = std::make_unique<tcp::acceptor>(d.main_worker().ioc());
  tcp::endpoint ep(addr, listen.port);
  d.acceptor->open(ep.protocol(), ec);
  if (!ec) d.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) d.acceptor->bind(ep, ec);
  if (!ec) d.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    log::error("cannot listen", {{"listen", listen.host + ":" + std::to_string(listen.port)}, {"error", ec.message()}});
    return 1;
  }

  d.signals = std::make_unique<net::signal_set>(d.main_worker().ioc(), SIGHUP, SIGTERM, SIGINT);
  d.signals->async_wait([&d](error_code e, int s) {
    if (!e) d.on_signal(s);
  });
  net::co_spawn(d.main_worker().ioc(), d.accept_loop(), net::detached);

  auto bound = d.acceptor->local_endpoint();
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& up : d.config->upstreams) routes.push_back(up.path + " -> " + up.url);
  log::info("listening", {{"address", bound.address().to_string()}, {"port", bound.port()},
                          {"tls", d.config->server.tls.has_value()}, {"workers", threads},
                          {"routes", routes}, {"config_revision", d.config->revision}});
  if (d.audit) {
    for (auto& w : d.workers) w->set_idle_hook([a = d.audit.get()] { a->flush(); });
    d.admin_worker->set_idle_hook([a = d.audit.get()] { a->flush(); });
  }
  for (auto& w : d.workers) w->start();
  d.admin_worker->start();
  for (auto& w : d.workers) w->join();
  for (auto& link : d.worker_redis) link->stop();  // their loops have stopped
  d.approvals->cancel_all("gateway stopping");
  d.admin_worker->stop();
  d.admin_worker->join();
  d.admin_blocking.join();  // admin requests still running or queued finish (the loop that answers them is gone)
  if (d.redis) d.redis->stop();
  if (d.audit) d.audit->close();
  log::info("stopped");
  return 0;
}

}  // namespace portcullis::gateway
