// RedisStateStore over the real RedisClient against a real redis-server
// (started here on a free loopback port, in a temp dir): two "replicas" in
// one process, each with its own client, store, KillSwitches and Approvals.
#include <doctest/doctest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "admin/approvals.h"
#include "admin/file_state_store.h"
#include "admin/kill_switches.h"
#include "admin/redis_limit_counter.h"
#include "admin/redis_state_store.h"
#include "gateway/redis_client.h"

extern char** environ;

namespace portcullis {
namespace {

using namespace std::chrono_literals;

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds within = 3000ms) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return cond();
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// redis-server on 127.0.0.1:<port>, no persistence, its files in a temp dir.
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra = {}) : port_(free_port()), extra_(std::move(extra)) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("portcullis-redis-test-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    start();
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void start() {
    std::string port = std::to_string(port_), dir = dir_.string();
    std::vector<std::string> args{"redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", dir, "--logfile", dir + "/redis.log"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) == 0);
    REQUIRE(eventually([&] { return answers(); }, 5000ms));
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::uint16_t port() const { return port_; }

 private:
  bool answers() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }
  std::uint16_t port_;
  std::vector<std::string> extra_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

// One replica: link, store, kill switches, approvals.
struct Replica {
  gateway::RedisClient link;
  admin::RedisStateStore* store;
  std::unique_ptr<admin::RedisStateStore> owned;
  std::unique_ptr<admin::KillSwitches> kills;
  std::unique_ptr<admin::Approvals> approvals;
  std::atomic<int> changes{0};

  // `user`/`password`: an ACL user of its own (so that a test can cut this
  // replica alone off Redis). `lifted_keep`: how long tombstones are kept.
  Replica(std::uint16_t port, const std::string& name, const std::string& prefix, const std::string& user = "",
          const std::string& password = "", std::chrono::milliseconds lifted_keep = std::chrono::hours(24 * 7))
      : link(options(port, prefix, user, password)) {
    admin::RedisStateStore::Options so{prefix, name, 300ms};
    so.lifted_keep = lifted_keep;
    owned = std::make_unique<admin::RedisStateStore>(link, std::make_unique<admin::MemoryStateStore>(), so);
    store = owned.get();
    store->start();
    kills = std::make_unique<admin::KillSwitches>(*store);
    kills->on_change([this] { ++changes; });
    approvals = std::make_unique<admin::Approvals>(admin::Approvals::Options{.ledger = store});
    link.start();
    REQUIRE(eventually([&] { return store->resyncs() > 0; }));
  }
  ~Replica() { link.stop(); }  // before the store and the switches go

  static gateway::RedisClient::Options options(std::uint16_t port, const std::string& prefix,
                                              const std::string& user = "", const std::string& password = "") {
    gateway::RedisClient::Options o;
    o.port = port;
    o.username = user;
    o.password = password;
    o.channel = prefix + "events";
    o.connect_timeout = 1000ms;
    o.command_timeout = 300ms;
    return o;
  }
};

std::string unique_prefix() {
  std::random_device rd;
  return std::string("t").append(std::to_string(rd())).append(":");
}

identity::Principal agent(const std::string& id) {
  identity::Principal p;
  p.agent_id = id;
  return p;
}

TEST_CASE("a kill switch engaged on one replica is enforced by the other within 100 ms, and lifted likewise") {
  RedisServer redis;
  auto prefix = unique_prefix();
  Replica a(redis.port(), "a", prefix), b(redis.port(), "b", prefix);
  auto bob = agent("bob");
  auto t0 = std::chrono::steady_clock::now();
  auto engaged = a.kills->engage(admin::KillKind::kAgent, "bob", "test", "ops");
  REQUIRE(engaged);
  CHECK(engaged->shared);
  REQUIRE(eventually([&] { return b.kills->match(&bob, "crm", "") != nullptr; }, 100ms));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("propagation " << ms << " ms");
  CHECK(b.changes.load() >= 1);  // the gateway cuts streams on this callback

  // A third replica started later learns it at its first sync.
  Replica c(redis.port(), "c", prefix);
  CHECK(c.kills->match(&bob, "crm", "") != nullptr);

  auto lifted = b.kills->lift(engaged->kill_switch.id);
  REQUIRE(lifted);
  CHECK(lifted->shared);
  CHECK(eventually([&] { return a.kills->match(&bob, "crm", "") == nullptr && c.kills->match(&bob, "crm", "") == nullptr; }));
}

