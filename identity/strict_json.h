// Strict JSON for untrusted token parts and fetched documents: a duplicate
// member name anywhere, nesting deeper than `max_depth`, invalid UTF-8 or
// trailing bytes make the whole text invalid. (nlohmann keeps the last of
// two duplicate keys silently; a verifier and an issuer that disagree on
// which one counts is an attack.) Pure function, no exceptions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace portcullis::identity {

std::optional<nlohmann::json> parse_strict_json(std::string_view text, int max_depth = 16);

}  // namespace portcullis::identity
