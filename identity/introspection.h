// RFC 7662 token introspection for opaque tokens: POST token=... to the
// configured endpoint with HTTP Basic client authentication (RFC 6749
// §2.3.1) and read the answer. Only `active: true` (a JSON boolean) makes a
// token usable; the caller then checks iss/aud/exp/scope and caches.
//
// Threads: introspect() may be called from any thread; the callback runs on
// an HttpClient thread. The HttpClient must outlive the Introspector; a
// pending callback keeps the Introspector alive.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/http_client.h"
#include "common/result.h"
#include "config/config.h"
#include "identity/auth_error.h"

namespace portcullis::identity {

struct IntrospectionStats {
  std::uint64_t requests = 0;
  std::uint64_t active = 0;
  std::uint64_t inactive = 0;
  std::uint64_t failures = 0;  // transport, status or format errors
};

class Introspector : public std::enable_shared_from_this<Introspector> {
 public:
  // Answer: the introspection JSON for an active token; kInvalidToken for an
  // inactive one; kUnavailable when the endpoint could not answer (deny).
  using Callback = std::function<void(Result<nlohmann::json, AuthError>)>;

  // `client_secret` is the resolved secret (the caller reads vault refs); it
  // is wiped when the Introspector is destroyed.
  static std::shared_ptr<Introspector> create(config::IntrospectionConfig config, std::string client_secret,
                                              HttpClient& http);
  Introspector(config::IntrospectionConfig config, std::string client_secret, HttpClient& http);
  ~Introspector();
  Introspector(const Introspector&) = delete;
  Introspector& operator=(const Introspector&) = delete;

  void introspect(std::string_view token, Callback done);
  IntrospectionStats stats() const;
  const config::IntrospectionConfig& config() const { return config_; }

 private:
  const config::IntrospectionConfig config_;
  std::string authorization_;  // "Basic ...", wiped on destruction
  HttpClient& http_;
  std::atomic<std::uint64_t> requests_{0}, active_{0}, inactive_{0}, failures_{0};
};

}  // namespace portcullis::identity
