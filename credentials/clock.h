// Wall-clock time for token lifetimes (expires_in, JWT iat/exp). Tests use a
// fake that they advance by hand.
#pragma once

#include <chrono>

namespace portcullis::credentials {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// The real clock (std::chrono::system_clock). Lives for the whole program.
const Clock& real_clock();

}  // namespace portcullis::credentials
