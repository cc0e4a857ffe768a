// Decoders of key material straight into a Secret, so no plain copy is left
// behind (the plain codecs are in common/encoding.h), and form-urlencoding
// for the token clients. Decoders return nullopt on malformed input.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "credentials/secret.h"

namespace portcullis::credentials {

std::optional<Secret> hex_decode_secret(std::string_view hex);
// Either alphabet, padding optional (operator input).
std::optional<Secret> base64_decode_secret(std::string_view text);

// application/x-www-form-urlencoded component (RFC 6749 appendix B).
std::string form_urlencode(std::string_view s);

}  // namespace portcullis::credentials
