// Decoders of key material straight into a Secret, so no plain copy is left
// behind (the plain codecs, and form-urlencoding, are in common/encoding.h).
// Decoders return nullopt on malformed input.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "credentials/secret.h"

namespace portcullis::credentials {

std::optional<Secret> hex_decode_secret(std::string_view hex);
// Either alphabet, padding optional (operator input).
std::optional<Secret> base64_decode_secret(std::string_view text);

}  // namespace portcullis::credentials
