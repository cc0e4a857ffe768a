#include "gateway/jsonrpc.h"

#include <set>

namespace portcullis::gateway {
namespace {

using nlohmann::json;

constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;

Result<RpcMessage, RpcError> classify(const json& m) {
  auto invalid = [](std::string msg) { return Err(RpcError{400, kInvalidRequest, std::move(msg)}); };
  if (!m.is_object()) return invalid("Invalid Request: a JSON-RPC message must be an object");
  auto v = m.find("jsonrpc");
  if (v == m.end() || !v->is_string() || v->get_ref<const std::string&>() != "2.0")
    return invalid("Invalid Request: jsonrpc must be \"2.0\"");

  RpcMessage out;
  auto id = m.find("id");
  bool has_id = id != m.end();
  if (has_id && !(id->is_string() || id->is_number_integer()))
    return invalid("Invalid Request: id must be a string or an integer");

  auto method = m.find("method");
  if (method != m.end()) {
    if (!method->is_string() || method->get_ref<const std::string&>().empty())
      return invalid("Invalid Request: method must be a non-empty string");
    if (m.contains("result") || m.contains("error"))
      return invalid("Invalid Request: a request cannot carry result or error");
    out.method = method->get<std::string>();
    out.kind = has_id ? RpcKind::kRequest : RpcKind::kNotification;
    if (has_id) out.id = *id;
    auto params = m.find("params");
    if (params != m.end() && !params->is_object() && !params->is_array())
      return invalid("Invalid Request: params must be an object or an array");
    if (params != m.end() && params->is_object()) {
      auto str = [&](const char* key) -> std::string {
        auto it = params->find(key);
        return it != params->end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      if (out.method == "tools/call" || out.method == "prompts/get") {
        out.target = str("name");
        if (out.kind == RpcKind::kRequest && out.target.empty())
          return Err(RpcError{400, -32602, "Invalid params: name must be a non-empty string"});
        auto args = params->find("arguments");
        if (args != params->end()) {
          if (!args->is_object())
            return Err(RpcError{400, -32602, "Invalid params: arguments must be an object"});
          out.arguments = &*args;  // a node of the caller's tree (RpcBody::json)
        }
      } else if (out.method == "resources/read") {
        out.target = str("uri");
        if (out.kind == RpcKind::kRequest && out.target.empty())
          return Err(RpcError{400, -32602, "Invalid params: uri must be a non-empty string"});
      } else if (out.method == "initialize") {
        out.protocol_version = str("protocolVersion");
      }
    } else if (out.method == "tools/call" || out.method == "prompts/get" ||
               out.method == "resources/read") {
      if (out.kind == RpcKind::kRequest)
        return Err(RpcError{400, -32602, "Invalid params: params must be an object"});
    }
    return out;
  }
  // A response (to a server-to-client request) or an error response.
  if (!has_id) return invalid("Invalid Request: a message needs a method or an id");
  bool has_result = m.contains("result"), has_error = m.contains("error");
  if (has_result == has_error)
    return invalid("Invalid Request: a response carries exactly one of result or error");
  if (has_error) {
    const auto& e = m["error"];
    if (!e.is_object() || !e.contains("code") || !e["code"].is_number_integer() ||
        !e.contains("message") || !e["message"].is_string())
      return invalid("Invalid Request: error needs an integer code and a message");
  }
  out.kind = RpcKind::kResponse;
  out.id = *id;
  return out;
}

}  // namespace

bool parse_json_strict(std::string_view text, nlohmann::json& out, bool* duplicate) {
  // One set of keys per open object; the parser callback sees keys in order.
  std::vector<std::set<std::string>> open;
  bool dup = false;
  auto cb = [&](int /*depth*/, json::parse_event_t ev, json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start: open.emplace_back(); break;
      case json::parse_event_t::object_end: if (!open.empty()) open.pop_back(); break;
      case json::parse_event_t::key:
        if (!open.empty() && !open.back().insert(parsed.get<std::string>()).second) dup = true;
        break;
      default: break;
    }
    return true;
  };
  out = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (duplicate) *duplicate = dup;
  return !out.is_discarded() && !dup;
}

bool RpcBody::has_requests() const {
  for (const auto& m : messages)
    if (m.kind == RpcKind::kRequest) return true;
  return false;
}

nlohmann::json RpcBody::first_id() const {
  for (const auto& m : messages)
    if (m.kind == RpcKind::kRequest) return m.id;
  return nullptr;
}

Result<RpcBody, RpcError> parse_rpc_body(std::string_view body, bool allow_batch) {
  RpcBody out;
  bool dup = false;
  if (!parse_json_strict(body, out.json, &dup)) {
    if (dup) return Err(RpcError{400, kInvalidRequest, "Invalid Request: duplicate object key"});
    return Err(RpcError{400, kParseError, "Parse error: body is not valid JSON"});
  }
  if (out.json.is_array()) {
    if (!allow_batch)
      return Err(RpcError{400, kInvalidRequest,
                          "Invalid Request: JSON-RPC batches are not allowed in this protocol revision"});
    if (out.json.empty()) return Err(RpcError{400, kInvalidRequest, "Invalid Request: empty batch"});
    out.batch = true;
    for (const auto& m : out.json) {
      auto r = classify(m);
      if (!r) return Err(r.error());
      if (r->method == "initialize")
        return Err(RpcError{400, kInvalidRequest, "Invalid Request: initialize cannot be batched"});
      out.messages.push_back(std::move(r.value()));
    }
    return out;
  }
  auto r = classify(out.json);
  if (!r) return Err(r.error());
  out.messages.push_back(std::move(r.value()));
  return out;
}

std::string rpc_error_body(const nlohmann::json& id, int code, std::string_view message) {
  json j = {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
  return j.dump();
}

}  // namespace portcullis::gateway
