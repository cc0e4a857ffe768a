#include "identity/resource_metadata.h"

#include <nlohmann/json.hpp>

namespace portcullis::identity {
namespace {

std::string_view trim_slash(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

std::string path_part(std::string_view route_path) {
  if (route_path.empty() || route_path == "/") return {};
  std::string p(route_path);
  if (p.front() != '/') p.insert(p.begin(), '/');
  return p;
}

}  // namespace

std::string resource_metadata_url(std::string_view public_url, std::string_view route_path) {
  return std::string(trim_slash(public_url)) + "/.well-known/oauth-protected-resource" + path_part(route_path);
}

std::string resource_uri(std::string_view public_url, std::string_view route_path) {
  return std::string(trim_slash(public_url)) + path_part(route_path);
}

std::string protected_resource_metadata(std::string_view resource, const std::vector<std::string>& issuers,
                                        const std::vector<std::string>& scopes) {
  nlohmann::json doc = {
      {"resource", std::string(resource)},
      {"authorization_servers", issuers},
      {"bearer_methods_supported", nlohmann::json::array({"header"})},
  };
  if (!scopes.empty()) doc["scopes_supported"] = scopes;
  return doc.dump();
}

}  // namespace portcullis::identity
