// RedisClient: the RedisLink of `state: { backend: redis }`. Two hiredis
// async connections (commands, and one subscribed to the events channel;
// none without a channel) driven by a small Asio adapter
// (posix::stream_descriptor on hiredis's socket), so that no worker and no
// control-loop thread ever waits for Redis. It runs either on its own
// event-loop thread (the shared link: pub/sub, admin actions) or on a
// worker's io_context (each worker's rate-limit link: a request that meets a
// limit then costs no thread hop, only its share of one write and one read
// per batch of calls).
//
// Faults: a command that gets no answer within the command timeout fails and
// drops the connection (replies are ordered: everything behind it would
// stall too); a lost connection fails every outstanding command; the client
// reconnects by itself with exponential backoff (100 ms doubling to 5 s,
// jittered) and PINGs every second so a silent Redis is noticed. Each loss is
// logged as an error, each recovery as info. No Boost in this header.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/redis_link.h"

namespace boost::asio {
class io_context;
}

namespace portcullis::gateway {

class RedisClient final : public RedisLink {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    int db = 0;
    std::string username;
    std::string password;  // empty: no AUTH
    std::string channel;   // subscribed at every connection; empty: no subscriber connection
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{500};
    // Losses and recoveries are logged as errors/info when true; a worker's
    // rate-limit link (the shared link says it already) logs them as warnings.
    bool loud = true;
    std::string name = "shared";  // in its log lines
  };

  // On its own thread.
  explicit RedisClient(Options options);
  // On `ioc` (a worker's), no thread of its own: command() is cheapest from
  // that io_context's thread. stop() (and the destructor) must run on that
  // thread or once it has stopped running `ioc`; `ioc` must outlive this.
  RedisClient(Options options, boost::asio::io_context& ioc);
  ~RedisClient() override;  // stops (and joins its thread)

  void start();  // starts the thread (if its own) and the first connection attempt
  void stop();

  void set_handlers(Handlers handlers) override;
  void command(std::vector<std::string> args, ReplyCallback done) override;
  void command_resp(std::string_view resp, ReplyCallback done) override;
  void post(std::function<void()> fn) override;
  bool connected() const override;
  const std::string& channel() const override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace portcullis::gateway
