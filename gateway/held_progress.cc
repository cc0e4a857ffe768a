#include "gateway/held_progress.h"

#include "gateway/sse_parser.h"

namespace portcullis::gateway {

nlohmann::json progress_token(const nlohmann::json& request) {
  if (!request.is_object()) return nullptr;
  auto params = request.find("params");
  if (params == request.end() || !params->is_object()) return nullptr;
  auto meta = params->find("_meta");
  if (meta == params->end() || !meta->is_object()) return nullptr;
  auto token = meta->find("progressToken");
  if (token == meta->end()) return nullptr;
  if (token->is_string() || token->is_number_integer()) return *token;
  return nullptr;
}

std::string held_progress_event(const nlohmann::json& token, std::uint64_t n, std::string_view approval_id) {
  nlohmann::json note = {{"jsonrpc", "2.0"},
                         {"method", "notifications/progress"},
                         {"params",
                          {{"progressToken", token},
                           {"progress", n},
                           {"message", "held for approval (approval id " + std::string(approval_id) + ")"}}}};
  return sse_message(note.dump());
}

bool shift_progress(nlohmann::json& message, const nlohmann::json& token, std::uint64_t sent) {
  if (sent == 0 || token.is_null() || !message.is_object()) return false;
  auto method = message.find("method");
  if (method == message.end() || *method != "notifications/progress") return false;
  auto params = message.find("params");
  if (params == message.end() || !params->is_object()) return false;
  auto t = params->find("progressToken");
  if (t == params->end() || *t != token) return false;
  auto progress = params->find("progress");
  if (progress == params->end() || !progress->is_number()) return false;
  auto shift = [sent](nlohmann::json& v) {
    if (v.is_number_integer()) v = v.get<std::int64_t>() + static_cast<std::int64_t>(sent);
    else v = v.get<double>() + static_cast<double>(sent);
  };
  shift(*progress);
  auto total = params->find("total");
  if (total != params->end() && total->is_number()) shift(*total);
  return true;
}

}  // namespace portcullis::gateway
