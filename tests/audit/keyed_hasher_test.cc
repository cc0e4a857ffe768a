#include "audit/keyed_hasher.h"

#include <doctest/doctest.h>
#include <openssl/hmac.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "common/sha256.h"

namespace portcullis::audit {
namespace {

std::string reference_hmac(const std::string& key, std::string_view data) {
  unsigned char mac[32];
  unsigned int len = sizeof mac;
  REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len));
  return encoding::hex_encode(std::string_view(reinterpret_cast<char*>(mac), len));
}

TEST_CASE("hash is HMAC-SHA256 under the key, prefixed with the key id") {
  std::string key(32, 'k');
  auto h = KeyedHasher::create(key);
  REQUIRE(h);
  std::string id = sha256_hex(key).substr(0, 8);
  CHECK((*h)->key_id() == id);
  for (std::string data : {std::string(), std::string("jti-1"), std::string(5000, 'x')})
    CHECK((*h)->hash(data) == "hmac-sha256:" + id + ":" + reference_hmac(key, data));
  auto other = KeyedHasher::create(std::string(32, 'j'));
  REQUIRE(other);
  CHECK((*other)->hash("jti-1") != (*h)->hash("jti-1"));
}

TEST_CASE("a thread hashing for several hashers in turn gets each one's own key") {
  // Each thread keeps one reusable context; switching hashers, or a new
  // hasher in a freed one's memory, must not reuse the other key.
  std::string k1(32, 'a'), k2(32, 'b');
  for (int round = 0; round < 3; ++round) {
    auto h1 = KeyedHasher::create(k1);
    auto h2 = KeyedHasher::create(k2);
    REQUIRE(h1);
    REQUIRE(h2);
    for (int i = 0; i < 3; ++i) {
      CHECK((*h1)->hash("x") == "hmac-sha256:" + (*h1)->key_id() + ":" + reference_hmac(k1, "x"));
      CHECK((*h2)->hash("x") == "hmac-sha256:" + (*h2)->key_id() + ":" + reference_hmac(k2, "x"));
    }
    std::swap(k1, k2);  // the next round's hashers may land at these addresses with the other key
  }
}

TEST_CASE("a key shorter than 16 bytes is refused") {
  CHECK_FALSE(KeyedHasher::create(std::string(15, 'k')));
}

TEST_CASE("hash gives the same answer from many threads at once") {
  auto h = KeyedHasher::create(std::string(32, 'k'));
  REQUIRE(h);
  const std::string expected = (*h)->hash("token-42");
  std::atomic<int> wrong{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 2000; ++i)
        if ((*h)->hash("token-42") != expected) ++wrong;
    });
  for (auto& t : ts) t.join();
  CHECK(wrong == 0);
}

}  // namespace
}  // namespace portcullis::audit
