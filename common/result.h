// Result<T, E>: a value or an error, for the hot path where exceptions are not
// used (std::expected is C++23). Construct errors with Err(...).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace portcullis {

// A plain error: a message for logs and operators. Modules that need the
// caller to branch on the kind of failure use their own enum as E.
struct Error {
  std::string message;
};

template <class E>
struct Unexpected {
  E error;
};

template <class E>
Unexpected<std::decay_t<E>> Err(E&& e) {
  return {std::forward<E>(e)};
}
inline Unexpected<Error> Err(std::string message) { return {Error{std::move(message)}}; }
inline Unexpected<Error> Err(const char* message) { return {Error{message}}; }

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <class F>
  Result(Unexpected<F> e) : v_(std::in_place_index<1>, E(std::move(e.error))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

// Result<void>: success or an error.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  template <class F>
  Result(Unexpected<F> e) : err_(E(std::move(e.error))), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const { return err_; }

 private:
  E err_{};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace portcullis
