#include "policy/canonical_json.h"

#include <doctest/doctest.h>

using namespace portcullis::policy;

TEST_CASE("canonical JSON sorts keys and drops whitespace") {
  auto a = nlohmann::json::parse(R"({ "b": 1, "a": { "d": [1, 2.5, "x"], "c": null } })");
  CHECK(canonical_json(a) == R"({"a":{"c":null,"d":[1,2.5,"x"]},"b":1})");
}

TEST_CASE("canonical JSON keeps the difference between a number and a string") {
  CHECK(canonical_json(nlohmann::json{{"n", 10}}) != canonical_json(nlohmann::json{{"n", "10"}}));
}
