// Canonical JSON and SHA-256, for the policy revision and tool fingerprints.
//
// canonical_json(): object keys sorted by bytes (nlohmann's ordered map),
// no whitespace, UTF-8 kept as is, integers exact, other numbers in their
// shortest round-trip form. Close to RFC 8785 (JCS) for the ASCII keys and
// values policies use; the same input always gives the same bytes.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace portcullis::policy {

std::string canonical_json(const nlohmann::json& value);

// Lower-case hex SHA-256 of `bytes` (OpenSSL EVP).
std::string sha256_hex(std::string_view bytes);

}  // namespace portcullis::policy
