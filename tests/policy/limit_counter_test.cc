#include "policy/limit_counter.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace portcullis::policy;
using namespace std::chrono_literals;

namespace {
const auto kT0 = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));  // on a minute boundary
}

TEST_CASE("a counter allows up to the limit within a window") {
  InMemoryLimitCounter c;
  for (int i = 0; i < 5; ++i) CHECK(c.try_acquire("k", 5, 1min, kT0 + std::chrono::seconds(i)));
  CHECK_FALSE(c.try_acquire("k", 5, 1min, kT0 + 10s));
  CHECK(c.try_acquire("other", 5, 1min, kT0 + 10s));
}

TEST_CASE("the sliding window forgets old events gradually") {
  InMemoryLimitCounter c;
  for (int i = 0; i < 10; ++i) REQUIRE(c.try_acquire("k", 10, 1min, kT0 + 50s));
  CHECK_FALSE(c.try_acquire("k", 10, 1min, kT0 + 59s));
  // 15 s into the next window, 75 % of the previous 10 still count.
  CHECK(c.try_acquire("k", 10, 1min, kT0 + 75s));
  CHECK(c.try_acquire("k", 10, 1min, kT0 + 75s));
  CHECK_FALSE(c.try_acquire("k", 10, 1min, kT0 + 75s));
  // Two windows later, everything is forgotten.
  for (int i = 0; i < 10; ++i) CHECK(c.try_acquire("k", 10, 1min, kT0 + 181s));
}

TEST_CASE("a refused event is not counted") {
  InMemoryLimitCounter c;
  CHECK(c.try_acquire("k", 1, 1min, kT0));
  for (int i = 0; i < 100; ++i) CHECK_FALSE(c.try_acquire("k", 1, 1min, kT0 + 1s));
  CHECK(c.try_acquire("k", 1, 1min, kT0 + 120s));
}

TEST_CASE("a limit of zero refuses everything") {
  InMemoryLimitCounter c;
  CHECK_FALSE(c.try_acquire("k", 0, 1min, kT0));
}

TEST_CASE("memory stays bounded when keys keep coming") {
  InMemoryLimitCounter c(160);
  for (int i = 0; i < 10000; ++i) c.try_acquire("key-" + std::to_string(i), 5, 1min, kT0);
  CHECK(c.size() <= 160);
}

TEST_CASE("concurrent acquisitions never exceed the limit") {
  InMemoryLimitCounter c;
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (c.try_acquire("shared", 500, 1h, kT0)) ++granted;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(granted.load() == 500);
}
