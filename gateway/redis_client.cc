#include "gateway/redis_client.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <atomic>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <deque>
#include <optional>
#include <thread>

#include "gateway/io.h"
#include "gateway/log.h"

namespace portcullis::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

RedisValue to_value(const redisReply* r) {
  RedisValue v;
  if (!r) return v;
  switch (r->type) {
    case REDIS_REPLY_STRING: v.type = RedisValue::Type::kString; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: v.type = RedisValue::Type::kStatus; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: v.type = RedisValue::Type::kError; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: v.type = RedisValue::Type::kInteger; v.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::kArray;
      v.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) v.elements.push_back(to_value(r->element[i]));
      break;
    default: break;
  }
  return v;
}

// The Asio adapter: hiredis asks for read/write readiness on its socket
// through these hooks. Reads wait with async_wait on a stream_descriptor that
// wraps (but does not own) the socket; hiredis closes the socket itself.
// Writes are tried at once (posted, so that every command issued in the same
// turn of the loop goes out in one write, and never from inside hiredis):
// the socket is almost always writable, and waiting for an epoll round (and
// an epoll_ctl) per write would cost more than the write. Only a write that
// could not finish waits for writability.
struct Adapter {
  redisAsyncContext* ac;
  net::posix::stream_descriptor sd;
  std::vector<Adapter*>* graveyard;  // the owner's, for deletion (see cleanup)
  bool reading = false, writing = false;
  bool read_armed = false, write_armed = false, write_posted = false, in_write = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Adapter(net::io_context& ioc, redisAsyncContext* c, std::vector<Adapter*>* g) : ac(c), sd(ioc, c->c.fd), graveyard(g) {}

  void arm_read() {
    if (read_armed || !reading) return;
    read_armed = true;
    sd.async_wait(net::posix::stream_descriptor::wait_read, [this, alive = alive](error_code ec) {
      if (!*alive) return;
      read_armed = false;
      if (ec || !reading) return;
      redisAsyncHandleRead(ac);  // may free the context (cleanup below)
      if (*alive) arm_read();
    });
  }
  void write_now() {
    write_posted = false;
    if (!writing || write_armed) return;
    in_write = true;
    redisAsyncHandleWrite(ac);  // may free the context
    if (!*alive) return;
    in_write = false;
    if (writing) arm_write();  // the socket's buffer is full: wait for room
  }
  void post_write() {
    if (write_posted || write_armed) return;
    write_posted = true;
    net::post(sd.get_executor(), [this, alive = alive] {
      if (*alive) write_now();
    });
  }
  void arm_write() {
    if (write_armed || !writing) return;
    write_armed = true;
    sd.async_wait(net::posix::stream_descriptor::wait_write, [this, alive = alive](error_code ec) {
      if (!*alive) return;
      write_armed = false;
      if (ec || !writing) return;
      redisAsyncHandleWrite(ac);
      if (*alive) arm_write();
    });
  }

  static void add_read(void* p) {
    auto* a = static_cast<Adapter*>(p);
    a->reading = true;
    a->arm_read();
  }
  static void del_read(void* p) { static_cast<Adapter*>(p)->reading = false; }
  static void add_write(void* p) {
    auto* a = static_cast<Adapter*>(p);
    a->writing = true;
    // Until connect(2) has completed, writability is what says it has (and
    // hiredis would take an early write attempt for a completed connect).
    if (!(a->ac->c.flags & REDIS_CONNECTED)) a->arm_write();
    // Inside write_now, hiredis asks again when the write was partial:
    // write_now then waits for room itself.
    else if (!a->in_write) a->post_write();
  }
  static void del_write(void* p) { static_cast<Adapter*>(p)->writing = false; }
  static void cleanup(void* p) {
    auto* a = static_cast<Adapter*>(p);
    *a->alive = false;
    a->reading = a->writing = false;
    error_code ignored;
    a->sd.cancel(ignored);
    (void)a->sd.release();  // hiredis owns and closes the fd
    // Deleted later (we may be inside one of this adapter's handlers): by the
    // owner's next connection attempt or by its destructor, whichever first.
    a->graveyard->push_back(a);
  }

