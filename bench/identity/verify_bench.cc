// Micro-benchmarks of TokenVerifier: a cached verification (the hot path:
// SHA-256 of the token and a sharded cache lookup) and uncached full
// verifications per algorithm (decode, signature, claims, Principal).
//   verify_bench [iterations]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "identity/jws.h"
#include "identity/token_verifier.h"
#include "tests/identity/fakes.h"
#include "tests/identity/test_signer.h"

using namespace portcullis::identity;
using namespace portcullis::identity::testing;
using nlohmann::json;
using Clk = std::chrono::steady_clock;

// This thread's CPU time: wall time on a loaded machine counts other
// processes' work too.
struct CpuClock {
  using duration = std::chrono::nanoseconds;
  static duration now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  }
};

namespace {

const std::string kIssuer = "https://as.example";
const std::string kJwks = "https://as.example/jwks";
const Audiences kAud = {"https://gw/mcp/crm", "https://gw"};

json claims(std::int64_t now, int i) {
  return {{"iss", kIssuer}, {"aud", "https://gw/mcp/crm"}, {"exp", now + 3600}, {"iat", now},
          {"sub", "user-42"}, {"client_id", "support-bot"}, {"scope", "mcp.read mcp.write"},
          {"jti", "jti-" + std::to_string(i)}};
}

template <class D>
double ns_per_op(D d, long n) { return std::chrono::duration<double, std::nano>(d).count() / n; }

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  FakeClock clock;
  *clock.now = std::chrono::system_clock::now();
  FakeHttp http;
  FakeScheduler scheduler(clock);
  http.routes[kJwks] = {200, json{{"keys", {public_jwk(rsa_key(), "rsa"), public_jwk(p256_key(), "ec"),
                                            public_jwk(ed25519_key(), "ed")}}}.dump()};
  portcullis::config::IdentityConfig config;
  portcullis::config::IssuerConfig issuer;
  issuer.issuer = kIssuer;
  issuer.jwks_uri = kJwks;
  issuer.algorithms = {"RS256", "ES256", "EdDSA"};
  config.issuers.push_back(issuer);
  portcullis::config::AgentConfig agent;
  agent.id = "support-bot";
  agent.owner = "alice@example.com";
  VerifierOptions options;
  options.clock = portcullis::identity::system_clock();
  TokenVerifier verifier(config, {agent}, http, scheduler, options);
  verifier.start();
  const auto now = clock.seconds();

  // Cached: one token verified once, then again and again.
  const std::string token = sign_jwt(rsa_key(), "RS256", "rsa", claims(now, 0), {{"typ", "at+jwt"}});
  if (!verifier.verify(token, kAud).ok()) return std::puts("setup failed"), 1;
  auto t0 = Clk::now();
  auto c0 = CpuClock::now();
  for (long i = 0; i < iterations; ++i)
    if (!verifier.verify(token, kAud).ok()) return 1;
  std::printf("cached verify (RS256 token, %zu bytes): %.0f ns/op CPU, %.0f ns/op wall\n", token.size(),
              ns_per_op(CpuClock::now() - c0, iterations), ns_per_op(Clk::now() - t0, iterations));

  // Cached, two threads at once.
  {
    const long per = iterations / 2;
    t0 = Clk::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t)
      threads.emplace_back([&] {
        for (long i = 0; i < per; ++i) (void)verifier.verify(token, kAud);
      });
    for (auto& th : threads) th.join();
    std::printf("cached verify, 2 threads on one token: %.0f ns/op wall per thread\n", ns_per_op(Clk::now() - t0, per));
  }

  // Uncached: distinct tokens, each verified once (every one a miss).
  struct Case { const char* alg; const TestKey* key; const char* kid; int n; };
  for (auto c : {Case{"RS256", &rsa_key(), "rsa", 2000}, Case{"ES256", &p256_key(), "ec", 5000},
                 Case{"EdDSA", &ed25519_key(), "ed", 5000}}) {
    std::vector<std::string> tokens;
    for (int i = 1; i <= c.n; ++i) tokens.push_back(sign_jwt(*c.key, c.alg, c.kid, claims(now, i), {{"typ", "at+jwt"}}));
    t0 = Clk::now();
    c0 = CpuClock::now();
    for (const auto& t : tokens)
      if (!verifier.verify(t, kAud).ok()) return std::printf("%s failed\n", c.alg), 1;
    std::printf("uncached verify %s: %.1f us/op CPU, %.1f us/op wall\n", c.alg,
                ns_per_op(CpuClock::now() - c0, c.n) / 1000, ns_per_op(Clk::now() - t0, c.n) / 1000);
  }
  const auto s = verifier.stats();
  std::printf("cache hits %llu, misses %llu\n", static_cast<unsigned long long>(s.cache_hits),
              static_cast<unsigned long long>(s.cache_misses));
  return 0;
}