TEST_CASE("a rate limit of N holds across replicas together, atomically") {
  RedisServer redis;
  auto prefix = unique_prefix();
  Replica a(redis.port(), "a", prefix), b(redis.port(), "b", prefix);
  std::atomic<int> granted{0}, answered{0};
  for (int i = 0; i < 10; ++i) {
    auto& r = i % 2 ? a : b;
    r.store->shared_limits()->acquire({policy::LimitRequest{"rule|agent|bob", 4, 60000ms, 0}}, [&](Result<std::vector<bool>> g) {
      REQUIRE(g);
      if ((*g)[0]) ++granted;
      ++answered;
    });
  }
  REQUIRE(eventually([&] { return answered.load() == 10; }));
  CHECK(granted.load() == 4);

  // Within one group, nothing is counted after the first refusal.
  std::optional<std::vector<bool>> got;
  a.store->shared_limits()->acquire({{"rule|agent|bob", 4, 60000ms, 7}, {"other|agent|bob", 5, 60000ms, 7}},
                   [&](Result<std::vector<bool>> g) { got = *g; });
  REQUIRE(eventually([&] { return got.has_value(); }));
  CHECK(*got == std::vector<bool>{false, false});
  got.reset();
  b.store->shared_limits()->acquire({{"other|agent|bob", 1, 60000ms, 0}}, [&](Result<std::vector<bool>> g) { got = *g; });
  REQUIRE(eventually([&] { return got.has_value(); }));
  CHECK(*got == std::vector<bool>{true});  // "other" was not counted above
}

// Sends one command over a link and waits for the answer (test thread).
RedisLink::Reply call(RedisLink& link, std::vector<std::string> args) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<RedisLink::Reply> got;
  link.command(std::move(args), [&](RedisLink::Reply r) {
    std::lock_guard lk(mu);
    got = std::move(r);
    cv.notify_all();
  });
  std::unique_lock lk(mu);
  cv.wait_for(lk, 2s, [&] { return got.has_value(); });
  return got ? std::move(*got) : RedisLink::Reply(Err(std::string("no answer")));
}

std::int64_t integer(RedisLink& link, std::vector<std::string> args) {
  auto r = call(link, std::move(args));
  REQUIRE(r);
  return r->integer;
}

