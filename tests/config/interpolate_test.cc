#include "config/interpolate.h"

#include <doctest/doctest.h>

#include <map>

namespace portcullis::config {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST_CASE("variables are replaced from the environment") {
  auto r = interpolate_env("url: http://${HOST}:${PORT}/mcp\n", fake_env({{"HOST", "h"}, {"PORT", "9"}}));
  CHECK(r.problems.empty());
  CHECK(r.text == "url: http://h:9/mcp\n");
}

TEST_CASE("a doubled dollar escapes a literal ${ and a lone $ is kept") {
  auto r = interpolate_env("a: $${HOME} costs $5 and $$\n", fake_env({}));
  CHECK(r.problems.empty());
  CHECK(r.text == "a: ${HOME} costs $5 and $$\n");
}

TEST_CASE("an unset variable is a problem at its line and column and stays verbatim") {
  auto r = interpolate_env("a: 1\nb: x${NOPE}y\n", fake_env({}));
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].line == 2);
  CHECK(r.problems[0].column == 5);
  CHECK(r.problems[0].message == "environment variable NOPE is not set");
  CHECK(r.text == "a: 1\nb: x${NOPE}y\n");
  CHECK(r.text.substr(r.problems[0].offset, 2) == "${");
}

TEST_CASE("an empty variable is replaced by the empty string, not treated as unset") {
  auto r = interpolate_env("a: '${E}'\n", fake_env({{"E", ""}}));
  CHECK(r.problems.empty());
  CHECK(r.text == "a: ''\n");
}

TEST_CASE("malformed references are problems") {
  auto r = interpolate_env("a: ${1X}\nb: ${unterminated\nc: ${}\nd: ${A:-b}\n", fake_env({}));
  REQUIRE(r.problems.size() == 4);
  CHECK(r.problems[0].message == "malformed variable reference \"${1X}\" (write $${ for a literal ${)");
  CHECK(r.problems[1].line == 2);
  CHECK(r.problems[1].message == "malformed variable reference \"${\" (write $${ for a literal ${)");
  CHECK(r.problems[3].line == 4);
}

TEST_CASE("offsets account for earlier substitutions") {
  auto r = interpolate_env("${A} ${B}", fake_env({{"A", "long value"}}));
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].column == 6);
  CHECK(r.problems[0].offset == 11);
}

}  // namespace
}  // namespace portcullis::config
