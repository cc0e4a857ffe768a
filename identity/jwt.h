// JWT access tokens (RFC 7519, RFC 9068) in JWS compact form: framing and
// header checks before any key is touched, then claim validation after the
// signature is good. Pure functions; no I/O, no keys, no clock of their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "identity/auth_error.h"
#include "identity/jws.h"

namespace portcullis::identity {

using TimePoint = std::chrono::system_clock::time_point;

// True when `token` has exactly three dot-separated parts (a JWS); any other
// token is opaque and goes to introspection.
bool looks_like_jwt(std::string_view token);

struct DecodedJwt {
  std::string_view signing_input;  // points into the token given to decode_jwt
  nlohmann::json header;
  nlohmann::json claims;
  std::string signature;  // raw bytes
  Alg alg = Alg::kRS256;
  std::string kid;
  bool has_kid = false;
};

struct DecodeLimits {
  std::size_t max_token_bytes = 8 * 1024;
  bool require_typ = false;  // true: a header without typ is refused
};

// Framing and header: size, three non-empty parts, strict base64url, strict
// JSON objects (no duplicate names, depth <= 16). Header: `alg` a supported
// asymmetric algorithm (`none` in any case and HS* refused by name),
// no `crit`, `typ` absent or one of at+jwt / application/at+jwt / JWT
// (case-insensitive), `cty` absent, `kid` a string if present. `jku`, `x5u`,
// `jwk`, `x5c` are ignored: never read, never fetched. The token must outlive
// the result (signing_input is a view).
Result<DecodedJwt, AuthError> decode_jwt(std::string_view token, const DecodeLimits& limits = {});

// A NumericDate claim (RFC 7519 §2) as whole seconds; nullopt when not a
// finite number in [0, 2^40).
std::optional<std::int64_t> numeric_date(const nlohmann::json& value);

struct ClaimRules {
  std::string_view issuer;                     // exact match; empty: any
  const std::vector<std::string>* audiences;   // `aud` must contain one of these
  TimePoint now;
  std::chrono::seconds skew{60};
  bool require_exp_and_aud = true;  // false for introspection answers: check fields only if present
};

// iss, aud (string or array of strings), exp (required, now < exp + skew),
// nbf (now >= nbf - skew), iat (not after now + skew); claim types checked.
Result<void, AuthError> validate_claims(const nlohmann::json& claims, const ClaimRules& rules);

}  // namespace portcullis::identity
