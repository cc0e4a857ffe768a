#include "identity/strict_json.h"

#include <doctest/doctest.h>

using namespace portcullis::identity;

TEST_CASE("strict JSON accepts ordinary documents") {
  auto doc = parse_strict_json(R"({"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]})");
  REQUIRE(doc);
  CHECK((*doc)["b"]["a"] == 2);
}

TEST_CASE("strict JSON refuses a duplicate key at the top level") {
  CHECK_FALSE(parse_strict_json(R"({"alg":"RS256","alg":"none"})"));
}

TEST_CASE("strict JSON refuses a duplicate key in a nested object") {
  CHECK_FALSE(parse_strict_json(R"({"act":{"sub":"a","sub":"b"}})"));
  CHECK_FALSE(parse_strict_json(R"({"x":[{"k":1,"k":2}]})"));
}

TEST_CASE("strict JSON refuses deep nesting, trailing bytes and invalid UTF-8") {
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "[";
  for (int i = 0; i < 20; ++i) deep += "]";
  CHECK_FALSE(parse_strict_json(deep));
  CHECK_FALSE(parse_strict_json(R"({"a":1} x)"));
  CHECK_FALSE(parse_strict_json("{\"a\":\"\xff\"}"));
}
