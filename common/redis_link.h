// RedisLink: the asynchronous connection to the Redis that replicas share
// (`state: { backend: redis }`), as the modules that use it see it: commands
// with a callback, one pub/sub channel, and up/down events. No Boost, no
// hiredis here: gateway/redis_client.h implements it on its own event-loop
// thread (hiredis async + an Asio adapter), so admin/ can use Redis without
// depending on gateway/.
//
// Threads: command() may be called from any thread and never blocks; every
// callback (replies, messages, up/down) runs on the link's own thread and must
// not block it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace portcullis {

// One RESP reply.
struct RedisValue {
  enum class Type : std::uint8_t { kNil, kInteger, kString, kStatus, kError, kArray } type = Type::kNil;
  std::int64_t integer = 0;
  std::string str;  // kString, kStatus, kError
  std::vector<RedisValue> elements;

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
};

class RedisLink {
 public:
  // Err: not connected, timed out (the link then reconnects) or the link
  // stopped. A Redis error reply is a value of Type::kError, not an Err.
  using Reply = Result<RedisValue>;
  using ReplyCallback = std::function<void(Reply)>;

  struct Handlers {
    // After every (re)connection, once AUTH/SELECT and SUBSCRIBE are done.
    std::function<void()> up;
    // When the link is lost (and at most once per loss); it reconnects by itself.
    std::function<void(const std::string& why)> down;
    // A message on the subscribed channel.
    std::function<void(const std::string& message)> message;
  };

  virtual ~RedisLink() = default;

  // Set once, before start().
  virtual void set_handlers(Handlers handlers) = 0;
  // Sends one command (arguments, binary-safe). Answered within the command
  // timeout, or with an Err.
  virtual void command(std::vector<std::string> args, ReplyCallback done) = 0;
  // The same with the command already in RESP form (an array of bulk
  // strings), for a hot path that builds it in a buffer it keeps. Cheapest
  // from the link's own thread (copied once, into the socket's buffer).
  virtual void command_resp(std::string_view resp, ReplyCallback done) = 0;
  // Runs `fn` on the link's thread (for batching work there).
  virtual void post(std::function<void()> fn) = 0;
  // True between `up` and `down`.
  virtual bool connected() const = 0;
  // The pub/sub channel the link subscribes to (prefix + "events").
  virtual const std::string& channel() const = 0;
};

}  // namespace portcullis
