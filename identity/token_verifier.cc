#include "identity/token_verifier.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>

#include <algorithm>

#include "identity/jwt.h"
#include "identity/token_cache.h"

namespace portcullis::identity {
namespace {

constexpr std::size_t kNoIssuer = static_cast<std::size_t>(-1);

std::vector<Alg> allowed_algs(const config::IssuerConfig& issuer) {
  std::vector<Alg> out;
  if (issuer.algorithms.empty()) return {Alg::kRS256, Alg::kES256};
  for (const auto& name : issuer.algorithms)
    if (auto alg = parse_alg(name)) out.push_back(*alg);
  return out;  // unknown names (config/ rejects them) simply never match
}

// `opaque_without_aud`: identity.introspection.require_audience is false.
bool audience_ok(const Principal& p, const Audiences& expected, bool opaque_without_aud) {
  if (p.audiences.empty()) return opaque_without_aud && p.token_kind == Principal::TokenKind::kOpaque;
  for (const auto& a : p.audiences)
    if (std::find(expected.begin(), expected.end(), a) != expected.end()) return true;
  return false;
}

}  // namespace

struct TokenVerifier::State : std::enable_shared_from_this<TokenVerifier::State> {
  struct Issuer {
    config::IssuerConfig config;
    std::vector<Alg> algs;
    std::shared_ptr<JwksCache> jwks;
  };

  config::IdentityConfig config;
  AgentRegistry agents;
  VerifierOptions options;
  std::vector<Issuer> issuers;
  std::shared_ptr<TokenCache> cache;
  std::shared_ptr<Introspector> introspector;
  std::string token_id_key;

  std::atomic<std::uint64_t> hits{0}, misses{0}, accepted{0}, rejected{0};

  ~State() {
    OPENSSL_cleanse(token_id_key.data(), token_id_key.size());
    OPENSSL_cleanse(options.introspection_secret.data(), options.introspection_secret.size());
  }

  const Audiences& expected(std::size_t issuer, const Audiences& caller) const {
    if (issuer < issuers.size() && !issuers[issuer].config.audiences.empty()) return issuers[issuer].config.audiences;
    return caller;
  }

  std::size_t issuer_index(std::string_view iss) const {
    for (std::size_t i = 0; i < issuers.size(); ++i)
      if (issuers[i].config.issuer == iss) return i;
    return kNoIssuer;
  }

  // HMAC-SHA256 keyed once; each call duplicates the keyed context (the
  // one-shot HMAC() fetches the algorithm every time, ~5 us).
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> token_id_mac{nullptr, EVP_MAC_CTX_free};

