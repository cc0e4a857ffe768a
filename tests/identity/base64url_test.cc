#include "identity/base64url.h"

#include <doctest/doctest.h>

using namespace portcullis::identity;

TEST_CASE("base64url round-trips every length without padding") {
  std::string s;
  for (int i = 0; i < 40; ++i) {
    const auto enc = base64url_encode(s);
    CHECK(enc.find('=') == std::string::npos);
    auto dec = base64url_decode(enc);
    REQUIRE(dec);
    CHECK(*dec == s);
    s += static_cast<char>(i * 37);
  }
}

TEST_CASE("base64url decoding refuses padding, plus, slash, whitespace and impossible lengths") {
  CHECK(base64url_decode("YQ") == std::optional<std::string>("a"));
  CHECK_FALSE(base64url_decode("YQ=="));
  CHECK_FALSE(base64url_decode("YQ="));
  CHECK_FALSE(base64url_decode("a+b/"));
  CHECK_FALSE(base64url_decode("YW Jj"));
  CHECK_FALSE(base64url_decode("YWJjZ"));  // 5 chars: length % 4 == 1
}

TEST_CASE("base64url decoding refuses non-canonical trailing bits") {
  CHECK(base64url_decode("YQ"));
  CHECK_FALSE(base64url_decode("YR"));  // same byte, stray low bits
}

TEST_CASE("base64url decoding allows correct padding only when asked") {
  CHECK(base64url_decode("YQ==", Padding::kAllow) == std::optional<std::string>("a"));
  CHECK_FALSE(base64url_decode("YQ=", Padding::kAllow));
  CHECK_FALSE(base64url_decode("Y===", Padding::kAllow));
}

TEST_CASE("standard base64 pads") { CHECK(base64_encode("ab") == "YWI="); }
