#include "identity/token_verifier.h"

// GCC 12 reports bogus -Wrestrict on inlined std::string copies (GCC bug 105651).
#pragma GCC diagnostic ignored "-Wrestrict"

#include <doctest/doctest.h>

#include <openssl/pem.h>

#include <atomic>
#include <thread>

#include "common/encoding.h"
#include "tests/identity/fakes.h"
#include "tests/identity/test_signer.h"

using namespace portcullis::identity;
namespace encoding = portcullis::encoding;
using namespace portcullis::identity::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kIssuer = "https://as.example";
const std::string kJwks = "https://as.example/jwks";
const std::string kIntrospect = "https://as.example/introspect";
const Audiences kAud = {"https://gw/mcp/crm", "https://gw"};

json default_jwks() {
  return {{"keys",
           {public_jwk(rsa_key(), "rsa1"), public_jwk(p256_key(), "ec256"), public_jwk(p384_key(), "ec384"),
            public_jwk(ed25519_key(), "ed1"), public_jwk(make_rsa(1024), "rsa-small"),
            public_jwk(rsa_key2(), "rsa384-only", "RS384")}}};
}

struct Fixture {
  FakeClock clock;
  FakeHttp http;
  FakeScheduler scheduler{clock};
  portcullis::config::IdentityConfig config;
  std::vector<portcullis::config::AgentConfig> agents;
  std::vector<portcullis::config::UserConfig> users;
  std::unique_ptr<TokenVerifier> verifier;

  Fixture() {
    portcullis::config::IssuerConfig issuer;
    issuer.issuer = kIssuer;
    issuer.jwks_uri = kJwks;
    issuer.algorithms = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"};
    config.issuers.push_back(issuer);
    portcullis::config::AgentConfig agent;
    agent.id = "support-bot";
    agent.owner = "alice@example.com";
    agent.groups = {"support"};
    agents.push_back(agent);
    http.routes[kJwks] = {200, default_jwks().dump()};
  }

  TokenVerifier& start(VerifierOptions options = {}) {
    options.clock = clock.clock();
    verifier = std::make_unique<TokenVerifier>(config, agents, users, http, scheduler, std::move(options));
    verifier->start();
    return *verifier;
  }

  json claims() const {
    const auto now = clock.seconds();
    return {{"iss", kIssuer},       {"aud", "https://gw/mcp/crm"}, {"exp", now + 300}, {"iat", now},
            {"sub", "support-bot"}, {"client_id", "support-bot"},  {"scope", "mcp.read"}, {"jti", "j1"}};
  }

  VerifyResult verify(const std::string& token) { return verifier->verify(token, kAud); }
};

std::string rs256(const Fixture& f, json claims = {}, json header = json::object()) {
  json c = f.claims();
  for (auto& [k, v] : claims.items()) c[k] = v;
  return sign_jwt(rsa_key(), "RS256", "rsa1", c, header);
}

bool refused(const VerifyResult& r) { return !r.ok() && r.error().kind == AuthError::Kind::kInvalidToken; }

std::string rsa_public_pem() {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, rsa_key().pkey.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return pem;
}

}  // namespace

// --- accepted tokens --------------------------------------------------------

TEST_CASE("a token of every supported algorithm is accepted") {
  Fixture f;
  f.start();
  struct Case { const char* alg; const TestKey* key; const char* kid; };
  for (auto c : {Case{"RS256", &rsa_key(), "rsa1"}, Case{"RS384", &rsa_key(), "rsa1"}, Case{"RS512", &rsa_key(), "rsa1"},
                 Case{"PS256", &rsa_key(), "rsa1"}, Case{"PS384", &rsa_key(), "rsa1"}, Case{"PS512", &rsa_key(), "rsa1"},
                 Case{"ES256", &p256_key(), "ec256"}, Case{"ES384", &p384_key(), "ec384"},
                 Case{"EdDSA", &ed25519_key(), "ed1"}}) {
    auto r = f.verify(sign_jwt(*c.key, c.alg, c.kid, f.claims(), {{"typ", "at+jwt"}}));
    REQUIRE_MESSAGE(r.ok(), c.alg, ": ", r.ok() ? "" : r.error().description);
    CHECK(r.value()->agent_id == "support-bot");
  }
}

