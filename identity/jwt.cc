#include "identity/jwt.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/encoding.h"
#include "identity/strict_json.h"

namespace portcullis::identity {
namespace {

// RFC 7515 §2: base64url without padding.
constexpr encoding::Base64Rules kJwsBase64{encoding::Base64Alphabet::kUrl, encoding::Base64Padding::kForbidden};

using nlohmann::json;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<json> decode_object(std::string_view part) {
  auto bytes = encoding::base64_decode(part, kJwsBase64);
  if (!bytes) return std::nullopt;
  auto doc = parse_strict_json(*bytes);
  if (!doc || !doc->is_object()) return std::nullopt;
  return doc;
}

Result<Alg, AuthError> header_alg(const json& header) {
  auto it = header.find("alg");
  if (it == header.end() || !it->is_string()) return Err(AuthError::invalid("token header has no alg"));
  const auto& name = it->get_ref<const std::string&>();
  const std::string low = lower(name);
  if (low == "none") return Err(AuthError::invalid("unsigned tokens are not accepted"));
  if (low.rfind("hs", 0) == 0) return Err(AuthError::invalid("symmetric algorithms are not accepted"));
  auto alg = parse_alg(name);
  if (!alg) return Err(AuthError::invalid("unsupported algorithm"));
  return *alg;
}

}  // namespace

bool looks_like_jwt(std::string_view token) { return std::count(token.begin(), token.end(), '.') == 2; }

Result<DecodedJwt, AuthError> decode_jwt(std::string_view token, const DecodeLimits& limits) {
  if (token.empty()) return Err(AuthError::missing());
  if (token.size() > limits.max_token_bytes) return Err(AuthError::invalid("token too large"));
  const auto d1 = token.find('.');
  const auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return Err(AuthError::invalid("token is not a JWS"));
  const auto h = token.substr(0, d1);
  const auto p = token.substr(d1 + 1, d2 - d1 - 1);
  const auto s = token.substr(d2 + 1);
  if (h.empty() || p.empty() || s.empty()) return Err(AuthError::invalid("token is not a signed JWS"));

  DecodedJwt out;
  auto header = decode_object(h);
  if (!header) return Err(AuthError::invalid("malformed token header"));
  out.header = std::move(*header);
  auto alg = header_alg(out.header);
  if (!alg) return Err(alg.error());
  out.alg = *alg;
  if (out.header.contains("crit")) return Err(AuthError::invalid("critical header extensions are not supported"));
  if (out.header.contains("cty")) return Err(AuthError::invalid("nested tokens are not accepted"));
  if (out.header.contains("enc") || out.header.contains("zip")) return Err(AuthError::invalid("encrypted tokens are not accepted"));
  if (auto it = out.header.find("typ"); it != out.header.end()) {
    if (!it->is_string()) return Err(AuthError::invalid("wrong token type"));
    const std::string typ = lower(it->get_ref<const std::string&>());
    if (typ != "at+jwt" && typ != "application/at+jwt" && typ != "jwt")
      return Err(AuthError::invalid("wrong token type"));
  } else if (limits.require_typ) {
    return Err(AuthError::invalid("wrong token type"));
  }
  if (auto it = out.header.find("kid"); it != out.header.end()) {
    if (!it->is_string()) return Err(AuthError::invalid("malformed key id"));
    out.kid = it->get<std::string>();
    out.has_kid = true;
  }
  // jku, x5u, jwk and x5c are deliberately never looked at: keys come only
  // from the issuer's configured or discovered JWKS.

  auto claims = decode_object(p);
  if (!claims) return Err(AuthError::invalid("malformed token payload"));
  out.claims = std::move(*claims);
  auto sig = encoding::base64_decode(s, kJwsBase64);
  if (!sig) return Err(AuthError::invalid("malformed token signature"));
  out.signature = std::move(*sig);
  out.signing_input = token.substr(0, d2);
  return out;
}

std::optional<std::int64_t> numeric_date(const json& value) {
  if (!value.is_number()) return std::nullopt;
  const double d = value.get<double>();
  if (!std::isfinite(d) || d < 0 || d >= static_cast<double>(std::int64_t{1} << 40)) return std::nullopt;
  return static_cast<std::int64_t>(std::floor(d));
}

Result<void, AuthError> validate_claims(const json& claims, const ClaimRules& rules) {
  using std::chrono::seconds;
  // iss
  if (auto it = claims.find("iss"); it != claims.end()) {
    if (!it->is_string()) return Err(AuthError::invalid("malformed issuer"));
    if (!rules.issuer.empty() && it->get_ref<const std::string&>() != rules.issuer)
      return Err(AuthError::invalid("untrusted issuer"));
  } else if (rules.require_exp_and_aud) {
    return Err(AuthError::invalid("token has no issuer"));
  }
  // aud
  if (auto it = claims.find("aud"); it != claims.end()) {
    auto expected = [&](const json& a) {
      if (!a.is_string() || rules.audiences == nullptr) return false;
      const auto& s = a.get_ref<const std::string&>();
      return std::find(rules.audiences->begin(), rules.audiences->end(), s) != rules.audiences->end();
    };
    bool found = false;
    if (it->is_string()) {
      found = expected(*it);
    } else if (it->is_array()) {
      for (const auto& a : *it) {
        if (!a.is_string()) return Err(AuthError::invalid("malformed audience"));
        found = found || expected(a);
      }
    } else {
      return Err(AuthError::invalid("malformed audience"));
    }
    if (!found) return Err(AuthError::invalid("token not issued for this resource"));
  } else if (rules.require_exp_and_aud) {
    return Err(AuthError::invalid("token has no audience"));
  }
  // exp, nbf, iat
  auto date = [&](const char* name) -> Result<std::optional<TimePoint>, AuthError> {
    auto it = claims.find(name);
    if (it == claims.end()) return std::optional<TimePoint>();
    auto v = numeric_date(*it);
    if (!v) return Err(AuthError::invalid(std::string("malformed ") + name + " claim"));
    return std::optional<TimePoint>(TimePoint(seconds(*v)));
  };
  auto exp = date("exp");
  if (!exp) return Err(exp.error());
  if (!exp->has_value()) {
    if (rules.require_exp_and_aud) return Err(AuthError::invalid("token has no expiry"));
  } else if (rules.now >= **exp + rules.skew) {
    return Err(AuthError::invalid("token expired"));
  }
  auto nbf = date("nbf");
  if (!nbf) return Err(nbf.error());
  if (nbf->has_value() && rules.now + rules.skew < **nbf) return Err(AuthError::invalid("token not yet valid"));
  auto iat = date("iat");
  if (!iat) return Err(iat.error());
  if (iat->has_value() && rules.now + rules.skew < **iat) return Err(AuthError::invalid("token issued in the future"));
  return {};
}

}  // namespace portcullis::identity
