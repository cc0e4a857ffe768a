// Header checks of the Streamable HTTP transport, as plain functions of header
// values so they are unit-tested without a socket.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portcullis::gateway {

// Revisions this gateway speaks on the Streamable HTTP transport.
bool is_supported_protocol_version(std::string_view v);
// The revision assumed when the header is absent and the session says nothing.
inline constexpr std::string_view kDefaultProtocolVersion = "2025-03-26";

// A POST must accept both application/json and text/event-stream (a wildcard counts).
bool post_accept_ok(std::string_view accept);
// A GET stream must accept text/event-stream.
bool get_accept_ok(std::string_view accept);
// Content-Type is application/json, parameters allowed.
bool is_json_content_type(std::string_view content_type);
bool is_event_stream(std::string_view content_type);
// An absent Origin is fine (non-browser clients); a present one must be listed.
bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed);
// True when the query string carries an access token (forbidden by the MCP spec).
bool query_has_access_token(std::string_view target);
// The path part of a request target (before '?').
std::string_view target_path(std::string_view target);
// Hop-by-hop headers (RFC 9110 §7.6.1) plus those the gateway owns.
bool is_hop_by_hop(std::string_view name);

}  // namespace portcullis::gateway
