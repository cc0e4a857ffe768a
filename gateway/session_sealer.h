// Mints the Mcp-Session-Id an agent sees. It seals the upstream's session id
// with the route and the identity it is bound to (AES-256-GCM), so any replica
// holding the same key can serve the session without shared state, and an id
// presented by another identity or on another route is refused.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace portcullis::gateway {

struct SessionClaims {
  std::string upstream;          // route name the session belongs to
  std::string upstream_session;  // the upstream's Mcp-Session-Id
  std::string principal;         // stable identity key ("anonymous" without auth)
  std::string protocol_version;  // negotiated at initialize
  std::int64_t issued_at = 0;    // unix seconds
};

enum class SessionError { kMalformed, kForged, kExpired };

// The current time in the unix seconds that sealed ids carry (issued_at).
std::int64_t unix_now();

class SessionSealer {
 public:
  using Key = std::array<unsigned char, 32>;
  explicit SessionSealer(const Key& key);
  ~SessionSealer();
  SessionSealer(const SessionSealer&) = delete;
  SessionSealer& operator=(const SessionSealer&) = delete;

  // A fresh random key (when server.session_key is absent).
  static Key random_key();

  // URL-safe visible ASCII, as the transport requires of session ids.
  std::string seal(const SessionClaims& claims) const;
  Result<SessionClaims, SessionError> open(std::string_view id, std::chrono::seconds max_age,
                                           std::int64_t now_unix) const;

  // The AES-256-GCM envelope alone, for other sealed ids (legacy SSE
  // endpoints). `purpose` is bound as associated data, so an id sealed for
  // one purpose never opens as another. Errors: kMalformed, kForged.
  std::string seal_bytes(std::string_view plain, std::string_view purpose) const;
  Result<std::string, SessionError> open_bytes(std::string_view id, std::string_view purpose) const;

 private:
  Key key_;
};

}  // namespace portcullis::gateway
