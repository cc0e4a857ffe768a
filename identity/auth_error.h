// Why authentication failed, in a form the gateway turns into an HTTP answer
// (RFC 6750 §3, RFC 9728 §5.1), plus the pure helpers that format it.
// Descriptions are fixed phrases chosen here: never token contents, never
// claim values, so they are safe to send to the client and to log.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace portcullis::identity {

struct AuthError {
  enum class Kind {
    kMissingToken,       // no credentials: 401 with a bare challenge (no error code)
    kInvalidToken,       // bad, expired, unknown or revoked token: 401 error="invalid_token"
    kInsufficientScope,  // valid token lacking required_scopes: 403 error="insufficient_scope"
    kUnavailable,        // the token could not be judged (keys not loaded, introspection down): 503
  };
  Kind kind = Kind::kInvalidToken;
  std::string description;
  std::vector<std::string> required_scopes;  // kInsufficientScope only

  static AuthError missing() { return {Kind::kMissingToken, "no bearer token", {}}; }
  static AuthError invalid(std::string description) { return {Kind::kInvalidToken, std::move(description), {}}; }
  static AuthError unavailable(std::string description) { return {Kind::kUnavailable, std::move(description), {}}; }
  static AuthError insufficient_scope(std::vector<std::string> scopes) {
    return {Kind::kInsufficientScope, "the token lacks a required scope", std::move(scopes)};
  }
};

// 401, 403 or 503 for the kind.
int http_status(const AuthError& error);

// The value of the WWW-Authenticate header, e.g.
//   Bearer error="invalid_token", error_description="token expired",
//   resource_metadata="https://gw/.well-known/oauth-protected-resource/mcp/crm"
// For kMissingToken no error attribute (RFC 6750 §3.1); for kUnavailable
// (503) only error_description, so the client keeps its token and retries; for
// kInsufficientScope also scope="a b". Quoted strings are sanitised to the
// characters RFC 6750 allows. `resource_metadata_url` may be empty.
std::string www_authenticate(const AuthError& error, std::string_view resource_metadata_url);

// The token in an Authorization header value: scheme "Bearer"
// (case-insensitive), one space, a non-empty token68. kMissingToken when the
// header is empty or uses another scheme; kInvalidToken when it is malformed.
// The view points into `header`.
Result<std::string_view, AuthError> bearer_token(std::string_view header);

}  // namespace portcullis::identity