TEST_CASE("an accepted token yields the principal with registry entry") {
  Fixture f;
  f.start();
  auto r = f.verify(rs256(f, {{"sub", "bob"}, {"groups", {"g1"}}}));
  REQUIRE(r.ok());
  const Principal& p = *r.value();
  CHECK(p.issuer == kIssuer);
  CHECK(p.agent_id == "support-bot");
  CHECK(p.user == "bob");
  CHECK(p.scopes == std::vector<std::string>{"mcp.read"});
  CHECK(p.groups == std::vector<std::string>{"g1"});
  CHECK(p.jti == "j1");
  CHECK(p.registered);
  CHECK(p.agent->owner == "alice@example.com");
  CHECK(p.token_id.size() == 32);
  CHECK(p.expires_at == std::chrono::system_clock::time_point(std::chrono::seconds(f.clock.seconds() + 300)));
}

TEST_CASE("an unregistered agent is flagged, not refused") {
  Fixture f;
  f.start();
  auto r = f.verify(rs256(f, {{"client_id", "stranger"}, {"sub", "stranger"}}));
  REQUIRE(r.ok());
  CHECK_FALSE(r.value()->registered);
  CHECK_FALSE(r.value()->agent);
}

TEST_CASE("a token without kid is accepted when one key of its type exists") {
  Fixture f;
  f.http.routes[kJwks] = {200, json{{"keys", {public_jwk(ed25519_key(), "only"), public_jwk(rsa_key(), "r")}}}.dump()};
  f.start();
  CHECK(f.verify(sign_jwt(ed25519_key(), "EdDSA", "", f.claims())).ok());
}

TEST_CASE("the issuer's own audiences replace the route's") {
  Fixture f;
  f.config.issuers[0].audiences = {"api://portcullis"};
  f.start();
  CHECK(f.verify(rs256(f, {{"aud", "api://portcullis"}})).ok());
  CHECK(refused(f.verify(rs256(f, {{"aud", "https://gw/mcp/crm"}}))));
}

TEST_CASE("the token id is a keyed hash, stable with a given key") {
  Fixture f;
  VerifierOptions options;
  options.token_id_key = "k";
  f.start(options);
  const auto token = rs256(f);
  auto id = f.verify(token).value()->token_id;
  CHECK(token.find(id) == std::string::npos);
  Fixture g;
  g.start(options);
  CHECK(g.verify(token).value()->token_id == id);
}

// --- hostile tokens ---------------------------------------------------------

TEST_CASE("alg none is refused in every spelling") {
  Fixture f;
  f.start();
  for (const char* none : {"none", "None", "NONE", "nOnE"}) {
    const std::string body = b64(json{{"alg", none}, {"kid", "rsa1"}}.dump()) + "." + b64(f.claims().dump());
    CHECK_MESSAGE(refused(f.verify(body + ".")), none);
    CHECK_MESSAGE(refused(f.verify(body + "." + b64("sig"))), none);
  }
}

TEST_CASE("HS256 signed with the RSA public key as HMAC secret is refused") {
  Fixture f;
  f.start();
  for (const std::string& secret : {rsa_public_pem(), public_jwk(rsa_key(), "rsa1").dump(),
                                    public_jwk(rsa_key(), "rsa1")["n"].get<std::string>()}) {
    const std::string input = b64(R"({"alg":"HS256","kid":"rsa1"})") + "." + b64(f.claims().dump());
    auto r = f.verify(input + "." + b64(hmac_sha256(secret, input)));
    CHECK(refused(r));
  }
}

TEST_CASE("an algorithm outside the issuer's allow-list is refused") {
  Fixture f;
  f.config.issuers[0].algorithms = {"RS256"};
  f.start();
  CHECK(refused(f.verify(sign_jwt(p256_key(), "ES256", "ec256", f.claims()))));
  CHECK(refused(f.verify(sign_jwt(rsa_key(), "PS256", "rsa1", f.claims()))));
  CHECK(f.verify(rs256(f)).ok());
}