TEST_CASE("worker links: counters on a link driven by another event loop hold the limit exactly, in batches") {
  RedisServer redis;
  auto prefix = unique_prefix();
  Replica a(redis.port(), "a", prefix);
  // Two "workers": each an io_context on its own thread with its own link
  // (no subscriber) and counter, as the gateway sets them up.
  struct Loop {
    boost::asio::io_context ioc{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{boost::asio::make_work_guard(ioc)};
    std::unique_ptr<gateway::RedisClient> link;
    std::unique_ptr<admin::RedisLimitCounter> limits;
    std::thread thread;
  };
  std::vector<std::unique_ptr<Loop>> loops;
  for (int i = 0; i < 2; ++i) {
    auto l = std::make_unique<Loop>();
    auto o = Replica::options(redis.port(), prefix);
    o.channel.clear();
    o.loud = false;
    l->link = std::make_unique<gateway::RedisClient>(o, l->ioc);
    l->limits = std::make_unique<admin::RedisLimitCounter>(*l->link, prefix, a.store->shared_limits());
    loops.push_back(std::move(l));
  }
  // Before its link is up, a worker's counter goes through the shared link:
  // still counted in Redis.
  std::atomic<int> granted{0}, answered{0};
  loops[0]->limits->acquire({{"early|agent|bob", 1, 60000ms, 0}}, [&](Result<std::vector<bool>> g) {
    if (g && (*g)[0]) ++granted;
    ++answered;
  });
  REQUIRE(eventually([&] { return answered.load() == 1; }));
  CHECK(granted.load() == 1);
  for (auto& l : loops) {
    l->link->start();
    l->thread = std::thread([p = l.get()] { p->ioc.run(); });
  }
  REQUIRE(eventually([&] { return loops[0]->link->connected() && loops[1]->link->connected(); }));
  // A flushed Redis forgets the script: the counter sends its text once.
  REQUIRE(call(a.link, {"SCRIPT", "FLUSH"}));
  granted = 0;
  answered = 0;
  // 200 calls from both loops' own threads, in bursts (so that they batch),
  // on a limit of 37, plus the one counted above on another key.
  for (int burst = 0; burst < 10; ++burst) {
    for (auto& l : loops) {
      boost::asio::post(l->ioc, [&, p = l.get()] {
        for (int i = 0; i < 10; ++i)
          p->limits->acquire({{"burst|agent|bob", 37, 60000ms, 0}}, [&](Result<std::vector<bool>> g) {
            REQUIRE(g);
            if ((*g)[0]) ++granted;
            ++answered;
          });
      });
    }
  }
  REQUIRE(eventually([&] { return answered.load() == 200; }));
  CHECK(granted.load() == 37);
  // The early call counted in Redis: its key is at its limit everywhere.
  std::optional<std::vector<bool>> early;
  a.store->shared_limits()->acquire({{"early|agent|bob", 1, 60000ms, 0}},
                                    [&](Result<std::vector<bool>> g) { early = *g; });
  REQUIRE(eventually([&] { return early.has_value(); }));
  CHECK(*early == std::vector<bool>{false});
  // Fewer scripts than calls: the calls were batched.
  auto info = call(a.link, {"INFO", "commandstats"});
  REQUIRE(info);
  auto at = info->str.find("cmdstat_evalsha:calls=");
  REQUIRE(at != std::string::npos);
  auto evalsha_calls = std::stoll(info->str.substr(at + 22));
  MESSAGE("200 calls went in " << evalsha_calls << " EVALSHA (+ EVAL after the flush)");
  CHECK(evalsha_calls < 200);
  for (auto& l : loops) {
    l->ioc.stop();
    l->thread.join();
    l->link->stop();  // after its loop stopped, as the gateway does
  }
}

TEST_CASE("a call held on one replica is released by an approver on another, once") {
  RedisServer redis;
  auto prefix = unique_prefix();
  Replica a(redis.port(), "a", prefix), b(redis.port(), "b", prefix);
  admin::HeldCall call;
  call.agent = "bob";
  call.owner = "alice@example.com";
  call.upstream = "crm";
  call.tool = "delete_record";
  call.arguments_hash = "abc";
  call.created = std::chrono::system_clock::now();
  call.deadline = call.created + 60s;
  std::mutex mu;
  std::optional<admin::ApprovalOutcome> outcome;
  auto id = b.approvals->hold(call, [&](const admin::ApprovalOutcome& o) {
    std::lock_guard lk(mu);
    outcome = o;
  });
  REQUIRE(id);
  // Every replica lists it.
  REQUIRE(eventually([&] { return a.approvals->list().size() == 1; }));
  CHECK(a.approvals->list()[0].id == *id);
  // The owner cannot approve it anywhere.
  auto self = a.approvals->approve(*id, "alice", "alice@example.com");
  REQUIRE_FALSE(self);
  CHECK(self.error().code == admin::ApprovalError::Code::kSelfApproval);
  auto ok = a.approvals->approve(*id, "carol", "carol@example.com", std::string_view("abc"));
  REQUIRE(ok);
  CHECK(ok->outcome == "approved");
  REQUIRE(eventually([&] {
    std::lock_guard lk(mu);
    return outcome.has_value();
  }));
  CHECK(outcome->approved());
  CHECK(outcome->decided_by == "carol");
  // Single use, on both replicas.
  auto again_b = b.approvals->deny(*id, "dave");
  REQUIRE_FALSE(again_b);
  CHECK(again_b.error().code == admin::ApprovalError::Code::kAlreadyResolved);
  auto again_a = a.approvals->approve(*id, "dave", "dave@example.com");
  REQUIRE_FALSE(again_a);
  CHECK(again_a.error().code == admin::ApprovalError::Code::kAlreadyResolved);
  CHECK(b.approvals->pending_count() == 0);
}

TEST_CASE("approval race: a timeout or disconnect on the holder and an approver elsewhere; one outcome wins") {
  RedisServer redis;
  auto prefix = unique_prefix();
  Replica a(redis.port(), "a", prefix), b(redis.port(), "b", prefix);
  auto hold = [&](std::mutex& mu, std::optional<admin::ApprovalOutcome>& outcome, int& resolutions) {
    admin::HeldCall call;
    call.agent = "bob";
    call.upstream = "crm";
    call.tool = "delete_record";
    call.created = std::chrono::system_clock::now();
    call.deadline = call.created + 1h;
    auto id = a.approvals->hold(call, [&](const admin::ApprovalOutcome& o) {
      std::lock_guard lk(mu);
      outcome = o;
      ++resolutions;
    });
    REQUIRE(id);
    // b sees it before it decides (the share is asynchronous).
    REQUIRE(eventually([&] {
      for (const auto& p : b.approvals->list())
        if (p.id == *id) return true;
      return false;
    }));
    return *id;
  };

  SUBCASE("the holder's timeout first: the approver elsewhere gets 409 naming it") {
    std::mutex mu;
    std::optional<admin::ApprovalOutcome> outcome;
    int resolutions = 0;
    auto id = hold(mu, outcome, resolutions);
    CHECK(a.approvals->expire_due(std::chrono::system_clock::now() + 2h) == 1);
    REQUIRE(eventually([&] {
      std::lock_guard lk(mu);
      return outcome.has_value();
    }));
    CHECK(outcome->kind == admin::ApprovalOutcomeKind::kTimedOut);
    auto late = b.approvals->approve(id, "carol", "carol@example.com");
    REQUIRE_FALSE(late);
    CHECK(late.error().code == admin::ApprovalError::Code::kAlreadyResolved);
    CHECK(late.error().message.find("already decided: timed_out") != std::string::npos);
    auto rec = b.store->find_decided(id);
    REQUIRE(rec);
    REQUIRE(rec->has_value());
    CHECK((*rec)->outcome == "timed_out");
    CHECK(integer(b.link, {"HLEN", prefix + "approvals:held"}) == 0);
    CHECK(integer(b.link, {"ZCARD", prefix + "approvals:held:at"}) == 0);
  }

  SUBCASE("a call whose holder died is dropped from Redis a minute after its deadline") {
    admin::HeldCall call;
    call.agent = "bob";
    call.created = std::chrono::system_clock::now() - 3min;
    call.deadline = std::chrono::system_clock::now() - 59500ms;  // nobody expires it here
    auto dead = a.approvals->hold(call, [](const admin::ApprovalOutcome&) {});
    REQUIRE(dead);
    REQUIRE(eventually([&] { return integer(b.link, {"HEXISTS", prefix + "approvals:held", *dead}) == 1; }));
    std::this_thread::sleep_for(1s);  // now more than a minute past its deadline
    call.created = std::chrono::system_clock::now();
    call.deadline = call.created + 1h;
    REQUIRE(b.approvals->hold(call, [](const admin::ApprovalOutcome&) {}));  // the next share drops it
    CHECK(eventually([&] { return integer(b.link, {"HEXISTS", prefix + "approvals:held", *dead}) == 0; }));
    CHECK(integer(b.link, {"ZCARD", prefix + "approvals:held:at"}) == 1);
    b.approvals->cancel_all();
    a.approvals->cancel_all();
  }

  SUBCASE("at the same moment, many times: the agent's outcome, the approver's answer and the store agree") {
    int approved = 0, lost = 0;
    for (int i = 0; i < 40; ++i) {
      std::mutex mu;
      std::optional<admin::ApprovalOutcome> outcome;
      int resolutions = 0;
      auto id = hold(mu, outcome, resolutions);
      bool by_disconnect = i % 2 == 1;
      std::atomic<int> ready{0};
      std::optional<Result<admin::ApprovalRecord, admin::ApprovalError>> answer;
      std::thread approver([&] {
        ++ready;
        while (ready.load() < 2) {
        }
        answer = b.approvals->approve(id, "carol", "carol@example.com");
      });
      ++ready;
      while (ready.load() < 2) {
      }
      // A varying head start for the approver (whose decision takes two
      // round trips: find, then claim), so that both sides win some races.
      std::this_thread::sleep_for(std::chrono::microseconds(100 * (i % 10)));
      if (by_disconnect) a.approvals->cancel(id, "client disconnected");
      else a.approvals->expire_due(std::chrono::system_clock::now() + 2h);
      approver.join();
      REQUIRE(eventually([&] {
        std::lock_guard lk(mu);
        return outcome.has_value();
      }));
      std::this_thread::sleep_for(20ms);  // a second resolution would show here
      std::lock_guard lk(mu);
      CHECK(resolutions == 1);
      REQUIRE(answer.has_value());
      auto stored = b.store->find_decided(id);
      REQUIRE(stored);
      REQUIRE(stored->has_value());
      if (*answer) {
        ++approved;
        CHECK(outcome->kind == admin::ApprovalOutcomeKind::kApproved);
        CHECK(outcome->decided_by == "carol");
        CHECK((*stored)->outcome == "approved");
      } else {
        ++lost;
        CHECK(answer->error().code == admin::ApprovalError::Code::kAlreadyResolved);
        auto expected = by_disconnect ? admin::ApprovalOutcomeKind::kCancelled : admin::ApprovalOutcomeKind::kTimedOut;
        CHECK(outcome->kind == expected);
        CHECK(answer->error().message.find(std::string(admin::outcome_name(expected))) != std::string::npos);
        CHECK((*stored)->outcome == std::string(admin::outcome_name(expected)));
      }
    }
    MESSAGE("40 races: the approver won " << approved << ", the timeout/disconnect won " << lost);
  }
}

TEST_CASE("Redis down: switches stay, approvals are refused; Redis back empty: switches are re-published") {
  auto redis = std::make_unique<RedisServer>();
  auto port = redis->port();
  auto prefix = unique_prefix();
  Replica a(port, "a", prefix), b(port, "b", prefix);
  auto bob = agent("bob"), eve = agent("eve");
  REQUIRE(a.kills->engage(admin::KillKind::kAgent, "bob", "test", "ops"));
  REQUIRE(eventually([&] { return b.kills->match(&bob, "crm", "") != nullptr; }));

  redis->stop();
  REQUIRE(eventually([&] { return !a.store->reachable() && !b.store->reachable(); }));
  CHECK(b.kills->match(&bob, "crm", "") != nullptr);  // never forgotten
  admin::HeldCall call;
  call.agent = "bob";
  call.created = std::chrono::system_clock::now();
  call.deadline = call.created + 60s;
  CHECK_FALSE(b.approvals->hold(call, [](const admin::ApprovalOutcome&) {}));
  auto offline = a.kills->engage(admin::KillKind::kAgent, "eve", "while Redis was down", "ops");
  REQUIRE(offline);
  CHECK_FALSE(offline->shared);
  CHECK(a.kills->match(&eve, "crm", "") != nullptr);
  std::optional<bool> limit_answer_ok;
  a.store->shared_limits()->acquire({{"k", 1, 1000ms, 0}}, [&](Result<std::vector<bool>> g) { limit_answer_ok = g.ok(); });
  REQUIRE(limit_answer_ok.has_value());
  CHECK_FALSE(*limit_answer_ok);  // the gateway then counts locally

  // Same port, empty data set (no persistence): both replicas reconnect by
  // themselves; a re-publishes what it holds, so b learns of eve and Redis
  // has bob again.
  redis->start();
  REQUIRE(eventually([&] { return a.store->reachable() && b.store->reachable(); }, 15000ms));
  CHECK(eventually([&] { return b.kills->match(&eve, "crm", "") != nullptr; }));
  CHECK(b.kills->match(&bob, "crm", "") != nullptr);
  Replica c(port, "c", prefix);
  CHECK(c.kills->match(&bob, "crm", "") != nullptr);
  CHECK(c.kills->match(&eve, "crm", "") != nullptr);
  CHECK(b.approvals->hold(call, [](const admin::ApprovalOutcome&) {}));
  b.approvals->cancel_all();
}

// Cuts replica `user` alone off Redis (its ACL user disabled, its
// connections killed), or lets it back.
void cut_off(RedisLink& admin_link, const std::string& user, bool off) {
  REQUIRE(call(admin_link, {"ACL", "SETUSER", user, off ? "off" : "on"}));
  if (off) REQUIRE(call(admin_link, {"CLIENT", "KILL", "USER", user}));
}

TEST_CASE("a replica cut off while a switch was lifted elsewhere does not bring it back; one engaged meanwhile is shared") {
  RedisServer redis;
  auto prefix = unique_prefix();
  Replica b(redis.port(), "b", prefix);
  REQUIRE(call(b.link, {"ACL", "SETUSER", "replica-a", "on", ">pw-a", "~*", "&*", "+@all"}));
  Replica a(redis.port(), "a", prefix, "replica-a", "pw-a");
  auto bob = agent("bob"), eve = agent("eve");
  auto k = a.kills->engage(admin::KillKind::kAgent, "bob", "test", "ops");
  REQUIRE(k);
  REQUIRE(k->shared);
  REQUIRE(eventually([&] { return b.kills->match(&bob, "crm", "") != nullptr; }));

  cut_off(b.link, "replica-a", true);
  REQUIRE(eventually([&] { return !a.store->reachable(); }));
  auto lifted = b.kills->lift(k->kill_switch.id);
  REQUIRE(lifted);
  CHECK(lifted->shared);
  CHECK(a.kills->match(&bob, "crm", "") != nullptr);  // a cannot know yet, and keeps enforcing it
  auto offline = a.kills->engage(admin::KillKind::kAgent, "eve", "while cut off", "ops");
  REQUIRE(offline);
  CHECK_FALSE(offline->shared);
  std::this_thread::sleep_for(300ms);  // a keeps retrying, and failing
  CHECK_FALSE(a.store->reachable());

  cut_off(b.link, "replica-a", false);
  REQUIRE(eventually([&] { return a.store->reachable(); }, 15000ms));
  // The lift reaches a; a does not re-publish bob (b and Redis stay clear)...
  CHECK(eventually([&] { return a.kills->match(&bob, "crm", "") == nullptr; }));
  // ...and eve, engaged on a while it was away, reaches b.
  CHECK(eventually([&] { return b.kills->match(&eve, "crm", "") != nullptr; }));
  std::this_thread::sleep_for(200ms);
  CHECK(b.kills->match(&bob, "crm", "") == nullptr);
  CHECK(integer(b.link, {"HEXISTS", prefix + "kills", k->kill_switch.id}) == 0);
  Replica c(redis.port(), "c", prefix);
  CHECK(c.kills->match(&bob, "crm", "") == nullptr);
  CHECK(c.kills->match(&eve, "crm", "") != nullptr);
}

TEST_CASE("tombstones of lifted switches are dropped after their keep time (and then a stale replica re-publishes)") {
  RedisServer redis;
  auto prefix = unique_prefix();
  const auto keep = 400ms;
  Replica b(redis.port(), "b", prefix, "", "", keep);
  REQUIRE(call(b.link, {"ACL", "SETUSER", "replica-a", "on", ">pw-a", "~*", "&*", "+@all"}));
  Replica a(redis.port(), "a", prefix, "replica-a", "pw-a", keep);
  auto lifted_count = [&] { return integer(b.link, {"HLEN", prefix + "kills:lifted"}); };
  auto indexed_count = [&] { return integer(b.link, {"ZCARD", prefix + "kills:lifted:at"}); };

  auto k1 = b.kills->engage(admin::KillKind::kTool, "crm/one", "test", "ops");
  REQUIRE(k1);
  REQUIRE(b.kills->lift(k1->kill_switch.id));
  CHECK(lifted_count() == 1);
  CHECK(indexed_count() == 1);
  std::this_thread::sleep_for(keep + 200ms);
  // The next lift drops what is older than the keep time.
  auto k2 = b.kills->engage(admin::KillKind::kTool, "crm/two", "test", "ops");
  REQUIRE(k2);
  REQUIRE(b.kills->lift(k2->kill_switch.id));
  CHECK(lifted_count() == 1);
  CHECK(indexed_count() == 1);
  CHECK(integer(b.link, {"HEXISTS", prefix + "kills:lifted", k1->kill_switch.id}) == 0);
  // So does a resync (here: a's, after its connections were killed).
  std::this_thread::sleep_for(keep + 200ms);
  auto before = a.store->resyncs();
  REQUIRE(call(b.link, {"CLIENT", "KILL", "USER", "replica-a"}));
  REQUIRE(eventually([&] { return a.store->resyncs() > before; }, 15000ms));
  CHECK(lifted_count() == 0);
  CHECK(indexed_count() == 0);

  // The documented bound: a replica away for longer than the keep time while
  // a switch it holds was lifted re-publishes it (fail closed).
  auto bob = agent("bob");
  auto k3 = a.kills->engage(admin::KillKind::kAgent, "bob", "test", "ops");
  REQUIRE(k3);
  REQUIRE(eventually([&] { return b.kills->match(&bob, "crm", "") != nullptr; }));
  cut_off(b.link, "replica-a", true);
  REQUIRE(eventually([&] { return !a.store->reachable(); }));
  REQUIRE(b.kills->lift(k3->kill_switch.id));
  std::this_thread::sleep_for(keep + 200ms);
  auto k4 = b.kills->engage(admin::KillKind::kTool, "crm/four", "test", "ops");
  REQUIRE(k4);
  REQUIRE(b.kills->lift(k4->kill_switch.id));  // drops k3's tombstone
  CHECK(integer(b.link, {"HEXISTS", prefix + "kills:lifted", k3->kill_switch.id}) == 0);
  cut_off(b.link, "replica-a", false);
  REQUIRE(eventually([&] { return a.store->reachable(); }, 15000ms));
  CHECK(eventually([&] { return b.kills->match(&bob, "crm", "") != nullptr; }));
  CHECK(a.kills->match(&bob, "crm", "") != nullptr);
}

TEST_CASE("a Redis with a password: the client authenticates, and without it never reports the link up") {
  RedisServer redis({"--requirepass", "s3cret-pw"});
  auto prefix = unique_prefix();
  {
    gateway::RedisClient::Options o = Replica::options(redis.port(), prefix);
    o.password = "s3cret-pw";
    gateway::RedisClient link(o);
    admin::RedisStateStore store(link, std::make_unique<admin::MemoryStateStore>(),
                                 admin::RedisStateStore::Options{prefix, "pw", 300ms});
    store.start();
    admin::KillSwitches kills(store);
    link.start();
    REQUIRE(eventually([&] { return store.resyncs() > 0; }));
    auto k = kills.engage(admin::KillKind::kAll, "", "test", "ops");
    REQUIRE(k);
    CHECK(k->shared);
    link.stop();
  }
  {
    gateway::RedisClient link(Replica::options(redis.port(), prefix));  // no password
    admin::RedisStateStore store(link, std::make_unique<admin::MemoryStateStore>(),
                                 admin::RedisStateStore::Options{prefix, "nopw", 300ms});
    store.start();
    admin::KillSwitches kills(store);
    link.start();
    std::this_thread::sleep_for(500ms);
    CHECK_FALSE(store.reachable());
    CHECK(store.resyncs() == 0);
    CHECK(kills.list().empty());  // it never read the switch engaged above
    link.stop();
  }
}

}  // namespace
}  // namespace portcullis
