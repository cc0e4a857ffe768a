#include "credentials/signed_jwt_provider.h"

#include <doctest/doctest.h>

#include <set>

#include "common/encoding.h"
#include "credentials/embedded_vault.h"
#include "credentials/vault_key.h"
#include "tests/credentials/fakes.h"
#include "tests/credentials/jws_verify.h"
#include "tests/credentials/test_util.h"

namespace portcullis::credentials {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::FakeClock;
using Code = CredentialError::Code;

constexpr const char* kIssuer = "https://gw.example.com";

config::ProviderConfig jwt_config(std::string alg = "ES256") {
  config::ProviderConfig c;
  c.name = "crm-jwt";
  c.kind = "signed_jwt";
  c.audience = "http://crm.test";
  c.ttl = 5min;
  c.algorithm = std::move(alg);
  return c;
}

struct Env {
  testing::TempDir dir;
  std::unique_ptr<EmbeddedVault> vault = EmbeddedVault::create(dir.path("v"), generate_vault_key()).value();
  FakeClock clock;
  TimePoint t0 = clock.now();
  std::unique_ptr<SignedJwtProvider> make(config::ProviderConfig cfg = jwt_config()) {
    auto p = SignedJwtProvider::create(cfg, vault.get(), clock, kIssuer);
    REQUIRE(p.ok());
    return std::move(p.value());
  }
};

std::string get_jwt(Provider& p, const CallIdentity& who) {
  std::string out;
  p.get(who, [&](CredentialResult r) {
    REQUIRE(r.ok());
    auto v = r->value->reveal();
    REQUIRE(v.substr(0, 7) == "Bearer ");
    out = std::string(v.substr(7));
  });
  return out;
}

json jwks_of(const Provider& p) {
  json keys = json::array();
  for (const auto& k : p.public_jwks()) keys.push_back(json::parse(k));
  return json{{"keys", keys}};
}

TEST_CASE("a signed JWT verifies with the provider's own published JWKS and names agent and user") {
  for (const char* alg : {"ES256", "EdDSA"}) {
    CAPTURE(alg);
    Env env;
    auto p = env.make(jwt_config(alg));
    std::string jwt = get_jwt(*p, {"support-bot", "alice@example.com", "", {}});
    auto claims = testing::verify_jws(jwt, jwks_of(*p));
    REQUIRE(claims);
    CHECK((*claims)["iss"] == kIssuer);
    CHECK((*claims)["aud"] == "http://crm.test");
    CHECK((*claims)["sub"] == "alice@example.com");
    CHECK((*claims)["act"]["sub"] == "support-bot");
    CHECK((*claims)["client_id"] == "support-bot");
    CHECK((*claims)["exp"].get<std::int64_t>() - (*claims)["iat"].get<std::int64_t>() == 300);
    CHECK((*claims)["jti"].get<std::string>().size() >= 16);
    auto header = json::parse(*encoding::base64_decode(jwt.substr(0, jwt.find('.')), {encoding::Base64Alphabet::kUrl, encoding::Base64Padding::kForbidden}));
    CHECK(header["alg"] == alg);
    CHECK(header["kid"] == json::parse(p->public_jwks()[0])["kid"]);
  }
}

TEST_CASE("without a user the subject is the agent and there is no act claim") {
  Env env;
  auto p = env.make();
  auto claims = testing::verify_jws(get_jwt(*p, {"batch-agent", "", "", {}}), jwks_of(*p));
  REQUIRE(claims);
  CHECK((*claims)["sub"] == "batch-agent");
  CHECK_FALSE(claims->contains("act"));
}

TEST_CASE("tokens are cached per agent and user until two thirds of the ttl") {
  Env env;
  auto p = env.make();
  std::string a1 = get_jwt(*p, {"bot", "alice", "", {}});
  CHECK(get_jwt(*p, {"bot", "alice", "", {}}) == a1);
  std::string b1 = get_jwt(*p, {"bot", "bob", "", {}});
  CHECK(b1 != a1);
  env.clock.set(env.t0 + 199s);  // 2/3 of 300s = 200s
  CHECK(get_jwt(*p, {"bot", "alice", "", {}}) == a1);
  env.clock.set(env.t0 + 201s);
  std::string a2 = get_jwt(*p, {"bot", "alice", "", {}});
  CHECK(a2 != a1);
  CHECK(p->stats().refreshes == 3);
  CHECK(p->stats().cache_hits == 2);
}

TEST_CASE("each fresh token has a unique jti") {
  Env env;
  auto p = env.make();
  std::set<std::string> jtis;
  for (int i = 0; i < 20; ++i) {
    auto claims = testing::verify_jws(get_jwt(*p, {"agent-" + std::to_string(i), "", "", {}}), jwks_of(*p));
    jtis.insert((*claims)["jti"].get<std::string>());
  }
  CHECK(jtis.size() == 20);
}

TEST_CASE("exp never passes the agent's token expiry") {
  Env env;
  auto p = env.make();
  Credential cred;
  p->get({"bot", "", "", env.t0 + 90s}, [&](CredentialResult r) { cred = r.value(); });
  CHECK(cred.expires_at <= env.t0 + 90s);
  std::string jwt(cred.value->reveal().substr(7));
  auto claims = testing::verify_jws(jwt, jwks_of(*p));
  CHECK((*claims)["exp"].get<std::int64_t>() <= std::chrono::duration_cast<std::chrono::seconds>((env.t0 + 90s).time_since_epoch()).count());
  std::optional<CredentialResult> expired;
  p->get({"bot2", "", "", env.t0 - 1s}, [&](CredentialResult r) { expired.emplace(std::move(r)); });
  CHECK(expired->error().code == Code::kSubjectExpired);
}

TEST_CASE("rotation keeps the previous key published until its tokens expire, then drops it") {
  Env env;
  auto p = env.make();
  std::string old_jwt = get_jwt(*p, {"bot", "alice", "", {}});
  std::string old_kid = json::parse(p->public_jwks()[0])["kid"];
  env.clock.set(env.t0 + 10s);
  REQUIRE(p->rotate());
  auto keys = p->public_jwks();
  REQUIRE(keys.size() == 2);
  std::string new_kid = json::parse(keys[0])["kid"];
  CHECK(new_kid != old_kid);
  CHECK(json::parse(keys[1])["kid"] == old_kid);
  CHECK(testing::verify_jws(old_jwt, jwks_of(*p)));  // old tokens still verify
  std::string new_jwt = get_jwt(*p, {"bot", "alice", "", {}});
  CHECK(new_jwt != old_jwt);  // the cache was dropped
  CHECK(testing::verify_jws(new_jwt, jwks_of(*p)));
  env.clock.set(env.t0 + 10s + 299s);
  CHECK(p->public_jwks().size() == 2);
  env.clock.set(env.t0 + 10s + 300s);
  CHECK(p->public_jwks().size() == 1);
  CHECK_FALSE(testing::verify_jws(old_jwt, jwks_of(*p)));
  CHECK(p->stats().rotations == 1);
}

TEST_CASE("a generated key is stored in the vault and reused by the next start") {
  Env env;
  std::string kid;
  {
    auto p = env.make();
    CHECK(p->key_entry() == "portcullis-signing-crm-jwt");
    kid = json::parse(p->public_jwks()[0])["kid"];
  }
  auto pem = env.vault->get("portcullis-signing-crm-jwt");
  REQUIRE(pem.ok());
  CHECK(json::parse(env.make()->public_jwks()[0])["kid"] == kid);
}

TEST_CASE("rotation stores the new key so a restart signs with it") {
  Env env;
  auto p = env.make();
  REQUIRE(p->rotate());
  std::string kid = json::parse(p->public_jwks()[0])["kid"];
  CHECK(json::parse(env.make()->public_jwks()[0])["kid"] == kid);
  CHECK(env.vault->list()->at(0).version == 2);
}

TEST_CASE("a key named in the config is loaded from the vault and decides the algorithm") {
  Env env;
  auto key = SigningKey::generate(SigningKey::Algorithm::kEdDSA);
  REQUIRE(env.vault->put("upstream-signing-key", key->to_pem().value()));
  auto cfg = jwt_config("ES256");
  cfg.key = {config::SecretRef::Kind::kVault, "upstream-signing-key"};
  auto p = env.make(cfg);
  auto jwk = json::parse(p->public_jwks()[0]);
  CHECK(jwk["kid"] == key->thumbprint());
  CHECK(jwk["alg"] == "EdDSA");
}

TEST_CASE("a ttl above five minutes, a missing audience or issuer are refused") {
  Env env;
  auto cfg = jwt_config();
  cfg.ttl = 6min;
  CHECK(SignedJwtProvider::create(cfg, env.vault.get(), env.clock, kIssuer).error().code == Code::kConfig);
  cfg = jwt_config();
  cfg.audience.clear();
  CHECK_FALSE(SignedJwtProvider::create(cfg, env.vault.get(), env.clock, kIssuer).ok());
  CHECK_FALSE(SignedJwtProvider::create(jwt_config(), env.vault.get(), env.clock, "").ok());
  CHECK_FALSE(SignedJwtProvider::create(jwt_config(), nullptr, env.clock, kIssuer).ok());
}

TEST_CASE("invalidate and drop_agent make the next get sign a new token") {
  Env env;
  auto p = env.make();
  std::string a = get_jwt(*p, {"bot", "alice", "", {}});
  p->drop_agent("bot");
  std::string b = get_jwt(*p, {"bot", "alice", "", {}});
  CHECK(b != a);
  p->invalidate({"bot", "alice", "", {}}, nullptr);
  CHECK(get_jwt(*p, {"bot", "alice", "", {}}) != b);
}

}  // namespace
}  // namespace portcullis::credentials