TEST_CASE("a bad signature is refused") {
  Fixture f;
  f.start();
  auto token = rs256(f);
  const auto dot = token.rfind('.');
  auto sig = *encoding::base64_decode(token.substr(dot + 1), {encoding::Base64Alphabet::kUrl, encoding::Base64Padding::kForbidden});
  sig[10] ^= 0x01;
  CHECK(refused(f.verify(token.substr(0, dot + 1) + b64(sig))));
}

TEST_CASE("a signature by another key under a known kid is refused") {
  Fixture f;
  f.start();
  CHECK(refused(f.verify(sign_jwt(rsa_key2(), "RS256", "rsa1", f.claims()))));
  CHECK(refused(f.verify(sign_jwt(make_ec("P-256"), "ES256", "ec256", f.claims()))));
}

TEST_CASE("ECDSA signatures with r or s zero are refused (CVE-2022-21449)") {
  Fixture f;
  f.start();
  const std::string input = b64(R"({"alg":"ES256","kid":"ec256"})") + "." + b64(f.claims().dump());
  const std::string good = sign_bytes(p256_key(), "ES256", input);
  const std::string zero(32, '\0');
  CHECK(f.verify(input + "." + b64(good)).ok());
  CHECK(refused(f.verify(input + "." + b64(zero + zero))));
  CHECK(refused(f.verify(input + "." + b64(zero + good.substr(32)))));
  CHECK(refused(f.verify(input + "." + b64(good.substr(0, 32) + zero))));
}

TEST_CASE("a wrong issuer is refused even with a good signature") {
  Fixture f;
  f.start();
  CHECK(refused(f.verify(rs256(f, {{"iss", "https://evil.example"}}))));
  CHECK(refused(f.verify(rs256(f, {{"iss", kIssuer + "/"}}))));
}

TEST_CASE("a wrong or missing audience is refused") {
  Fixture f;
  f.start();
  CHECK(refused(f.verify(rs256(f, {{"aud", "https://gw/mcp/other"}}))));
  json c = f.claims();
  c.erase("aud");
  CHECK(refused(f.verify(sign_jwt(rsa_key(), "RS256", "rsa1", c))));
  CHECK(f.verify(rs256(f, {{"aud", {"x", "https://gw"}}})).ok());
}

TEST_CASE("expired, not-yet-valid and future-issued tokens are refused") {
  Fixture f;
  f.start();
  const auto now = f.clock.seconds();
  CHECK(refused(f.verify(rs256(f, {{"exp", now - 61}}))));
  CHECK(refused(f.verify(rs256(f, {{"nbf", now + 120}}))));
  CHECK(refused(f.verify(rs256(f, {{"iat", now + 120}}))));
}

TEST_CASE("a token without exp is refused") {
  Fixture f;
  f.start();
  json c = f.claims();
  c.erase("exp");
  CHECK(refused(f.verify(sign_jwt(rsa_key(), "RS256", "rsa1", c))));
  CHECK(refused(f.verify(rs256(f, {{"exp", std::to_string(f.clock.seconds() + 300)}}))));
}

TEST_CASE("jku, x5u, jwk and x5c headers are ignored and never fetched") {
  Fixture f;
  f.start();
  const auto attacker = make_rsa();
  f.http.routes["https://evil.example/jwks"] = {200, json{{"keys", {public_jwk(attacker, "evil")}}}.dump()};
  const std::size_t before = f.http.requests.size();
  for (const json& header : {json{{"jku", "https://evil.example/jwks"}}, json{{"x5u", "https://evil.example/cert.pem"}},
                             json{{"jwk", public_jwk(attacker, "evil")}}, json{{"x5c", {"MIIB"}}}}) {
    CHECK(refused(f.verify(sign_jwt(attacker, "RS256", "evil", f.claims(), header))));
    // Even under a kid we trust, the embedded key is not used.
    CHECK(refused(f.verify(sign_jwt(attacker, "RS256", "rsa1", f.claims(), header))));
  }
  for (std::size_t i = before; i < f.http.requests.size(); ++i) CHECK(f.http.requests[i].url == kJwks);
  CHECK(f.http.count("https://evil.example/jwks") == 0);
  CHECK(f.http.count("https://evil.example/cert.pem") == 0);
}

