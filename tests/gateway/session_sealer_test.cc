#include <doctest/doctest.h>

#include "gateway/session_sealer.h"

using namespace portcullis::gateway;
using namespace std::chrono_literals;

namespace {
SessionClaims sample(std::int64_t t) { return {"crm", "upstream-uuid-1", "iss|agent-a", "2025-06-18", t}; }
}  // namespace

TEST_CASE("a sealed session id opens to the same claims") {
  SessionSealer s(SessionSealer::random_key());
  auto id = s.seal(sample(1000));
  for (char c : id) CHECK((c >= 0x21 && c <= 0x7e));
  auto c = s.open(id, 3600s, 1010);
  REQUIRE(c.ok());
  CHECK(c->upstream == "crm");
  CHECK(c->upstream_session == "upstream-uuid-1");
  CHECK(c->principal == "iss|agent-a");
  CHECK(c->protocol_version == "2025-06-18");
}

TEST_CASE("the upstream's session id does not appear in the sealed id") {
  SessionSealer s(SessionSealer::random_key());
  auto id = s.seal(sample(1000));
  CHECK(id.find("upstream-uuid-1") == std::string::npos);
  CHECK(s.seal(sample(1000)) != id);  // fresh nonce each time
}

TEST_CASE("an id sealed with another key is forged") {
  SessionSealer a(SessionSealer::random_key()), b(SessionSealer::random_key());
  auto r = b.open(a.seal(sample(1000)), 3600s, 1000);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == SessionError::kForged);
}

TEST_CASE("a flipped character is detected") {
  SessionSealer s(SessionSealer::random_key());
  auto id = s.seal(sample(1000));
  id[id.size() / 2] = id[id.size() / 2] == 'A' ? 'B' : 'A';
  CHECK_FALSE(s.open(id, 3600s, 1000).ok());
}

TEST_CASE("garbage and oversized ids are malformed") {
  SessionSealer s(SessionSealer::random_key());
  CHECK(s.open("", 3600s, 0).error() == SessionError::kMalformed);
  CHECK(s.open("not base64 !!", 3600s, 0).error() == SessionError::kMalformed);
  CHECK(s.open(std::string(5000, 'A'), 3600s, 0).error() == SessionError::kMalformed);
  CHECK_FALSE(s.open("c2hvcnQ", 3600s, 0).ok());
}

TEST_CASE("an id older than the maximum age is expired") {
  SessionSealer s(SessionSealer::random_key());
  auto id = s.seal(sample(1000));
  CHECK(s.open(id, 3600s, 1000 + 3599).ok());
  auto r = s.open(id, 3600s, 1000 + 3601);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == SessionError::kExpired);
}
