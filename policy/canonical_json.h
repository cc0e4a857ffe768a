// Canonical JSON, for the policy revision and tool fingerprints (hashed with
// common/sha256.h's sha256_hex, which this header brings in).
//
// canonical_json(): object keys sorted by bytes (nlohmann's ordered map),
// no whitespace, UTF-8 kept as is, integers exact, other numbers in their
// shortest round-trip form. Close to RFC 8785 (JCS) for the ASCII keys and
// values policies use; the same input always gives the same bytes.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/sha256.h"

namespace portcullis::policy {

std::string canonical_json(const nlohmann::json& value);

}  // namespace portcullis::policy
