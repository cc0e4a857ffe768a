// The wall clock identity/ reads, injectable so tests can move time.
#pragma once

#include <chrono>
#include <functional>

namespace portcullis::identity {

using Clock = std::function<std::chrono::system_clock::time_point()>;

inline Clock system_clock() {
  return [] { return std::chrono::system_clock::now(); };
}

}  // namespace portcullis::identity