TEST_CASE("injected kid values are plain unknown keys") {
  Fixture f;
  f.start();
  using namespace std::string_literals;
  for (const std::string& kid : {"../../etc/passwd"s, "' OR '1'='1' --"s, "rsa1\0x"s, "%2e%2e/jwks"s, "rsa1 "s}) {
    CHECK_MESSAGE(refused(f.verify(sign_jwt(rsa_key(), "RS256", kid, f.claims()))), kid);
  }
  for (const auto& r : f.http.requests) CHECK(r.url == kJwks);
}

TEST_CASE("an unknown kid flood triggers at most one JWKS refresh per 30 seconds") {
  Fixture f;
  f.start();
  const auto fetches = f.http.count(kJwks);
  f.clock.advance(31s);
  for (int i = 0; i < 200; ++i)
    CHECK(refused(f.verify(sign_jwt(ed25519_key(), "EdDSA", std::to_string(i).insert(0, "flood-"), f.claims()))));
  CHECK(f.http.count(kJwks) == fetches + 1);
  f.clock.advance(10s);
  for (int i = 0; i < 50; ++i) (void)f.verify(sign_jwt(ed25519_key(), "EdDSA", std::to_string(i).insert(0, "x"), f.claims()));
  CHECK(f.http.count(kJwks) == fetches + 1);
  f.clock.advance(21s);
  (void)f.verify(sign_jwt(ed25519_key(), "EdDSA", "y", f.claims()));
  CHECK(f.http.count(kJwks) == fetches + 2);
}

TEST_CASE("a token with an unknown kid fails at once and a later one succeeds after the refresh") {
  Fixture f;
  f.start();
  const auto fresh = make_ec("P-256");
  json keys = default_jwks();
  keys["keys"].push_back(public_jwk(fresh, "rotated"));
  f.http.routes[kJwks] = {200, keys.dump()};
  f.http.deferred = true;
  f.clock.advance(31s);
  const auto token = sign_jwt(fresh, "ES256", "rotated", f.claims());
  CHECK(refused(f.verify(token)));  // does not wait for the fetch
  f.http.flush();
  CHECK(f.verify(token).ok());
}

TEST_CASE("a crit header is refused") {
  Fixture f;
  f.start();
  CHECK(refused(f.verify(rs256(f, {}, {{"crit", {"b64"}}, {"b64", false}}))));
}

TEST_CASE("malformed base64url is refused: padding, plus, slash") {
  Fixture f;
  f.start();
  const auto token = rs256(f);
  const auto d1 = token.find('.');
  const auto d2 = token.rfind('.');
  CHECK(f.verify(token).ok());
  CHECK(refused(f.verify(token + "=")));
  CHECK(refused(f.verify(token.substr(0, d1) + "=" + token.substr(d1))));
  std::string plus = token;
  plus[d2 + 3] = '+';
  CHECK(refused(f.verify(plus)));
  std::string slash = token;
  slash[d1 + 3] = '/';
  CHECK(refused(f.verify(slash)));
  CHECK(refused(f.verify(token.substr(0, d2) + ".\n" + token.substr(d2 + 1))));
}

TEST_CASE("an oversized token is refused") {
  Fixture f;
  f.start();
  auto r = f.verify(rs256(f, {{"pad", std::string(9000, 'a')}}));
  REQUIRE(refused(r));
  CHECK(r.error().description == "token too large");
}

