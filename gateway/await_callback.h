// Internal: awaits a callback-style API from a coroutine. The callback may
// run on any thread (or before the start function returns); the coroutine
// always resumes on its own executor.
#pragma once

#include <memory>
#include <optional>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>

#include "gateway/io.h"

namespace portcullis::gateway {

template <class T, class Start>
Awaitable<T> await_callback(Start start) {
  auto ex = co_await net::this_coro::executor;
  auto init = [ex, start = std::move(start)](auto handler) mutable {
    using Handler = decltype(handler);
    auto h = std::make_shared<std::optional<Handler>>(std::move(handler));
    start([ex, h](T value) mutable {
      net::post(ex, [h, value = std::move(value)]() mutable {
        if (*h) {
          auto handler = std::move(**h);
          h->reset();
          std::move(handler)(std::move(value));
        }
      });
    });
  };
  co_return co_await net::async_initiate<decltype(net::use_awaitable), void(T)>(std::move(init), net::use_awaitable);
}

}  // namespace portcullis::gateway
