// SHA-256 (OpenSSL), written once for the audit chain, token-cache keys,
// config and policy revisions, admin token hashes and JWK thumbprints.
// Thread-safe. A failing SHA-256 means a broken OpenSSL: it aborts.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);  // lower case

}  // namespace portcullis
