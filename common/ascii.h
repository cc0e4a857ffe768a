// ASCII character classes. The grammars parsed here (RFC 6750 b64token,
// RFC 3986 unreserved, HTTP tokens, JSON numbers) are defined over ASCII;
// <cctype>'s functions follow the C locale and are calls, not inlined, which
// showed in the profile when run over every byte of an access token.
#pragma once

namespace portcullis::ascii {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
constexpr bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }

}  // namespace portcullis::ascii