  std::string token_id(std::string_view token) const {
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(EVP_MAC_CTX_dup(token_id_mac.get()), EVP_MAC_CTX_free);
    if (!ctx || EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(token.data()), token.size()) != 1 ||
        EVP_MAC_final(ctx.get(), mac, &len, sizeof mac) != 1)
      std::abort();  // HMAC-SHA256 failing means a broken OpenSSL
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < 16 && i < len; ++i) {
      out += kHex[mac[i] >> 4];
      out += kHex[mac[i] & 15];
    }
    return out;
  }

  VerifyResult reject(AuthError e) {
    ++rejected;
    return Err(std::move(e));
  }

  // The last checks for every accepted token, cached or not.
  VerifyResult admit(PrincipalPtr p) {
    std::vector<std::string> missing;
    for (const auto& s : config.required_scopes)
      if (!p->has_scope(s)) missing.push_back(s);
    if (!missing.empty()) return reject(AuthError::insufficient_scope(config.required_scopes));
    return p;
  }

  std::optional<VerifyResult> cached(const TokenKey& key, const Audiences& audiences, TimePoint now) {
    auto entry = cache->get(key, now);
    if (!entry) {
      ++misses;
      return std::nullopt;
    }
    ++hits;
    const bool opaque_without_aud = config.introspection && !config.introspection->require_audience;
    if (!audience_ok(*entry->principal, expected(entry->issuer_index, audiences), opaque_without_aud))
      return reject(AuthError::invalid("token not issued for this resource"));
    return admit(entry->principal);
  }

  VerifyResult verify_jwt(std::string_view token, const TokenKey& key, const Audiences& audiences, TimePoint now) {
    DecodeLimits limits;
    limits.max_token_bytes = options.max_token_bytes;
    limits.require_typ = options.require_typ;
    auto jwt = decode_jwt(token, limits);
    if (!jwt) return reject(jwt.error());
    auto iss_it = jwt->claims.find("iss");
    if (iss_it == jwt->claims.end() || !iss_it->is_string()) return reject(AuthError::invalid("token has no issuer"));
    const std::size_t index = issuer_index(iss_it->get_ref<const std::string&>());
    if (index == kNoIssuer) return reject(AuthError::invalid("untrusted issuer"));
    Issuer& issuer = issuers[index];
    if (std::find(issuer.algs.begin(), issuer.algs.end(), jwt->alg) == issuer.algs.end())
      return reject(AuthError::invalid("algorithm not allowed for this issuer"));

    KeySetPtr keys = issuer.jwks->keys();
    if (!keys) {
      issuer.jwks->request_refresh();
      ++rejected;
      return Err(AuthError::unavailable("signing keys not loaded yet"));
    }
    const Jwk* jwk = keys->select(jwt->has_kid ? &jwt->kid : nullptr, jwt->alg);
    if (jwk == nullptr) {
      // Rotation: the issuer may have published a key we have not fetched.
      // This request fails now; a refresh (at most one per interval) lets a
      // later one succeed.
      if (jwt->has_kid) issuer.jwks->request_refresh();
      return reject(AuthError::invalid("unknown signing key"));
    }
    if (!jwk->usable_for(jwt->alg)) return reject(AuthError::invalid("signing key does not fit the algorithm"));
    if (!verify_signature(jwt->alg, jwk->key.get(), jwt->signing_input, jwt->signature))
      return reject(AuthError::invalid("bad signature"));

    ClaimRules rules;
    rules.issuer = issuer.config.issuer;
    rules.audiences = &expected(index, audiences);
    rules.now = now;
    rules.skew = std::chrono::duration_cast<std::chrono::seconds>(config.clock_skew);
    if (auto ok = validate_claims(jwt->claims, rules); !ok) return reject(ok.error());

    auto p = std::make_shared<Principal>(build_principal(jwt->claims, config.agent_claim, agents));
    if (p->agent_id.empty()) return reject(AuthError::invalid("token names no agent"));
    p->token_kind = Principal::TokenKind::kJwt;
    p->token_id = token_id(token);
    ++accepted;
    // Never used at or past exp: the skew lets a just-expired token through
    // one full check, not through the cache.
    cache->put(key, {p, p->expires_at, index}, now);
    return admit(std::move(p));
  }

  VerifyResult verify(std::string_view token, const Audiences& audiences) {
    if (token.empty()) return reject(AuthError::missing());
    if (token.size() > options.max_token_bytes) return reject(AuthError::invalid("token too large"));
    const TimePoint now = options.clock();
    const TokenKey key = token_key(token);
    if (auto hit = cached(key, audiences, now)) return std::move(*hit);
    if (looks_like_jwt(token)) return verify_jwt(token, key, audiences, now);
    return reject(AuthError::invalid(introspector ? "opaque token not introspected" : "opaque tokens are not accepted"));
  }

  // An active introspection answer: the JWT claim checks, as far as the
  // fields are present.
  VerifyResult accept_introspected(const nlohmann::json& answer, std::string_view token, const TokenKey& key,
                                   const Audiences& audiences) {
    const TimePoint now = options.clock();
    std::size_t index = kNoIssuer;
    if (auto it = answer.find("iss"); it != answer.end() && it->is_string() && !issuers.empty()) {
      index = issuer_index(it->get_ref<const std::string&>());
      if (index == kNoIssuer) return reject(AuthError::invalid("untrusted issuer"));
    }
    ClaimRules rules;
    rules.audiences = &expected(index, audiences);
    rules.now = now;
    rules.skew = std::chrono::duration_cast<std::chrono::seconds>(config.clock_skew);
    rules.require_exp_and_aud = false;  // RFC 7662: both optional; aud is required below unless configured off
    if (introspector->config().require_audience && !answer.contains("aud"))
      return reject(AuthError::invalid("introspection answer names no audience: token not shown to be issued for "
                                       "this resource"));
    if (auto ok = validate_claims(answer, rules); !ok) return reject(ok.error());
    auto p = std::make_shared<Principal>(build_principal(answer, config.agent_claim, agents));
    if (p->agent_id.empty()) return reject(AuthError::invalid("token names no agent"));
    p->token_kind = Principal::TokenKind::kOpaque;
    p->token_id = token_id(token);
    ++accepted;
    const auto ttl = introspector->config().cache_ttl;
    const TimePoint bound = now + ttl;
    cache->put(key, {p, std::min(p->expires_at, bound), index}, now);
    return admit(std::move(p));
  }
};

