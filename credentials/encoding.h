// Text encodings used by the vault, the token clients and JWTs: hex, base64
// (standard and URL-safe without padding) and form-urlencoding. Decoders
// return nullopt on malformed input; the *_secret variants decode straight
// into a Secret so no plain copy of key material is left behind.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "credentials/secret.h"

namespace portcullis::credentials {

std::string hex_encode(std::string_view bytes);
std::optional<std::string> hex_decode(std::string_view hex);
std::optional<Secret> hex_decode_secret(std::string_view hex);

std::string base64_encode(std::string_view bytes);     // RFC 4648 §4, padded
std::string base64url_encode(std::string_view bytes);  // RFC 4648 §5, no padding
// Accepts both alphabets, with or without padding; ignores nothing else.
std::optional<std::string> base64_decode(std::string_view text);
std::optional<Secret> base64_decode_secret(std::string_view text);

// application/x-www-form-urlencoded component (RFC 6749 appendix B).
std::string form_urlencode(std::string_view s);

}  // namespace portcullis::credentials
