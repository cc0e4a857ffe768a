#include "credentials/encoding.h"

#include "common/encoding.h"

namespace portcullis::credentials {

std::optional<Secret> hex_decode_secret(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  Secret out = Secret::zeroed(hex.size() / 2);
  if (!encoding::hex_decode_into(hex, out.mutable_data())) return std::nullopt;
  return out;
}

std::optional<Secret> base64_decode_secret(std::string_view text) {
  Secret buf = Secret::zeroed(encoding::base64_decoded_max(text.size()));
  auto n = encoding::base64_decode_into(
      text, {encoding::Base64Alphabet::kEither, encoding::Base64Padding::kOptional}, buf.mutable_data());
  if (!n) return std::nullopt;
  return Secret(std::string_view(reinterpret_cast<const char*>(buf.data()), *n));
}

}  // namespace portcullis::credentials
