#include "credentials/encoding.h"

#include <doctest/doctest.h>

namespace portcullis::credentials {

TEST_CASE("hex round trips and rejects odd or non-hex input") {
  CHECK(hex_encode(std::string("\x00\xff\x10", 3)) == "00ff10");
  CHECK(*hex_decode("00FF10") == std::string("\x00\xff\x10", 3));
  CHECK_FALSE(hex_decode("abc"));
  CHECK_FALSE(hex_decode("zz"));
  CHECK(hex_decode_secret("6869")->reveal() == "hi");
}

TEST_CASE("base64 matches the RFC 4648 test vectors in both alphabets") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK(*base64_decode("Zm9vYmE=") == "fooba");
  CHECK(*base64_decode("Zm9vYmE") == "fooba");
  CHECK(*base64_decode("-_8") == "\xfb\xff");
  CHECK(base64_decode_secret("Zm9v")->reveal() == "foo");
}

TEST_CASE("base64 decoding refuses non-canonical trailing bits and bad characters") {
  CHECK(base64_decode("Zg"));
  CHECK_FALSE(base64_decode("Zh"));  // low bits of the last character set
  CHECK_FALSE(base64_decode("Z"));
  CHECK_FALSE(base64_decode("Zm9v!"));
}

TEST_CASE("form encoding escapes reserved characters") {
  CHECK(form_urlencode("a b&c=d/é~") == "a+b%26c%3Dd%2F%C3%A9~");
}

}  // namespace portcullis::credentials
