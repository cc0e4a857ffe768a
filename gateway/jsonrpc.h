// Parses a POSTed MCP body as JSON-RPC 2.0, once, into the facts later stages
// read (method, id, tool name, arguments). Rejects what the transport forbids:
// malformed JSON, duplicate object keys (so a policy check and the upstream
// can never read different values of one key), non-JSON-RPC shapes, and
// batches unless the negotiated revision allows them (2025-03-26 only).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace portcullis::gateway {

enum class RpcKind { kRequest, kNotification, kResponse };

struct RpcMessage {
  RpcKind kind = RpcKind::kRequest;
  std::string method;      // requests and notifications
  nlohmann::json id;       // requests and responses; null otherwise
  // The object a decision is about: the tool name for tools/call, the prompt
  // name for prompts/get, the URI for resources/read; empty otherwise.
  std::string target;
  // tools/call and prompts/get arguments: a node of RpcBody::json, not a copy
  // (no allocation per call), so valid while the RpcBody holding this message
  // lives; null when absent.
  const nlohmann::json* arguments = nullptr;
  std::string protocol_version;  // initialize params.protocolVersion, when present
};

// Move-only: messages point into `json`, whose nodes a move keeps in place and
// a copy would not.
struct RpcBody {
  RpcBody() = default;
  RpcBody(RpcBody&&) = default;
  RpcBody& operator=(RpcBody&&) = default;
  RpcBody(const RpcBody&) = delete;
  RpcBody& operator=(const RpcBody&) = delete;

  nlohmann::json json;  // the whole parsed body
  std::vector<RpcMessage> messages;
  bool batch = false;
  bool has_requests() const;
  // The id of the first request, or null: used in error replies.
  nlohmann::json first_id() const;
};

struct RpcError {
  int http_status;
  int code;  // JSON-RPC error code
  std::string message;
};

// `allow_batch` is true only when the negotiated revision is 2025-03-26.
Result<RpcBody, RpcError> parse_rpc_body(std::string_view body, bool allow_batch);

// Parses JSON rejecting duplicate keys at any depth. Returns false on
// malformed input or duplicates.
bool parse_json_strict(std::string_view text, nlohmann::json& out, bool* duplicate = nullptr);

// {"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message}}
std::string rpc_error_body(const nlohmann::json& id, int code, std::string_view message);

}  // namespace portcullis::gateway
