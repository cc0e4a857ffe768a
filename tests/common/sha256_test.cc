#include "common/sha256.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

namespace portcullis {

TEST_CASE("sha256 gives the FIPS 180-2 digests") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  auto d = sha256("abc");
  CHECK(d[0] == 0xba);
  CHECK(d[31] == 0xad);
}

TEST_CASE("sha256 gives the same digests from many threads (one context per thread)") {
  std::vector<std::thread> ts;
  std::vector<int> bad(8, 0);
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([t, &bad] {
      for (int i = 0; i < 2000; ++i)
        if (sha256_hex("abc") != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ++bad[t];
    });
  for (auto& t : ts) t.join();
  for (int b : bad) CHECK(b == 0);
}

}  // namespace portcullis
