// JSON-RPC error codes of Portcullis's own replies. The JSON-RPC standard
// codes (-32700..-32600) are used where they fit; Portcullis's own stay within
// -32000..-32019 (the spec keeps -32020.. for itself) and are documented in
// the README.
#pragma once

namespace portcullis::gateway {

inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kInvalidParams = -32602;

inline constexpr int kBadRequest = -32000;            // transport-level refusal (as the SDK does)
inline constexpr int kSessionNotFound = -32001;       // 404 for unknown/forged/expired sessions
inline constexpr int kUnauthorized = -32004;          // 401: no or bad token (-32002 is MCP's resource not found)
inline constexpr int kForbidden = -32003;             // 403: Origin, scope, or kill switch
inline constexpr int kUpstreamUnavailable = -32010;   // 502: connect failed, closed, garbage
inline constexpr int kUpstreamTimeout = -32011;       // 504
inline constexpr int kUpstreamRejected = -32012;      // 502: upstream refused the gateway's credential
inline constexpr int kAuditUnavailable = -32013;      // 503: decision record cannot be written
inline constexpr int kCredentialUnavailable = -32014; // 502: no upstream credential
inline constexpr int kDraining = -32015;              // 503: shutting down
inline constexpr int kAuthUnavailable = -32016;       // 503: keys not loaded or introspection down

}  // namespace portcullis::gateway
