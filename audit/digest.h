// SHA-256 and the text encodings the audit format uses (lower-case hex,
// standard base64 with padding). Thread-safe, stateless.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::audit {

using Sha256 = std::array<std::uint8_t, 32>;

Sha256 sha256(std::string_view data);
std::string to_hex(std::string_view bytes);
std::string to_hex(const Sha256& d);
std::optional<std::string> from_hex(std::string_view hex);
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace portcullis::audit