TokenVerifier::TokenVerifier(const config::IdentityConfig& config, const std::vector<config::AgentConfig>& agents,
                             const std::vector<config::UserConfig>& users, HttpClient& http, Scheduler& scheduler,
                             VerifierOptions options)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.config = config;
  s.agents = AgentRegistry(agents, users);
  s.options = std::move(options);
  s.cache = std::make_shared<TokenCache>(s.options.token_cache_entries);
  s.token_id_key = s.options.token_id_key;
  if (s.token_id_key.empty()) {
    s.token_id_key.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s.token_id_key.data()), 32) != 1) std::abort();
  }
  {
    EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    s.token_id_mac.reset(hmac ? EVP_MAC_CTX_new(hmac) : nullptr);
    EVP_MAC_free(hmac);  // the context keeps its own reference
    char sha256[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", sha256, 0), OSSL_PARAM_construct_end()};
    if (!s.token_id_mac ||
        EVP_MAC_init(s.token_id_mac.get(), reinterpret_cast<const unsigned char*>(s.token_id_key.data()),
                     s.token_id_key.size(), params) != 1)
      std::abort();
  }
  std::weak_ptr<TokenCache> weak_cache = s.cache;
  for (const auto& ic : config.issuers) {
    auto on_removed = [weak_cache] {
      if (auto c = weak_cache.lock()) c->clear();  // tokens signed by a revoked key must be checked again
    };
    s.issuers.push_back({ic, allowed_algs(ic),
                         JwksCache::create(ic.issuer, ic.jwks_uri, s.options.jwks, http, scheduler, s.options.clock,
                                           on_removed)});
  }
  if (config.introspection)
    s.introspector = Introspector::create(*config.introspection, s.options.introspection_secret, http);
  OPENSSL_cleanse(s.options.introspection_secret.data(), s.options.introspection_secret.size());
  s.options.introspection_secret.clear();
}

TokenVerifier::~TokenVerifier() = default;

void TokenVerifier::start() {
  for (auto& issuer : state_->issuers) issuer.jwks->start();
}

bool TokenVerifier::ready() const {
  for (const auto& issuer : state_->issuers)
    if (!issuer.jwks->ready()) return false;
  return true;
}

VerifyResult TokenVerifier::verify(std::string_view token, const Audiences& audiences) {
  return state_->verify(token, audiences);
}

std::optional<VerifyResult> TokenVerifier::verify_now(std::string_view token, const Audiences& audiences) {
  State& s = *state_;
  if (token.empty() || token.size() > s.options.max_token_bytes || looks_like_jwt(token) || !s.introspector)
    return s.verify(token, audiences);
  if (auto hit = s.cached(token_key(token), audiences, s.options.clock())) return std::move(*hit);
  return std::nullopt;
}

void TokenVerifier::verify_async(std::string_view token, const Audiences& audiences,
                                 std::function<void(VerifyResult)> done) {
  if (auto now = verify_now(token, audiences)) return done(std::move(*now));
  introspect(token, audiences, std::move(done));
}

void TokenVerifier::introspect(std::string_view token, const Audiences& audiences,
                               std::function<void(VerifyResult)> done) {
  State& s = *state_;
  if (!s.introspector) return done(s.verify(token, audiences));
  const TokenKey key = token_key(token);
  std::weak_ptr<State> weak = state_;
  auto token_copy = std::make_shared<std::string>(token);
  s.introspector->introspect(token, [weak, token_copy, key, audiences, done = std::move(done)](
                                        Result<nlohmann::json, AuthError> answer) {
    auto self = weak.lock();
    VerifyResult result = Err(AuthError::unavailable("verifier shut down"));
    if (self && !answer.ok()) result = self->reject(answer.error());
    else if (self) result = self->accept_introspected(*answer, *token_copy, key, audiences);
    OPENSSL_cleanse(token_copy->data(), token_copy->size());
    done(std::move(result));
  });
}

VerifierStats TokenVerifier::stats() const {
  const State& s = *state_;
  VerifierStats out;
  out.cache_hits = s.hits.load();
  out.cache_misses = s.misses.load();
  out.accepted = s.accepted.load();
  out.rejected = s.rejected.load();
  for (const auto& issuer : s.issuers) out.issuers.push_back(issuer.jwks->stats());
  if (s.introspector) out.introspection = s.introspector->stats();
  return out;
}

}  // namespace portcullis::identity
