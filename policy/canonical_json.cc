#include "policy/canonical_json.h"

namespace portcullis::policy {

std::string canonical_json(const nlohmann::json& value) {
  // nlohmann::json stores objects in a std::map, so dump() already emits keys
  // in byte order; `replace` keeps invalid UTF-8 from throwing.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace portcullis::policy
