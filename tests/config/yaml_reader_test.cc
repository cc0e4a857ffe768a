#include "config/yaml_reader.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

// Shows both sides of a failed comparison of error lists, one per line.
namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string out = "\n";
    for (const std::string& s : v) out += "  " + s + "\n";
    return out.c_str();
  }
};
}  // namespace doctest

namespace portcullis::config {
namespace {

std::vector<std::string> strings(const ConfigErrors& errors) {
  std::vector<std::string> out;
  for (const ConfigError& e : errors) out.push_back(e.to_string());
  return out;
}

TEST_CASE("typed values are read from a mapping") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse(
      "name: crm\n"
      "on: true\n"
      "count: 42\n"
      "tags: [a, b]\n"
      "wait: 1h30m\n"
      "fast: 250ms\n"
      "body: 4MiB\n"
      "mode: shadow\n");
  CHECK(root["name"].as_string() == "crm");
  CHECK(root["on"].as_bool() == true);
  CHECK(root["count"].as_int(0, 100) == 42);
  CHECK(root["tags"].as_strings() == std::vector<std::string>{"a", "b"});
  CHECK(root["wait"].as_duration() == std::chrono::minutes(90));
  CHECK(root["fast"].as_duration() == std::chrono::milliseconds(250));
  CHECK(root["body"].as_bytes() == 4u * 1024 * 1024);
  CHECK(root["mode"].as_enum({"enforce", "shadow"}) == "shadow");
  CHECK(r.finish().empty());
}

TEST_CASE("absent and null values read as nullopt without errors") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("a:\nb: null\n");
  CHECK_FALSE(root["a"].as_string().has_value());
  CHECK_FALSE(root["b"].present());
  CHECK_FALSE(root["c"]["d"].as_int().has_value());
  CHECK(r.finish().empty());
}

TEST_CASE("unknown keys at any depth are reported with their position") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse(
      "server:\n"
      "  listen: x\n"
      "  tiemouts:\n"
      "    connect: 1s\n"
      "extra: 1\n");
  (void)root["server"]["listen"].as_string();
  CHECK(strings(r.finish()) == std::vector<std::string>{
                                   "t.yaml:3:3: server.tiemouts: unknown key (expected one of: listen)",
                                   "t.yaml:5:1: extra: unknown key (expected one of: server)",
                               });
}

TEST_CASE("wrong types are reported at the value") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("a: [1]\nb: \"true\"\nc: 1.5\nd: {x: 1}\ne: 7\n");
  CHECK_FALSE(root["a"].as_string());
  CHECK_FALSE(root["b"].as_bool());
  CHECK_FALSE(root["c"].as_int());
  CHECK(root["d"].items().empty());
  CHECK_FALSE(root["e"].as_int(0, 5));
  CHECK(strings(r.finish()) == std::vector<std::string>{
                                   "t.yaml:1:4: a: expected a string, found a list",
                                   "t.yaml:2:4: b: expected true or false, found \"true\"",
                                   "t.yaml:3:4: c: expected an integer, found \"1.5\"",
                                   "t.yaml:4:4: d: expected a list, found a mapping",
                                   "t.yaml:5:4: e: must be between 0 and 5, found 7",
                               });
}

TEST_CASE("bad durations and sizes are errors") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("d1: 5x\nd2: 10\nd3: m5\ns1: 4MB\ns2: -1\ns3: 99999999999999999999GiB\n");
  CHECK_FALSE(root["d1"].as_duration());
  CHECK_FALSE(root["d2"].as_duration());
  CHECK_FALSE(root["d3"].as_duration());
  CHECK_FALSE(root["s1"].as_bytes());
  CHECK_FALSE(root["s2"].as_bytes());
  CHECK_FALSE(root["s3"].as_bytes());
  auto errors = r.finish();
  REQUIRE(errors.size() == 6);
  CHECK(errors[0].to_string() == "t.yaml:1:5: d1: invalid duration \"5x\" (expected e.g. 250ms, 30s, 5m, 1h)");
  CHECK(errors[3].to_string() == "t.yaml:4:5: s1: invalid size \"4MB\" (expected bytes or e.g. 64KiB, 4MiB, 1GiB)");
}

