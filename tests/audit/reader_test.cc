#include "audit/reader.h"

#include <doctest/doctest.h>

#include "test_util.h"

namespace portcullis::audit {
namespace {

TEST_CASE("read_recent returns the newest matching decisions first, across segments, up to the limit") {
  testing::TempDir d;
  AuditLogOptions o;
  o.dir = d.sub("log");
  o.segment_bytes = 1500;
  {
    auto log = AuditLog::open(o);
    REQUIRE(log);
    for (int i = 0; i < 30; ++i)
      REQUIRE(testing::append_sync(**log, testing::sample(i, i % 2 ? "odd-bot" : "even-bot")));
  }
  auto r = read_recent(o.dir, {"odd-bot", {"decision"}, 5});
  REQUIRE(r);
  REQUIRE(r->size() == 5);
  CHECK((*r)[0]["decision_id"] == "d-29");
  CHECK((*r)[4]["decision_id"] == "d-21");
  for (const auto& x : *r) CHECK(x["agent"] == "odd-bot");
  CHECK((*r)[0]["hash"].get<std::string>().rfind("sha256:", 0) == 0);
  auto all = read_recent(o.dir, {"", {}, 1000});
  REQUIRE(all);
  CHECK(all->size() > 30);  // decisions plus checkpoints
}

TEST_CASE("read_recent of a missing directory is an error") {
  CHECK_FALSE(read_recent("/nonexistent/audit", {}));
}

}  // namespace
}  // namespace portcullis::audit
