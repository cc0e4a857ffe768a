// Internal to gateway/: Boost.Asio/Beast aliases and the one stream type that
// is either plain TCP or TLS over TCP. Only gateway .cc files include this;
// Asio and Beast are compiled once in boost_impl.cc.
#pragma once

#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace portcullis::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;

template <class T = void>
using Awaitable = net::awaitable<T>;

// Completion token: co_await yields a tuple (error_code, ...), never throws.
inline constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);

class AnyStream {
 public:
  using Tls = beast::ssl_stream<beast::tcp_stream>;
  explicit AnyStream(beast::tcp_stream&& s) : v_(std::in_place_index<0>, std::move(s)) {}
  AnyStream(beast::tcp_stream&& s, ssl::context& ctx) : v_(std::in_place_index<1>, std::move(s), ctx) {}

  bool is_tls() const { return v_.index() == 1; }
  Tls* tls() { return std::get_if<1>(&v_); }
  beast::tcp_stream& tcp() {
    return v_.index() == 0 ? std::get<0>(v_) : beast::get_lowest_layer(std::get<1>(v_));
  }
  // Runs f(stream) with the concrete stream; both branches must return one type.
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), v_);
  }

 private:
  std::variant<beast::tcp_stream, Tls> v_;
};

}  // namespace portcullis::gateway