TEST_CASE("duplicate JSON keys in header or payload are refused") {
  Fixture f;
  f.start();
  std::string payload = f.claims().dump();
  CHECK(f.verify(sign_raw(rsa_key(), "RS256", R"({"alg":"RS256","kid":"rsa1"})", payload)).ok());
  CHECK(refused(f.verify(sign_raw(rsa_key(), "RS256", R"({"alg":"RS256","kid":"rsa1","kid":"rsa1"})", payload))));
  CHECK(refused(f.verify(sign_raw(rsa_key(), "RS256", R"({"alg":"none","alg":"RS256","kid":"rsa1"})", payload))));
  std::string dup_aud = payload;
  dup_aud.insert(1, R"("aud":"https://evil",)");
  CHECK(refused(f.verify(sign_raw(rsa_key(), "RS256", R"({"alg":"RS256","kid":"rsa1"})", dup_aud))));
  std::string dup_sub = payload;
  dup_sub.insert(1, R"("sub":"admin",)");
  CHECK(refused(f.verify(sign_raw(rsa_key(), "RS256", R"({"alg":"RS256","kid":"rsa1"})", dup_sub))));
}

TEST_CASE("a wrong typ is refused") {
  Fixture f;
  f.start();
  CHECK(refused(f.verify(rs256(f, {}, {{"typ", "dpop+jwt"}}))));
  CHECK(refused(f.verify(rs256(f, {}, {{"typ", "id_token+jwt"}}))));
}

TEST_CASE("a token signed by an RSA key under 2048 bits is refused") {
  Fixture f;
  f.start();
  const auto small = make_rsa(1024);
  f.http.routes[kJwks] = {200, json{{"keys", {public_jwk(small, "rsa-small"), public_jwk(rsa_key(), "rsa1")}}}.dump()};
  f.scheduler.advance(5min);
  CHECK(refused(f.verify(sign_jwt(small, "RS256", "rsa-small", f.claims()))));
}

TEST_CASE("a JWK whose alg differs from the token's is not used") {
  Fixture f;
  f.start();
  CHECK(refused(f.verify(sign_jwt(rsa_key2(), "RS256", "rsa384-only", f.claims()))));
  CHECK(f.verify(sign_jwt(rsa_key2(), "RS384", "rsa384-only", f.claims())).ok());
}

TEST_CASE("an EC key of another curve than the algorithm's is not used") {
  Fixture f;
  f.start();
  CHECK(refused(f.verify(sign_jwt(p384_key(), "ES256", "ec384", f.claims()))));
  CHECK(refused(f.verify(sign_jwt(p256_key(), "ES384", "ec256", f.claims()))));
  CHECK(refused(f.verify(sign_jwt(p256_key(), "EdDSA", "ec256", f.claims()))));
}

TEST_CASE("a token without kid is refused when several keys could match") {
  Fixture f;
  f.start();
  CHECK(refused(f.verify(sign_jwt(rsa_key(), "RS256", "", f.claims()))));
}

TEST_CASE("tokens that are not three-part JWS are refused") {
  Fixture f;
  f.start();
  const auto token = rs256(f);
  CHECK(refused(f.verify(token.substr(0, token.rfind('.')))));
  CHECK(refused(f.verify(token + ".x.y")));
  CHECK(refused(f.verify("not-a-jwt")));
  CHECK(f.verify("").error().kind == AuthError::Kind::kMissingToken);
}

TEST_CASE("a token naming no agent is refused") {
  Fixture f;
  f.start();
  json c = f.claims();
  c.erase("sub");
  c.erase("client_id");
  CHECK(refused(f.verify(sign_jwt(rsa_key(), "RS256", "rsa1", c))));
}

// --- keys and readiness -----------------------------------------------------

TEST_CASE("the verifier is ready once every issuer has keys") {
  Fixture f;
  f.http.deferred = true;
  portcullis::config::IssuerConfig second;
  second.issuer = "https://as2.example";
  second.jwks_uri = "https://as2.example/jwks";
  f.config.issuers.push_back(second);
  f.http.routes[second.jwks_uri] = {500, ""};
  f.start();
  CHECK_FALSE(f.verifier->ready());
  auto r = f.verify(rs256(f));
  CHECK(r.error().kind == AuthError::Kind::kUnavailable);
  f.http.flush();
  CHECK(f.verify(rs256(f)).ok());
  CHECK_FALSE(f.verifier->ready());
  f.http.routes[second.jwks_uri] = {200, json{{"keys", {public_jwk(rsa_key2(), "b")}}}.dump()};
  f.scheduler.advance(1s);
  f.http.flush();
  CHECK(f.verifier->ready());
  CHECK(f.verifier->stats().issuers[1].failures == 1);
}

// --- the verified-token cache -----------------------------------------------

TEST_CASE("a repeated token is answered from the cache") {
  Fixture f;
  f.start();
  const auto token = rs256(f);
  auto a = f.verify(token);
  auto b = f.verify(token);
  REQUIRE(b.ok());
  CHECK(a.value() == b.value());
  CHECK(f.verifier->stats().cache_hits == 1);
  CHECK(f.verifier->stats().accepted == 1);
}

TEST_CASE("a cached token is not used past exp and the skew is granted only by a full check") {
  Fixture f;
  f.start();
  const auto token = rs256(f, {{"exp", f.clock.seconds() + 10}});
  REQUIRE(f.verify(token).ok());
  f.clock.advance(10s);
  CHECK(f.verify(token).ok());  // within skew: verified again, not from cache
  CHECK(f.verifier->stats().accepted == 2);
  f.clock.advance(60s);
  CHECK(refused(f.verify(token)));
}

TEST_CASE("a cached token is still checked against the route's audiences") {
  Fixture f;
  f.start();
  const auto token = rs256(f);
  REQUIRE(f.verify(token).ok());
  CHECK(refused(f.verifier->verify(token, {"https://gw/mcp/other"})));
}

TEST_CASE("required scopes are enforced on fresh and cached tokens") {
  Fixture f;
  f.config.required_scopes = {"mcp.read", "mcp.write"};
  f.start();
  const auto token = rs256(f);
  for (int i = 0; i < 2; ++i) {
    auto r = f.verify(token);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == AuthError::Kind::kInsufficientScope);
    CHECK(r.error().required_scopes == std::vector<std::string>{"mcp.read", "mcp.write"});
  }
  CHECK(f.verify(rs256(f, {{"scope", "mcp.write mcp.read"}})).ok());
}

