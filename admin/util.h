// Small helpers shared by admin/ sources (not part of the public API).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::admin::detail {

// "2026-11-22T10:15:30.123Z"
std::string format_time(std::chrono::system_clock::time_point t);
// Parses format_time() output (milliseconds optional); nullopt otherwise.
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view s);
// `prefix` + 2*bytes random hex digits from OpenSSL's CSPRNG. Aborts if the
// CSPRNG fails (a "can't happen" on a seeded system).
std::string random_id(std::string_view prefix, std::size_t bytes);
// Lower-case hex SHA-1 (Redis names Lua scripts by it: EVALSHA).
std::string sha1_hex(std::string_view text);
// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

}  // namespace portcullis::admin::detail
