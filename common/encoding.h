// Hex and base64 (RFC 4648), written once for every module: JWTs and JWKs
// (identity), vault entries and client credentials (credentials), signatures
// in the audit log, session keys and the 2026 header sentinel (gateway).
// OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock would do for the standard
// alphabet only, and they accept non-canonical text. Pure functions.
//
// Decoders accept canonical encodings only: the unused low bits of the last
// character must be zero, so two different texts never decode to the same
// bytes (a signature covers the text; the vault compares entries).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::encoding {

std::string hex_encode(std::string_view bytes);  // lower case
// Either case; nullopt on an odd length or a non-hex digit.
std::optional<std::string> hex_decode(std::string_view hex);
// Into `out` (hex.size() / 2 bytes); false as hex_decode's nullopt.
bool hex_decode_into(std::string_view hex, unsigned char* out);

enum class Base64Alphabet {
  kStandard,  // RFC 4648 §4: + and /
  kUrl,       // §5: - and _
  kEither,    // both, even mixed (operator input)
};

enum class Base64Padding {
  kRequired,   // the length is a multiple of 4, with its one or two '='
  kForbidden,  // no '=' at all (JWS)
  kOptional,   // either absent, or exactly what kRequired asks for
};

struct Base64Rules {
  Base64Alphabet alphabet = Base64Alphabet::kStandard;
  Base64Padding padding = Base64Padding::kRequired;
};

std::string base64_encode(std::string_view bytes);     // §4, padded
std::string base64url_encode(std::string_view bytes);  // §5, unpadded

// An upper bound of the decoded size of `text_size` characters.
constexpr std::size_t base64_decoded_max(std::size_t text_size) { return text_size / 4 * 3 + 3; }
// Decodes into `out` (base64_decoded_max(text.size()) bytes); the decoded
// length, or nullopt on a character outside the alphabet, an impossible
// length, padding the rules do not allow, or non-zero unused bits.
std::optional<std::size_t> base64_decode_into(std::string_view text, Base64Rules rules, unsigned char* out);
std::optional<std::string> base64_decode(std::string_view text, Base64Rules rules);

// An application/x-www-form-urlencoded component (RFC 6749 appendix B; the
// token and introspection clients): unreserved characters as they are, space
// as '+', every other byte as %XX (upper case).
std::string form_urlencode(std::string_view s);

}  // namespace portcullis::encoding
