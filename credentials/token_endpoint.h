// TokenEndpoint: POSTs an OAuth 2.0 token request (RFC 6749 §3.2, form
// encoded) authenticated with HTTP Basic (client_id, client_secret; §2.3.1),
// and turns the answer into a TokenCache::Token: header value
// "Bearer <access_token>", expires_at = request start + expires_in (capped by
// `cap`). Shared by the client_credentials and token_exchange providers.
//
// Errors (CredentialError codes): transport failure, 5xx and 429 ->
// kUnavailable; other 4xx -> kRejected with the OAuth `error` code;
// 2xx without a usable bearer token -> kBadResponse. Error messages name the
// provider and URL and are scrubbed of the client secret and subject token.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/http_client.h"
#include "credentials/token_cache.h"

namespace portcullis::credentials {

struct TokenEndpoint {
  std::string provider;  // for messages
  std::string url;
  std::string client_id;
  std::shared_ptr<const Secret> client_secret;
  std::chrono::milliseconds timeout{10000};
  // Lifetime assumed when the answer has no expires_in.
  std::chrono::seconds default_lifetime{60};
};

// One form field; a secret value (subject_token) is kept as a Secret.
struct FormField {
  std::string name;
  std::string value;
  std::shared_ptr<const Secret> secret_value;  // used instead of `value` when set
};

// Sends the request and calls `done` once. `cap` (if not max) bounds
// expires_at, e.g. by the subject token's exp.
void request_token(HttpClient& http, const Clock& clock, const TokenEndpoint& endpoint,
                   const std::vector<FormField>& form, TimePoint cap, TokenCache::Done done);

}  // namespace portcullis::credentials
