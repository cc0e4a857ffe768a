// Reading request and response header fields, for the gateway's .cc files.
#pragma once

#include <string>
#include <string_view>

#include "gateway/io.h"

namespace portcullis::gateway {

// The value of field `name`, or an empty string when it is absent.
inline std::string header(const http::fields& f, std::string_view name) {
  auto it = f.find(beast::string_view(name.data(), name.size()));
  return it == f.end() ? std::string() : std::string(it->value());
}

}  // namespace portcullis::gateway