TEST_CASE("plain sizes and a zero duration are accepted") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("a: 512\nb: 64KiB\nc: 1GiB\nd: 0\ne: 512B\n");
  CHECK(root["a"].as_bytes() == 512u);
  CHECK(root["b"].as_bytes() == 65536u);
  CHECK(root["c"].as_bytes() == (1ull << 30));
  CHECK(root["d"].as_duration() == std::chrono::milliseconds(0));
  CHECK(root["e"].as_bytes() == 512u);
  CHECK(r.finish().empty());
}

TEST_CASE("duplicate keys in any mapping are reported even if never read") {
  YamlReader r("t.yaml");
  (void)r.parse("a: 1\nb:\n  - {x: 1, x: 2}\na: 3\n");
  CHECK(strings(r.finish()) == std::vector<std::string>{
                                   "t.yaml:3:12: b[0].x: duplicate key (first defined on line 3)",
                                   "t.yaml:4:1: a: duplicate key (first defined on line 1)",
                               });
}

TEST_CASE("a YAML syntax error is reported with its position and the root is absent") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("a: [1, 2\nb: 3\n");
  CHECK_FALSE(root.present());
  auto errors = r.finish();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line > 0);
  CHECK(errors[0].key.empty());
}

TEST_CASE("require reports a missing key at the parent's position") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("up:\n  - name: x\n");
  auto items = root["up"].items();
  REQUIRE(items.size() == 1);
  (void)items[0]["name"].as_string();
  CHECK_FALSE(items[0].require("url").as_string());
  CHECK(strings(r.finish()) == std::vector<std::string>{"t.yaml:2:5: up[0].url: required"});
}

TEST_CASE("a scalar where a mapping is expected is one error, not one per key") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("server: 5\n");
  (void)root["server"]["listen"].as_string();
  (void)root["server"]["tls"].as_string();
  CHECK(strings(r.finish()) == std::vector<std::string>{"t.yaml:1:9: server: expected a mapping, found a scalar"});
}

TEST_CASE("an enum value outside the allowed set lists the choices") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("mode: block\n");
  CHECK_FALSE(root["mode"].as_enum({"enforce", "shadow"}));
  CHECK(strings(r.finish()) == std::vector<std::string>{"t.yaml:1:7: mode: \"block\" is not one of: enforce, shadow"});
}

TEST_CASE("as_json converts any value and marks its keys known") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("args: {id: r-1, limit: 10, ok: true, q: \"10\", f: 1.5, n: null, l: [1, x]}\n");
  nlohmann::json j = root["args"].as_json();
  CHECK(j == nlohmann::json::parse(R"({"id":"r-1","limit":10,"ok":true,"q":"10","f":1.5,"n":null,"l":[1,"x"]})"));
  CHECK(r.finish().empty());
}

TEST_CASE("entries lists a free-form map in file order") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("m: {b: 1, a: 2}\n");
  auto e = root["m"].entries();
  REQUIRE(e.size() == 2);
  CHECK(e[0].first == "b");
  CHECK(e[1].second.path() == "m.a");
  CHECK(r.finish().empty());
}

TEST_CASE("a string list with a non-scalar item names the item") {
  YamlReader r("t.yaml");
  YamlNode root = r.parse("l: [a, {b: 1}]\n");
  CHECK_FALSE(root["l"].as_strings());
  CHECK(strings(r.finish()) == std::vector<std::string>{"t.yaml:1:8: l[1]: expected a string, found a mapping"});
}

TEST_CASE("an alias bomb is cut off instead of walked") {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c) {
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) text += std::string(i ? ", *" : "*") + prev;
    text += "]\n";
    prev = c;
  }
  YamlReader r("t.yaml");
  (void)r.parse(text);
  auto errors = r.finish();
  REQUIRE_FALSE(errors.empty());
  CHECK(errors[0].message.find("too deep or too large") != std::string::npos);
}

}  // namespace
}  // namespace portcullis::config
