#include "common/encoding.h"

#include <doctest/doctest.h>

namespace portcullis::encoding {
namespace {

constexpr Base64Rules kJws{Base64Alphabet::kUrl, Base64Padding::kForbidden};
constexpr Base64Rules kJwk{Base64Alphabet::kUrl, Base64Padding::kOptional};
constexpr Base64Rules kStrict{Base64Alphabet::kStandard, Base64Padding::kRequired};
constexpr Base64Rules kOperator{Base64Alphabet::kEither, Base64Padding::kOptional};

std::string bytes(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>(i * 37);
  return s;
}

}  // namespace

TEST_CASE("hex round trips in either case and refuses odd lengths and non-hex digits") {
  CHECK(hex_encode(std::string("\x00\xff\x10", 3)) == "00ff10");
  CHECK(*hex_decode("00FF10") == std::string("\x00\xff\x10", 3));
  CHECK(*hex_decode("") == "");
  CHECK_FALSE(hex_decode("abc"));
  CHECK_FALSE(hex_decode("zz"));
  CHECK_FALSE(hex_decode("0g"));
  unsigned char out[2];
  CHECK(hex_decode_into("beef", out));
  CHECK((out[0] == 0xbe && out[1] == 0xef));
}

TEST_CASE("base64 encodes the RFC 4648 test vectors in both alphabets") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK(base64_encode("\xfb\xff") == "+/8=");
}

TEST_CASE("base64 round-trips every length under every rule that fits its encoder") {
  for (int n = 0; n < 40; ++n) {
    std::string s = bytes(n);
    auto padded = base64_encode(s), url = base64url_encode(s);
    CHECK(url.find('=') == std::string::npos);
    CHECK(base64_decode(padded, kStrict) == s);
    CHECK(base64_decode(padded, kOperator) == s);
    CHECK(base64_decode(url, kJws) == s);
    CHECK(base64_decode(url, kJwk) == s);
    CHECK(base64_decode(url, kOperator) == s);
  }
}

TEST_CASE("base64 decoding applies the alphabet") {
  CHECK_FALSE(base64_decode("a+b/", kJws));
  CHECK_FALSE(base64_decode("-_8=", kStrict));
  CHECK(base64_decode("+/8=", kStrict) == "\xfb\xff");
  CHECK(base64_decode("-/8", kOperator) == "\xfb\xff");  // mixed: operator input
  CHECK_FALSE(base64_decode("YW Jj", kOperator));
  CHECK_FALSE(base64_decode("Zm9v!", kOperator));
  CHECK_FALSE(base64_decode("YQ\n", kOperator));
}

TEST_CASE("base64 decoding applies the padding rule") {
  // Forbidden (JWS): any '=' is an error.
  CHECK(base64_decode("YQ", kJws) == "a");
  CHECK_FALSE(base64_decode("YQ==", kJws));
  CHECK_FALSE(base64_decode("YQ=", kJws));
  // Required: whole quanta only.
  CHECK(base64_decode("YQ==", kStrict) == "a");
  CHECK(base64_decode("YWI=", kStrict) == "ab");
  CHECK(base64_decode("", kStrict) == "");
  CHECK_FALSE(base64_decode("YQ", kStrict));
  CHECK_FALSE(base64_decode("SGVsbG8", kStrict));  // SEP-2243: padding missing
  // Optional: absent, or exactly right.
  CHECK(base64_decode("YQ==", kJwk) == "a");
  CHECK(base64_decode("YQ", kJwk) == "a");
  CHECK_FALSE(base64_decode("YQ=", kJwk));
  CHECK_FALSE(base64_decode("Y===", kJwk));
  CHECK_FALSE(base64_decode("YWI==", kOperator));
  CHECK_FALSE(base64_decode("YWJj==", kOperator));  // padding after a whole quantum
  CHECK_FALSE(base64_decode("YQ=====", kOperator));
  CHECK_FALSE(base64_decode("====", kOperator));
  CHECK_FALSE(base64_decode("=", kOperator));
  // '=' only at the end.
  CHECK_FALSE(base64_decode("YQ==YQ==", kStrict));
}

TEST_CASE("base64 decoding refuses impossible lengths and non-canonical trailing bits") {
  CHECK_FALSE(base64_decode("Z", kOperator));
  CHECK_FALSE(base64_decode("YWJjZ", kJws));  // 5 characters: length % 4 == 1
  CHECK(base64_decode("Zg", kOperator));
  CHECK_FALSE(base64_decode("Zh", kOperator));  // the same byte with stray low bits
  CHECK_FALSE(base64_decode("YR", kJws));
  CHECK_FALSE(base64_decode("Zh==", kStrict));
  CHECK_FALSE(base64_decode("Zm9=", kStrict));
}

TEST_CASE("base64_decode_into writes at most base64_decoded_max bytes") {
  for (int n = 0; n < 20; ++n) {
    std::string text = base64_encode(bytes(n));
    std::string out(base64_decoded_max(text.size()), '\xAA');
    auto got = base64_decode_into(text, kStrict, reinterpret_cast<unsigned char*>(out.data()));
    REQUIRE(got);
    CHECK(*got == static_cast<std::size_t>(n));
    CHECK(*got <= out.size());
  }
}

TEST_CASE("form_urlencode keeps the unreserved characters, writes space as + and the rest as %XX") {
  CHECK(form_urlencode("a b&c=d/é~") == "a+b%26c%3Dd%2F%C3%A9~");
  CHECK(form_urlencode("AZaz09-._~") == "AZaz09-._~");
  CHECK(form_urlencode(std::string("\0\x7f\xff", 3)) == "%00%7F%FF");
  CHECK(form_urlencode("") == "");
}

}  // namespace portcullis::encoding
