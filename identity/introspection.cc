#include "identity/introspection.h"

#include <openssl/crypto.h>

#include "common/ascii.h"
#include "common/encoding.h"
#include "identity/strict_json.h"

namespace portcullis::identity {
namespace {

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

std::shared_ptr<Introspector> Introspector::create(config::IntrospectionConfig config, std::string client_secret,
                                                   HttpClient& http) {
  return std::make_shared<Introspector>(std::move(config), std::move(client_secret), http);
}

Introspector::Introspector(config::IntrospectionConfig config, std::string client_secret, HttpClient& http)
    : config_(std::move(config)), http_(http) {
  // RFC 6749 §2.3.1: both parts form-encoded before Basic encoding.
  std::string id = encoding::form_urlencode(config_.client_id);
  std::string secret = encoding::form_urlencode(client_secret);
  std::string pair = id + ":" + secret;
  authorization_ = "Basic " + encoding::base64_encode(pair);
  wipe(secret);
  wipe(pair);
  wipe(client_secret);
}

Introspector::~Introspector() { wipe(authorization_); }

IntrospectionStats Introspector::stats() const {
  return {requests_.load(), active_.load(), inactive_.load(), failures_.load()};
}

void Introspector::introspect(std::string_view token, Callback done) {
  ++requests_;
  HttpRequest req;
  req.method = "POST";
  req.url = config_.url;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"},
                 {"Authorization", authorization_}};
  req.body = "token=" + encoding::form_urlencode(token) + "&token_type_hint=access_token";
  req.max_response_bytes = 64 * 1024;
  auto self = shared_from_this();
  http_.fetch(std::move(req), [self, done = std::move(done)](Result<HttpResponse> res) {
    if (!res.ok() || res->status != 200) {
      ++self->failures_;
      return done(Err(AuthError::unavailable("token introspection unavailable")));
    }
    auto doc = parse_strict_json(res->body);
    if (!doc || !doc->is_object()) {
      ++self->failures_;
      return done(Err(AuthError::unavailable("token introspection answered badly")));
    }
    auto active = doc->find("active");
    if (active == doc->end() || !active->is_boolean() || !active->get<bool>()) {
      ++self->inactive_;
      return done(Err(AuthError::invalid("token is not active")));
    }
    ++self->active_;
    done(std::move(*doc));
  });
}

}  // namespace portcullis::identity