  static void attach(net::io_context& ioc, redisAsyncContext* ac, std::vector<Adapter*>* graveyard) {
    auto* a = new Adapter(ioc, ac, graveyard);
    ac->ev.data = a;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
  }
};

}  // namespace

// Handlers capture `this` (not a shared_ptr: the io_context is a member, and
// a handler left in it must not keep the Impl alive); stop() joins the thread
// before the Impl goes.
struct RedisClient::Impl {
  explicit Impl(Options o) : opt(std::move(o)), own(std::in_place, 1), ioc(*own), work(net::make_work_guard(*own)) {}
  Impl(Options o, net::io_context& external) : opt(std::move(o)), ioc(external) {}
  ~Impl() { reap(); }

  struct Pending {
    ReplyCallback cb;
    Clock::time_point deadline;
    bool done = false;
    void finish(Reply r) {
      if (done) return;
      done = true;
      auto f = std::move(cb);
      if (f) f(std::move(r));
    }
  };
  // One hiredis connection. `ac` is null when there is none.
  struct Conn {
    Impl* impl = nullptr;
    bool subscriber = false;
    redisAsyncContext* ac = nullptr;
    bool ready = false;
  };

  Options opt;
  std::optional<net::io_context> own;  // when on its own thread
  net::io_context& ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
  std::vector<Adapter*> graveyard;  // adapters hiredis is done with
  Handlers handlers;
  Conn cmd{this, false}, sub{this, true};
  std::deque<std::shared_ptr<Pending>> outstanding;  // commands on `cmd`, in order
  std::atomic<bool> up{false};
  bool stopping = false;
  bool connecting = false;
  std::uint64_t attempt = 0;       // generation of the current connection attempt
  std::chrono::milliseconds backoff{100};
  std::size_t failures = 0;        // consecutive failed attempts (for the log)
  bool ever_up = false;
  net::steady_timer connect_timer{ioc};
  net::steady_timer retry_timer{ioc};
  net::steady_timer watchdog{ioc};
  Clock::time_point last_reply = Clock::now();

  // ---- connection lifecycle (all on the client's thread) ----

  void reap() {
    for (auto* a : graveyard) delete a;
    graveyard.clear();
  }

  bool subscribing() const { return !opt.channel.empty(); }

  void connect() {
    reap();  // not inside any adapter's handler here (a timer or a post)
    if (stopping) return;
    connecting = true;
    ++attempt;
    cmd.ready = sub.ready = false;
    if (!open(cmd) || (subscribing() && !open(sub))) return;
    connect_timer.expires_after(opt.connect_timeout);
    connect_timer.async_wait([self = this, gen = attempt](error_code ec) {
      if (ec || gen != self->attempt || !self->connecting) return;
      self->fail("connect timed out after " + std::to_string(self->opt.connect_timeout.count()) + " ms");
    });
  }

  bool open(Conn& c) {
    // redisAsyncConnect resolves a host name with getaddrinfo: acceptable on
    // this thread (it serves nothing else); literal addresses do not resolve.
    redisAsyncContext* ac = redisAsyncConnect(opt.host.c_str(), opt.port);
    if (!ac) {
      fail("cannot allocate a hiredis context");
      return false;
    }
    if (ac->err) {
      std::string why = ac->errstr ? ac->errstr : "connect failed";
      redisAsyncFree(ac);
      fail(why);
      return false;
    }
    c.ac = ac;
    ac->data = &c;
    Adapter::attach(ioc, ac, &graveyard);
    redisAsyncSetConnectCallback(ac, &Impl::on_connect);
    redisAsyncSetDisconnectCallback(ac, &Impl::on_disconnect);
    return true;
  }

  static void on_connect(const redisAsyncContext* ac, int status) {
    auto* c = static_cast<Conn*>(ac->data);
    Impl* self = c->impl;
    if (status != REDIS_OK) {
      std::string why = ac->errstr ? ac->errstr : "connect failed";
      c->ac = nullptr;  // hiredis frees it after this callback
      net::post(self->ioc, [s = self, why, gen = self->attempt] {
        if (gen == s->attempt) s->fail(why);
      });
      return;
    }
    self->handshake(*c);
  }

