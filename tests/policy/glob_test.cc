#include "policy/glob.h"

#include <doctest/doctest.h>

#include <string>

using portcullis::policy::Glob;

TEST_CASE("a literal glob matches only the same bytes") {
  Glob g("read_record");
  CHECK(g.is_literal());
  CHECK(g.matches("read_record"));
  CHECK_FALSE(g.matches("read_records"));
  CHECK_FALSE(g.matches("Read_record"));
  CHECK_FALSE(g.matches(""));
}

TEST_CASE("a star matches any run of bytes, including none") {
  Glob g("read_*");
  CHECK_FALSE(g.is_literal());
  CHECK(g.literal_prefix() == "read_");
  CHECK(g.matches("read_"));
  CHECK(g.matches("read_record"));
  CHECK(g.matches("read_a/b"));
  CHECK_FALSE(g.matches("rea"));
  CHECK_FALSE(g.matches("xread_record"));
}

TEST_CASE("stars in the middle and at both ends place segments correctly") {
  CHECK(Glob("*_record").matches("read_record"));
  CHECK_FALSE(Glob("*_record").matches("read_records"));
  CHECK(Glob("a*b*c").matches("abc"));
  CHECK(Glob("a*b*c").matches("axxbyyc"));
  CHECK_FALSE(Glob("a*b*c").matches("axxcyyb"));
  CHECK(Glob("*mid*").matches("the middle"));
  CHECK_FALSE(Glob("ab*ba").matches("aba"));  // head and tail may not overlap
  CHECK(Glob("ab*ba").matches("abba"));
  CHECK(Glob("*").matches_everything());
  CHECK(Glob("**").matches(""));
}

TEST_CASE("a question mark matches exactly one byte") {
  Glob g("re?d");
  CHECK(g.matches("read"));
  CHECK(g.matches("reed"));
  CHECK_FALSE(g.matches("red"));
  CHECK_FALSE(g.matches("reaad"));
  CHECK(Glob("?*").matches("x"));
  CHECK_FALSE(Glob("?*").matches(""));
  CHECK(Glob("*?x").matches("ax"));
  CHECK_FALSE(Glob("*?x").matches("x"));
}

TEST_CASE("a backslash escapes a wildcard") {
  Glob g("a\\*b");
  CHECK(g.is_literal());
  CHECK(g.matches("a*b"));
  CHECK_FALSE(g.matches("axb"));
}

TEST_CASE("a Unicode look-alike tool name does not match an ASCII glob") {
  const std::string cyrillic_a = "\xD0\xB0";  // U+0430, looks like 'a'
  const std::string lookalike = "re" + cyrillic_a + "d_record";
  CHECK_FALSE(Glob("read_*").matches(lookalike));
  CHECK_FALSE(Glob("re?d_*").matches(lookalike));
  CHECK_FALSE(Glob("read_record").matches(lookalike));
  CHECK(Glob("re*d_*").matches(lookalike));  // a star matches any bytes, by design
}

TEST_CASE("matching a long adversarial subject stays fast") {
  std::string subject(100000, 'a');
  Glob g("*a*a*a*a*a*a*a*a*b");
  CHECK_FALSE(g.matches(subject));
}
