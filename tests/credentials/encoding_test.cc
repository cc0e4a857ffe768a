#include "credentials/encoding.h"

#include <doctest/doctest.h>

namespace portcullis::credentials {

TEST_CASE("the Secret decoders decode hex and base64 (either alphabet, padding optional)") {
  CHECK(hex_decode_secret("6869")->reveal() == "hi");
  CHECK(hex_decode_secret("6A6b")->reveal() == "jk");
  CHECK_FALSE(hex_decode_secret("686"));
  CHECK_FALSE(hex_decode_secret("zz"));
  CHECK(base64_decode_secret("Zm9v")->reveal() == "foo");
  CHECK(base64_decode_secret("Zm9vYmE=")->reveal() == "fooba");
  CHECK(base64_decode_secret("Zm9vYmE")->reveal() == "fooba");
  CHECK(base64_decode_secret("-_8")->reveal() == "\xfb\xff");
  CHECK(base64_decode_secret("+/8=")->reveal() == "\xfb\xff");
  CHECK_FALSE(base64_decode_secret("Zh"));
  CHECK_FALSE(base64_decode_secret("Zm9v!"));
  CHECK_FALSE(base64_decode_secret("Zm9vYmE=="));
}

}  // namespace portcullis::credentials
