// Base64url (RFC 4648 §5) as JWS uses it (RFC 7515 §2): no padding, no
// whitespace, no characters outside [A-Za-z0-9_-]. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::identity {

enum class Padding {
  kReject,  // tokens: any '=' is an error
  kAllow,   // JWK members: tolerate correct trailing '=' some issuers emit
};

// Decodes `in`; nullopt on any invalid character, bad length, non-zero
// trailing bits or (with kReject) padding.
std::optional<std::string> base64url_decode(std::string_view in, Padding padding = Padding::kReject);

// Encodes without padding.
std::string base64url_encode(std::string_view in);

// Standard base64 with padding (HTTP Basic credentials).
std::string base64_encode(std::string_view in);

}  // namespace portcullis::identity
