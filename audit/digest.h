// SHA-256 as the audit format writes it (lower-case hex). Thread-safe,
// stateless. Other encodings: common/encoding.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::audit {

using Sha256 = std::array<std::uint8_t, 32>;

Sha256 sha256(std::string_view data);
std::string to_hex(const Sha256& d);

}  // namespace portcullis::audit
