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

TEST_CASE("sha256_hex gives the known digest") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
