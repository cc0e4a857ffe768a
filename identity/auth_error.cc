#include "identity/auth_error.h"

#include <cctype>

#include "common/ascii.h"

namespace portcullis::identity {
namespace {

// RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u <= 0x7e && c != '"' && c != '\\') ? c : '?';
  }
  out += '"';
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool token68_char(char c) {
  return ascii::is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
         c == '+' || c == '/' || c == '=';
}

}  // namespace

int http_status(const AuthError& error) {
  switch (error.kind) {
    case AuthError::Kind::kMissingToken:
    case AuthError::Kind::kInvalidToken: return 401;
    case AuthError::Kind::kInsufficientScope: return 403;
    case AuthError::Kind::kUnavailable: return 503;
  }
  return 401;
}

std::string www_authenticate(const AuthError& error, std::string_view resource_metadata_url) {
  std::string out = "Bearer";
  auto attr = [&out, first = true](std::string_view name, std::string_view value) mutable {
    out += first ? " " : ", ";
    first = false;
    out += name;
    out += '=';
    out += quoted(value);
  };
  switch (error.kind) {
    case AuthError::Kind::kMissingToken:
      break;
    case AuthError::Kind::kInsufficientScope: {
      attr("error", "insufficient_scope");
      std::string scopes;
      for (const auto& s : error.required_scopes) scopes += (scopes.empty() ? "" : " ") + s;
      if (!scopes.empty()) attr("scope", scopes);
      break;
    }
    case AuthError::Kind::kInvalidToken:
      attr("error", "invalid_token");
      if (!error.description.empty()) attr("error_description", error.description);
      break;
    case AuthError::Kind::kUnavailable:
      // 503: the token could not be judged (keys not loaded, introspection
      // down). No error="invalid_token": a client that reads the challenge
      // must keep its token and retry, not throw it away and re-authenticate.
      if (!error.description.empty()) attr("error_description", error.description);
      break;
  }
  if (!resource_metadata_url.empty()) attr("resource_metadata", resource_metadata_url);
  return out;
}

Result<std::string_view, AuthError> bearer_token(std::string_view header) {
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) header.remove_suffix(1);
  if (header.empty()) return Err(AuthError::missing());
  const auto space = header.find(' ');
  if (space == std::string_view::npos) {
    if (iequals(header, "Bearer")) return Err(AuthError::invalid("empty bearer token"));
    return Err(AuthError::missing());
  }
  if (!iequals(header.substr(0, space), "Bearer")) return Err(AuthError::missing());
  std::string_view token = header.substr(space + 1);
  if (token.empty()) return Err(AuthError::invalid("empty bearer token"));
  for (char c : token)
    if (!token68_char(c)) return Err(AuthError::invalid("malformed Authorization header"));
  return token;
}

}  // namespace portcullis::identity
