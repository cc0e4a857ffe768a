#include "identity/token_cache.h"

// GCC 12 reports bogus -Wrestrict on inlined std::string copies (GCC bug 105651).
#pragma GCC diagnostic ignored "-Wrestrict"

#include <doctest/doctest.h>

using namespace portcullis::identity;
using std::chrono::seconds;
using TP = std::chrono::system_clock::time_point;

namespace {

TokenCache::Entry entry(TP not_after) {
  auto p = std::make_shared<Principal>();
  p->agent_id = "a";
  return {p, not_after, 0};
}

}  // namespace

TEST_CASE("token keys are SHA-256 of the token") {
  auto k = token_key("abc");
  CHECK(k[0] == 0xba);
  CHECK(k[31] == 0xad);
  CHECK(token_key("abc") != token_key("abd"));
}

TEST_CASE("a stored token is found again before its expiry") {
  TokenCache cache(100);
  const TP now(seconds(1000));
  cache.put(token_key("t"), entry(now + seconds(60)), now);
  auto hit = cache.get(token_key("t"), now + seconds(59));
  REQUIRE(hit);
  CHECK(hit->principal->agent_id == "a");
  CHECK_FALSE(cache.get(token_key("u"), now));
}

TEST_CASE("an entry is never used at or after its expiry") {
  TokenCache cache(100);
  const TP now(seconds(1000));
  cache.put(token_key("t"), entry(now + seconds(60)), now);
  CHECK_FALSE(cache.get(token_key("t"), now + seconds(60)));
  CHECK(cache.size() == 0);
  cache.put(token_key("old"), entry(now), now);  // already expired: not stored
  CHECK(cache.size() == 0);
}

TEST_CASE("the cache stays within its bound and evicts the least recently used") {
  TokenCache cache(64, 1);
  const TP now(seconds(1000));
  for (int i = 0; i < 64; ++i) cache.put(token_key(std::to_string(i)), entry(now + seconds(60)), now);
  CHECK(cache.get(token_key("0"), now));  // 0 becomes most recent
  for (int i = 64; i < 1000; ++i) {
    cache.put(token_key(std::to_string(i)), entry(now + seconds(60)), now);
    if (i < 100) CHECK(cache.get(token_key("0"), now));
  }
  CHECK(cache.size() == 64);
  CHECK_FALSE(cache.get(token_key("1"), now));
  CHECK(cache.get(token_key("999"), now));
}

TEST_CASE("a sharded cache stays within its total bound") {
  TokenCache cache(1000, 16);
  const TP now(seconds(1000));
  for (int i = 0; i < 20000; ++i) cache.put(token_key(std::to_string(i)), entry(now + seconds(60)), now);
  CHECK(cache.size() <= 1008);
  cache.clear();
  CHECK(cache.size() == 0);
}