  static void on_disconnect(const redisAsyncContext* ac, int status) {
    auto* c = static_cast<Conn*>(ac->data);
    Impl* self = c->impl;
    std::string why = status == REDIS_OK ? "connection closed" : (ac->errstr ? ac->errstr : "connection lost");
    c->ac = nullptr;  // hiredis frees it after this callback
    c->ready = false;
    // A report about an earlier attempt must not tear down the current one.
    net::post(self->ioc, [s = self, why, gen = self->attempt] {
      if (gen == s->attempt) s->fail(why);
    });
  }

  // AUTH, SELECT (commands) or SUBSCRIBE (subscriber), pipelined.
  void handshake(Conn& c) {
    auto gen = attempt;
    auto check = [self = this, gen, &c](Reply r, const char* what) {
      if (gen != self->attempt) return false;
      if (!r) return false;  // the connection failed: fail() runs
      if (r->is_error()) {
        // Deferred: we are inside a hiredis callback.
        net::post(self->ioc, [self, why = std::string(what) + ": " + r->str] { self->fail(why); });
        return false;
      }
      return true;
    };
    if (!opt.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!opt.username.empty()) auth.push_back(opt.username);
      auth.push_back(opt.password);
      raw(c, std::move(auth), [check](Reply r) { check(std::move(r), "AUTH"); });
    }
    if (!c.subscriber) {
      if (opt.db != 0)
        raw(c, {"SELECT", std::to_string(opt.db)}, [check](Reply r) { check(std::move(r), "SELECT"); });
      raw(c, {"PING"}, [self = this, check, &c](Reply r) {
        if (!check(std::move(r), "PING")) return;
        c.ready = true;
        self->maybe_up();
      });
    } else {
      subscribe(c);
    }
  }

  void subscribe(Conn& c) {
    const char* argv[2] = {"SUBSCRIBE", opt.channel.c_str()};
    std::size_t lens[2] = {9, opt.channel.size()};
    redisAsyncCommandArgv(c.ac, &Impl::on_sub_message, &c, 2, argv, lens);
  }

  static void on_sub_message(redisAsyncContext* ac, void* reply, void* priv) {
    auto* c = static_cast<Conn*>(priv);
    Impl* self = c->impl;
    (void)ac;
    auto* r = static_cast<redisReply*>(reply);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
    std::string kind(r->element[0]->str ? r->element[0]->str : "", r->element[0]->len);
    if (kind == "subscribe") {
      c->ready = true;
      self->maybe_up();
    } else if (kind == "message" && r->element[2]->type == REDIS_REPLY_STRING) {
      if (self->handlers.message) self->handlers.message(std::string(r->element[2]->str, r->element[2]->len));
    }
  }

  void maybe_up() {
    if (!cmd.ready || (subscribing() && !sub.ready) || up) return;
    connecting = false;
    connect_timer.cancel();
    up = true;
    backoff = 100ms;
    if (failures > 0 || ever_up)
      log::info(opt.loud ? "state: Redis reachable again; resyncing the shared state" : "state: Redis link back",
                {{"redis", opt.host + ":" + std::to_string(opt.port)}, {"link", opt.name}, {"failed_attempts", failures}});
    else if (opt.loud)
      log::info("state: connected to Redis", {{"redis", opt.host + ":" + std::to_string(opt.port)}, {"db", opt.db}});
    failures = 0;
    ever_up = true;
    last_reply = Clock::now();
    arm_watchdog();
    if (handlers.up) handlers.up();
  }

  // Tears both connections down, fails what is outstanding, tells the owner
  // once, and schedules the next attempt.
  void fail(const std::string& why) {
    if (!connecting && !up && !cmd.ac && !sub.ac) {
      // Already down (a second report of the same loss).
      if (outstanding.empty()) return;
    }
    bool was_up = up.exchange(false);
    connecting = false;
    ++attempt;  // stale callbacks of this attempt are ignored
    connect_timer.cancel();
    watchdog.cancel();
    for (Conn* c : {&cmd, &sub}) {
      c->ready = false;
      if (c->ac) {
        redisAsyncContext* ac = c->ac;
        c->ac = nullptr;
        ac->data = nullptr;
        ac->onDisconnect = nullptr;
        ac->onConnect = nullptr;
        redisAsyncFree(ac);  // runs pending callbacks with a null reply
      }
    }
    auto left = std::move(outstanding);
    outstanding.clear();
    for (auto& p : left) p->finish(Err("Redis connection lost: " + why));
    if (was_up && !stopping) {
      if (opt.loud)
        log::error("STATE: Redis UNREACHABLE: kill switches stay enforced from memory, approvals are refused, rate "
                   "limits apply per replica until it returns",
                   {{"redis", opt.host + ":" + std::to_string(opt.port)}, {"error", why}});
      else
        log::warn("state: Redis link lost; rate limits are counted by this replica alone until it returns",
                  {{"redis", opt.host + ":" + std::to_string(opt.port)}, {"link", opt.name}, {"error", why}});
      if (handlers.down) handlers.down(why);
    } else if (!stopping) {
      ++failures;
      if (opt.loud || failures == 1)
        log::warn("state: cannot reach Redis; retrying",
                  {{"redis", opt.host + ":" + std::to_string(opt.port)}, {"link", opt.name}, {"error", why},
                   {"retry_in_ms", backoff.count()}, {"attempt", failures}});
    }
    if (stopping) return;
    // Jittered exponential backoff.
    unsigned char r = 0;
    RAND_bytes(&r, 1);
    auto delay = backoff + backoff * (static_cast<int>(r) - 128) / 640;  // +-20%
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5000ms);
    retry_timer.expires_after(delay);
    retry_timer.async_wait([self = this](error_code ec) {
      if (!ec) self->connect();
    });
  }

  // Fails a command that outlived its timeout (and with it the connection),
  // and PINGs an idle link.
  void arm_watchdog() {
    auto period = std::max<std::chrono::milliseconds>(10ms, std::min<std::chrono::milliseconds>(
                                                                opt.command_timeout / 5, 200ms));
    watchdog.expires_after(period);
    watchdog.async_wait([self = this, gen = attempt](error_code ec) {
      if (ec || gen != self->attempt || !self->up) return;
      auto now = Clock::now();
      if (!self->outstanding.empty() && self->outstanding.front()->deadline <= now) {
        self->fail("no answer within the command timeout (" + std::to_string(self->opt.command_timeout.count()) +
                   " ms)");
        return;
      }
      if (self->outstanding.empty() && now - self->last_reply >= 1s) {
        self->last_reply = now;
        self->send({"PING"}, [](Reply) {});
      }
      self->arm_watchdog();
    });
  }

  // ---- commands ----

  // A command on connection `c` outside the outstanding queue (handshake).
  void raw(Conn& c, std::vector<std::string> args, std::function<void(Reply)> done) {
    auto* p = new std::function<void(Reply)>(std::move(done));
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAsyncCommandArgv(c.ac, &Impl::on_raw_reply, p, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      delete p;
      net::post(ioc, [s = this] { s->fail("cannot send the handshake"); });
    }
  }
  static void on_raw_reply(redisAsyncContext*, void* reply, void* priv) {
    std::unique_ptr<std::function<void(Reply)>> cb(static_cast<std::function<void(Reply)>*>(priv));
    if (!reply) (*cb)(Err("connection lost"));
    else (*cb)(to_value(static_cast<redisReply*>(reply)));
  }

  // A pending command with its deadline, or null (and `done` answered) when
  // Redis is unreachable.
  std::shared_ptr<Pending> begin_command(ReplyCallback& done) {
    if (!up || !cmd.ac) {
      done(Err("Redis is unreachable"));
      return nullptr;
    }
    auto p = std::make_shared<Pending>();
    p->cb = std::move(done);
    p->deadline = Clock::now() + opt.command_timeout;
    return p;
  }

  void send(std::vector<std::string> args, ReplyCallback done) {
    auto p = begin_command(done);
    if (!p) return;
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAsyncCommandArgv(cmd.ac, &Impl::on_reply, p.get(), static_cast<int>(argv.size()), argv.data(),
                              lens.data()) != REDIS_OK) {
      p->finish(Err("Redis command could not be sent"));
      return;
    }
    outstanding.push_back(std::move(p));
  }

  void send_resp(std::string_view resp, ReplyCallback done) {
    auto p = begin_command(done);
    if (!p) return;
    if (redisAsyncFormattedCommand(cmd.ac, &Impl::on_reply, p.get(), resp.data(), resp.size()) != REDIS_OK) {
      p->finish(Err("Redis command could not be sent"));
      return;
    }
    outstanding.push_back(std::move(p));
  }

  static void on_reply(redisAsyncContext* ac, void* reply, void* priv) {
    auto* p = static_cast<Pending*>(priv);
    auto* c = static_cast<Conn*>(ac->data);
    if (!reply) {  // the connection is being freed; fail() finishes the queue
      p->finish(Err("Redis connection lost"));
      return;
    }
    if (c) {
      Impl* self = c->impl;
      self->last_reply = Clock::now();
      // Replies come in order: this is the front.
      std::shared_ptr<Pending> keep;
      if (!self->outstanding.empty() && self->outstanding.front().get() == p) {
        keep = std::move(self->outstanding.front());
        self->outstanding.pop_front();
      }
      p->finish(to_value(static_cast<redisReply*>(reply)));
    } else {
      p->finish(to_value(static_cast<redisReply*>(reply)));
    }
  }

  void shutdown() {
    stopping = true;
    retry_timer.cancel();
    if (cmd.ac || sub.ac || up || connecting) fail("stopping");
  }
};

