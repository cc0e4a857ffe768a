// Unpadded base64url (RFC 4648 §5), strict on decode.
#pragma once

#include <string>
#include <string_view>

namespace portcullis::gateway {

std::string base64url_encode(std::string_view bytes);
// False on any character outside the alphabet, padding, or an impossible length.
bool base64url_decode(std::string_view text, std::string& out);

}  // namespace portcullis::gateway
