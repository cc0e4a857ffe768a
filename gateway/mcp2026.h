// MCP 2026-07-28 ("modern", stateless) rules an authorizing intermediary
// applies per request: which era a request belongs to, whether its version is
// served, and whether the mirrored headers (MCP-Protocol-Version, Mcp-Method,
// Mcp-Name, Mcp-Param-*) agree with the parsed body. Plain functions of header
// values and JSON, so they are unit-tested without a socket. Decisions are
// always made on the body; the headers are only checked against it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/jsonrpc.h"

namespace portcullis::gateway::mcp2026 {

inline constexpr std::string_view kModernVersion = "2026-07-28";
inline constexpr std::string_view kProtocolVersionKey = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view kClientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities";

// Spec-allocated codes (basic/index.mdx, schema.ts).
inline constexpr int kHeaderMismatch = -32020;
inline constexpr int kMissingRequiredClientCapability = -32021;
inline constexpr int kUnsupportedProtocolVersion = -32022;
inline constexpr int kMethodNotFound = -32601;

// Every revision Portcullis serves, newest first (the `supported` list of
// -32022 errors).
const std::vector<std::string>& supported_versions();
bool is_supported_version(std::string_view v);
// A well-formed YYYY-MM-DD revision at or after 2026-07-28 (the era is decided
// lexicographically, as the TS SDK and agentgateway do).
bool is_modern_version(std::string_view v);

// A refusal to send downstream: HTTP status plus a JSON-RPC error.
struct Refusal {
  unsigned http_status = 400;
  int code = 0;
  std::string message;
  nlohmann::json data;  // null: no data member
  std::string body(const nlohmann::json& id) const;
};

// The unsupported-version refusal: 400, -32022, data {supported, requested}.
Refusal unsupported_version(std::string_view requested);

// The request-metadata headers as received. Values are as on the wire
// (untrimmed); `count_*` > 1 means a duplicated header, which is malformed.
struct MirroredHeaders {
  std::optional<std::string> protocol_version;
  std::optional<std::string> method;
  std::optional<std::string> name;
  int count_protocol_version = 0;
  int count_method = 0;
  int count_name = 0;
  // Mcp-Param-{X}: X (as received) and the value.
  std::vector<std::pair<std::string, std::string>> params;
};

// The era of a parsed POST: modern when the body claims a modern revision in
// params._meta or the header names one. Batches and posted responses are
// never modern (the TS SDK classifies them the same way).
bool is_modern_request(const RpcBody& body, const MirroredHeaders& h);

// The checks of a modern POST, in the order agentgateway and the TS SDK use:
// removed method (404/-32601), then version served (400/-32022), then
// header-body agreement (400/-32020), then the `_meta` shape (400/-32602).
// `input_schema` is the called tool's inputSchema when Portcullis knows it
// (from a tools/list it relayed); Mcp-Param-* headers are then checked
// against the arguments at each x-mcp-header path, otherwise only for valid
// encoding (and forwarded for the upstream to check).
std::optional<Refusal> check_modern_request(const RpcBody& body, const MirroredHeaders& h,
                                            const nlohmann::json* input_schema);

// Header values: decodes the `=?base64?…?=` sentinel (strict base64, UTF-8)
// after trimming HTTP whitespace; plain values must be visible ASCII or
// space/tab inside. nullopt: invalid.
std::optional<std::string> decode_header_value(std::string_view raw);
// The wire form of a value: plain when safe, else the base64 sentinel.
std::string encode_header_value(std::string_view value);

// The Mcp-Name source of a request (params.name, params.uri, or
// params.taskId for tasks/*); nullopt when the method has none.
std::optional<std::string> name_source(const RpcMessage& m, const nlohmann::json& params);

// x-mcp-header annotations of an inputSchema: header name -> property path.
// Error when an annotation is invalid (the tool must then be dropped from
// tools/list by an HTTP client).
struct ParamHeader {
  std::string header;             // as declared
  std::vector<std::string> path;  // chain of `properties` keys
  std::string type;               // "string", "integer" or "boolean"
};
bool x_mcp_headers(const nlohmann::json& input_schema, std::vector<ParamHeader>& out, std::string& why);

// Drops tools whose x-mcp-header annotations are invalid from a tools/list
// result; returns the names dropped (to log).
std::vector<std::string> drop_invalid_tools(nlohmann::json& list_result);

// A result Portcullis changed (filtered per agent) must not be cached by a
// shared cache: cacheScope "public" becomes "private" and ttlMs 0. Only
// results that carry cache hints are touched. Returns true if changed.
bool make_private(nlohmann::json& result);

// A JSON-RPC answer Portcullis makes itself (a policy refusal, an approval
// outcome) given to a modern client: results need `resultType` (2026-07-28
// clients reject a result without one). Other text is returned unchanged.
std::string with_result_type(std::string reply);

}  // namespace portcullis::gateway::mcp2026