TEST_CASE("tokens verified with a key that disappears from the JWKS are checked again") {
  Fixture f;
  f.start();
  const auto token = sign_jwt(ed25519_key(), "EdDSA", "ed1", f.claims());
  REQUIRE(f.verify(token).ok());
  f.http.routes[kJwks] = {200, json{{"keys", {public_jwk(rsa_key(), "rsa1")}}}.dump()};
  f.scheduler.advance(5min);
  CHECK(refused(f.verify(token)));
}

TEST_CASE("concurrent verifications of cached and fresh tokens all succeed") {
  Fixture f;
  f.start();
  std::vector<std::string> tokens;
  for (int i = 0; i < 20; ++i) {
    json c = f.claims();
    c["jti"] = i;
    tokens.push_back(sign_jwt(ed25519_key(), "EdDSA", "ed1", c));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (!f.verifier->verify(tokens[i % tokens.size()], kAud).ok()) ++failures;
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(f.verifier->stats().cache_hits + f.verifier->stats().cache_misses == 800);
}

// --- opaque tokens ----------------------------------------------------------

namespace {

void with_introspection(Fixture& f, json answer) {
  portcullis::config::IntrospectionConfig in;
  in.url = kIntrospect;
  in.client_id = "portcullis";
  in.cache_ttl = 60s;
  f.config.introspection = in;
  f.http.routes[kIntrospect] = {200, answer.dump()};
}

VerifyResult verify_async(Fixture& f, const std::string& token, const Audiences& aud = kAud) {
  std::optional<VerifyResult> out;
  f.verifier->verify_async(token, aud, [&](VerifyResult r) { out = std::move(r); });
  f.http.flush();
  REQUIRE(out);
  return std::move(*out);
}

}  // namespace

TEST_CASE("an active opaque token is accepted through introspection and cached") {
  Fixture f;
  with_introspection(f, {{"active", true}, {"client_id", "support-bot"}, {"sub", "bob"}, {"scope", "mcp.read"},
                         {"iss", kIssuer}, {"aud", kAud.front()}, {"exp", f.clock.seconds() + 3600}});
  VerifierOptions options;
  options.introspection_secret = "secret";
  f.start(options);
  auto r = verify_async(f, "opaque-token-1");
  REQUIRE(r.ok());
  CHECK(r.value()->agent_id == "support-bot");
  CHECK(r.value()->user == "bob");
  CHECK(r.value()->token_kind == Principal::TokenKind::kOpaque);
  CHECK(f.http.count(kIntrospect) == 1);
  CHECK(verify_async(f, "opaque-token-1").ok());
  CHECK(f.verifier->verify("opaque-token-1", kAud).ok());
  CHECK(f.http.count(kIntrospect) == 1);
  f.clock.advance(61s);  // cache_ttl bounds the cache below exp
  CHECK(verify_async(f, "opaque-token-1").ok());
  CHECK(f.http.count(kIntrospect) == 2);
}

TEST_CASE("an introspection answer without aud is refused unless require_audience is off") {
  for (bool required : {true, false}) {
    Fixture f;
    with_introspection(f, {{"active", true}, {"client_id", "support-bot"}, {"exp", f.clock.seconds() + 3600}});
    f.config.introspection->require_audience = required;
    VerifierOptions options;
    options.introspection_secret = "secret";
    f.start(options);
    CAPTURE(required);
    auto r = verify_async(f, "opaque-no-aud");
    CHECK(r.ok() == !required);
    if (!required) {  // and from the cache, too
      CHECK(verify_async(f, "opaque-no-aud").ok());
      CHECK(f.http.count(kIntrospect) == 1);
    }
  }
}

TEST_CASE("an inactive opaque token is refused") {
  Fixture f;
  with_introspection(f, {{"active", false}});
  f.start();
  CHECK(refused(verify_async(f, "opaque")));
}

TEST_CASE("introspection answers are checked for iss, aud and exp") {
  for (json extra : {json{{"iss", "https://evil"}}, json{{"aud", "https://gw/mcp/other"}}, json{{"exp", 1000}}}) {
    Fixture f;
    json answer = {{"active", true}, {"client_id", "support-bot"}};
    answer.update(extra);
    with_introspection(f, answer);
    f.start();
    CHECK_MESSAGE(refused(verify_async(f, "opaque")), extra.dump());
  }
}

TEST_CASE("introspection being down makes an opaque token unavailable, never accepted") {
  Fixture f;
  with_introspection(f, {});
  f.http.routes[kIntrospect] = {502, ""};
  f.start();
  CHECK(verify_async(f, "opaque").error().kind == AuthError::Kind::kUnavailable);
}

TEST_CASE("opaque tokens are refused without introspection, and JWTs never go to it") {
  Fixture f;
  f.start();
  CHECK(refused(verify_async(f, "opaque")));
  Fixture g;
  with_introspection(g, {{"active", true}, {"client_id", "x"}});
  g.start();
  CHECK(refused(verify_async(g, rs256(g, {{"iss", "https://evil"}}))));
  CHECK(g.http.count(kIntrospect) == 0);
}

TEST_CASE("verify_now answers JWTs and cached opaque tokens at once and leaves only introspection to later") {
  Fixture f;
  with_introspection(f, {{"active", true}, {"client_id", "support-bot"}, {"iss", kIssuer}, {"aud", kAud.front()},
                         {"exp", f.clock.seconds() + 3600}});
  VerifierOptions options;
  options.introspection_secret = "secret";
  f.start(options);
  auto jwt = f.verifier->verify_now(rs256(f), kAud);
  REQUIRE(jwt);
  CHECK(jwt->ok());
  auto bad = f.verifier->verify_now(rs256(f, {{"iss", "https://evil"}}), kAud);
  REQUIRE(bad);
  CHECK(refused(*bad));
  CHECK_FALSE(f.verifier->verify_now("opaque-now", kAud));
  CHECK(f.http.count(kIntrospect) == 0);  // verify_now never starts I/O
  std::optional<VerifyResult> later;
  f.verifier->introspect("opaque-now", kAud, [&](VerifyResult r) { later = std::move(r); });
  f.http.flush();
  REQUIRE(later);
  CHECK(later->ok());
  auto cached = f.verifier->verify_now("opaque-now", kAud);
  REQUIRE(cached);
  CHECK(cached->ok());
  CHECK(f.http.count(kIntrospect) == 1);
}
