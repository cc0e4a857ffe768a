// OAuth 2.0 Protected Resource Metadata (RFC 9728) for a gateway route: what
// an MCP client fetches to learn which authorization server to ask and for
// which resource. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portcullis::identity {

// {public_url}/.well-known/oauth-protected-resource{route_path} (RFC 9728 §3.1).
std::string resource_metadata_url(std::string_view public_url, std::string_view route_path);

// The route's resource identifier: {public_url}{route_path}.
std::string resource_uri(std::string_view public_url, std::string_view route_path);

// The JSON document: resource, authorization_servers (the issuers),
// scopes_supported (omitted when empty), bearer_methods_supported ["header"].
std::string protected_resource_metadata(std::string_view resource, const std::vector<std::string>& issuers,
                                        const std::vector<std::string>& scopes);

}  // namespace portcullis::identity