RedisClient::RedisClient(Options options) : impl_(std::make_shared<Impl>(std::move(options))) {}

RedisClient::RedisClient(Options options, net::io_context& ioc)
    : impl_(std::make_shared<Impl>(std::move(options), ioc)) {}

RedisClient::~RedisClient() {
  stop();
  OPENSSL_cleanse(impl_->opt.password.data(), impl_->opt.password.size());
}

void RedisClient::set_handlers(Handlers handlers) { impl_->handlers = std::move(handlers); }

void RedisClient::start() {
  Impl* impl = impl_.get();
  net::post(impl->ioc, [impl] { impl->connect(); });
  if (impl->own) impl->thread = std::thread([impl] { impl->ioc.run(); });
}

void RedisClient::stop() {
  Impl* impl = impl_.get();
  if (!impl->own) {
    // On the worker's thread, or after it stopped: nothing else runs here.
    if (!impl->stopping) impl->shutdown();
    return;
  }
  if (!impl->thread.joinable()) return;
  net::post(impl->ioc, [impl] {
    impl->shutdown();
    impl->work.reset();
    // Posted after what shutdown() queued (cancelled waits), so those run
    // first; the adapters themselves go with the Impl.
    net::post(impl->ioc, [impl] { impl->ioc.stop(); });
  });
  impl->thread.join();
}

void RedisClient::command(std::vector<std::string> args, ReplyCallback done) {
  Impl* impl = impl_.get();
  if (impl->ioc.get_executor().running_in_this_thread()) {
    impl->send(std::move(args), std::move(done));
    return;
  }
  net::post(impl->ioc, [impl, args = std::move(args), done = std::move(done)]() mutable {
    impl->send(std::move(args), std::move(done));
  });
}

void RedisClient::command_resp(std::string_view resp, ReplyCallback done) {
  Impl* impl = impl_.get();
  if (impl->ioc.get_executor().running_in_this_thread()) {
    impl->send_resp(resp, std::move(done));
    return;
  }
  net::post(impl->ioc, [impl, resp = std::string(resp), done = std::move(done)]() mutable {
    impl->send_resp(resp, std::move(done));
  });
}

void RedisClient::post(std::function<void()> fn) { net::post(impl_->ioc, std::move(fn)); }

bool RedisClient::connected() const { return impl_->up.load(); }

const std::string& RedisClient::channel() const { return impl_->opt.channel; }

}  // namespace portcullis::gateway
