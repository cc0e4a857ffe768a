#include "config/loader.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

// Shows both sides of a failed comparison of error lists, one per line.
namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string out = "\n";
    for (const std::string& s : v) out += "  " + s + "\n";
    return out.c_str();
  }
};
}  // namespace doctest

namespace portcullis::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A fresh directory holding the files a config names, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "portcullis-config-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    fs::path p = fs::path(path_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::string> errors_of(const Result<ConfigPtr, ConfigErrors>& r) {
  std::vector<std::string> out;
  if (r.ok()) return out;
  for (const ConfigError& e : r.error()) out.push_back(e.to_string());
  return out;
}

// Routes need an identity section or `auth: none` (tested on its own below);
// the other cases get a minimal issuer appended after their own lines, so
// positions in expected errors do not move.
std::string with_identity(const std::string& text) {
  if (text.find("identity:") != std::string::npos || text.find("upstreams:") == std::string::npos) return text;
  return text + "\nidentity:\n  issuers: [{ issuer: \"https://idp.example\" }]\n";
}

// Loads `text` as gw.yaml in `dir`; fails the test case with every error when
// the config is rejected.
ConfigPtr load_ok(const std::string& text, const std::string& dir = ".") {
  auto r = load_config_text(with_identity(text), "gw.yaml", dir);
  for (const std::string& e : errors_of(r)) FAIL_CHECK(e);
  REQUIRE(r.ok());
  return *r;
}

std::vector<std::string> load_errors(const std::string& text, const std::string& dir = ".") {
  auto r = load_config_text(with_identity(text), "gw.yaml", dir);
  CHECK_FALSE(r.ok());
  return errors_of(r);
}

const std::string kHash(64, 'a');

// The contract's example (contract.md, "Configuration"), with the files it
// names present.
std::string contract_example() {
  return R"(server:
  listen: 127.0.0.1:8080
  public_url: http://127.0.0.1:8080      # base of the resource URIs that agents' tokens are issued for
  tls: { cert_file: gw.crt, key_file: gw.key }   # optional
  allowed_origins: [https://app.example.com]    # requests with another Origin get 403; no Origin is fine
  max_body: 4MiB
  session_key: vault:session-key

upstreams:
  - name: crm
    url: http://127.0.0.1:9101/mcp
    path: /mcp/crm                       # default /mcp/<name>
    credential: crm-oauth                # a credentials provider (optional)
    timeouts: { connect: 2s, request: 60s, stream_idle: 10m }
    tls: { ca_file: ca.pem, verify: true }
    # auth: none

identity:
  issuers:
    - issuer: http://127.0.0.1:9211
      jwks_uri: http://127.0.0.1:9211/jwks
      algorithms: [RS256, ES256]
      audiences: []
  introspection:
    url: http://127.0.0.1:9211/token/introspection
    client_id: portcullis
    client_secret: vault:introspection-secret
  clock_skew: 60s
  required_scopes: []
  agent_claim: client_id
  unregistered_agents: deny

agents:
  - id: support-bot
    owner: alice@example.com
    groups: [support]
    clearance: confidential

credentials:
  vault: { file: ./portcullis.vault, key_file: ./vault.key }
  providers:
    - { name: crm-static, kind: static, secret: vault:crm-api-key, header: X-API-Key }
    - name: crm-oauth
      kind: client_credentials
      token_url: http://127.0.0.1:9211/token
      client_id: portcullis
      client_secret: vault:crm-client-secret
      scope: crm.read
      resource: http://127.0.0.1:9101
    - name: crm-exchange
      kind: token_exchange
      token_url: http://127.0.0.1:9211/token
      client_id: portcullis
      client_secret: vault:exchange-secret
      audience: http://127.0.0.1:9101
    - name: crm-jwt
      kind: signed_jwt
      audience: http://127.0.0.1:9101
      ttl: 5m
      key: vault:upstream-signing-key

policy:
  files: [policy.yaml]
  mode: enforce

audit:
  dir: ./audit
  on_failure: fail_closed
  signing_key: vault:audit-signing-key
  checkpoint_every: { records: 1000, interval: 10s }

admin:
  listen: 127.0.0.1:8081
  tokens:
    - { name: ops, sha256: ")" + kHash + R"(", roles: [viewer, operator, approver] }
  state_file: ./portcullis.state
)";
}

// A TempDir with the files the contract example names.
struct ExampleDir : TempDir {
  ExampleDir() {
    for (const char* f : {"gw.crt", "gw.key", "ca.pem", "policy.yaml"}) write(f, "x\n");
  }
};

TEST_CASE("the contract's example config loads with every value in place") {
  ExampleDir dir;
  std::string file = dir.write("gw.yaml", contract_example());
  auto r = load_config_file(file);
  for (const std::string& e : errors_of(r)) FAIL_CHECK(e);
  REQUIRE(r.ok());
  const Config& c = **r;
  CHECK(c.file == file);
  CHECK(c.revision.size() == 64);

  CHECK(c.server.listen.host == "127.0.0.1");
  CHECK(c.server.listen.port == 8080);
  CHECK(c.server.public_url == "http://127.0.0.1:8080");
  REQUIRE(c.server.tls.has_value());
  CHECK(c.server.tls->cert_file == dir.path() + "/gw.crt");
  CHECK(c.server.tls->key_file == dir.path() + "/gw.key");
  CHECK(c.server.allowed_origins == std::vector<std::string>{"https://app.example.com"});
  CHECK(c.server.max_body == 4u * 1024 * 1024);
  CHECK(c.server.session_key.kind == SecretRef::Kind::kVault);
  CHECK(c.server.session_key.value == "session-key");

  REQUIRE(c.upstreams.size() == 1);
  const UpstreamConfig& u = c.upstreams[0];
  CHECK(u.name == "crm");
  CHECK(u.url == "http://127.0.0.1:9101/mcp");
  CHECK(u.scheme == "http");
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == 9101);
  CHECK(u.target == "/mcp");
  CHECK(u.path == "/mcp/crm");
  CHECK(u.credential == "crm-oauth");
  CHECK(u.timeouts.connect == 2s);
  CHECK(u.timeouts.request == 60s);
  CHECK(u.timeouts.stream_idle == 10min);
  CHECK(u.tls.ca_file == dir.path() + "/ca.pem");
  CHECK(u.tls.verify);
  CHECK_FALSE(u.auth_none);

  REQUIRE(c.identity.issuers.size() == 1);
  CHECK(c.identity.issuers[0].issuer == "http://127.0.0.1:9211");
  CHECK(c.identity.issuers[0].jwks_uri == "http://127.0.0.1:9211/jwks");
  CHECK(c.identity.issuers[0].algorithms == std::vector<std::string>{"RS256", "ES256"});
  CHECK(c.identity.issuers[0].audiences.empty());
  REQUIRE(c.identity.introspection.has_value());
  CHECK(c.identity.introspection->url == "http://127.0.0.1:9211/token/introspection");
  CHECK(c.identity.introspection->client_id == "portcullis");
  CHECK(c.identity.introspection->client_secret.value == "introspection-secret");
  CHECK(c.identity.clock_skew == 60s);
  CHECK(c.identity.agent_claim == "client_id");
  CHECK_FALSE(c.identity.allow_unregistered_agents);

  REQUIRE(c.agents.size() == 1);
  CHECK(c.agents[0].id == "support-bot");
  CHECK(c.agents[0].owner == "alice@example.com");
  CHECK(c.agents[0].groups == std::vector<std::string>{"support"});
  CHECK(c.agents[0].clearance == "confidential");

  REQUIRE(c.credentials.vault.has_value());
  CHECK(c.credentials.vault->file == dir.path() + "/portcullis.vault");
  CHECK(c.credentials.vault->key_file == dir.path() + "/vault.key");
  REQUIRE(c.credentials.providers.size() == 4);
  CHECK(c.credentials.providers[0].kind == "static");
  CHECK(c.credentials.providers[0].header == "X-API-Key");
  CHECK(c.credentials.providers[0].secret.value == "crm-api-key");
  CHECK(c.credentials.providers[1].kind == "client_credentials");
  CHECK(c.credentials.providers[1].token_url == "http://127.0.0.1:9211/token");
  CHECK(c.credentials.providers[1].scope == "crm.read");
  CHECK(c.credentials.providers[1].resource == "http://127.0.0.1:9101");
  CHECK(c.credentials.providers[2].kind == "token_exchange");
  CHECK(c.credentials.providers[2].audience == "http://127.0.0.1:9101");
  CHECK(c.credentials.providers[3].kind == "signed_jwt");
  CHECK(c.credentials.providers[3].ttl == 5min);
  CHECK(c.credentials.providers[3].algorithm == "ES256");
  CHECK(c.credentials.providers[3].key.value == "upstream-signing-key");

  CHECK(c.policy.files == std::vector<std::string>{dir.path() + "/policy.yaml"});
  CHECK_FALSE(c.policy.shadow);
  CHECK(c.audit.dir == dir.path() + "/audit");
  CHECK_FALSE(c.audit.fail_open);
  CHECK(c.audit.signing_key.value == "audit-signing-key");
  CHECK(c.audit.checkpoint_records == 1000);
  CHECK(c.audit.checkpoint_interval == 10s);

  REQUIRE(c.admin.listen.has_value());
  CHECK(c.admin.listen->port == 8081);
  REQUIRE(c.admin.tokens.size() == 1);
  CHECK(c.admin.tokens[0].name == "ops");
  CHECK(c.admin.tokens[0].sha256_hex == kHash);
  CHECK(c.admin.tokens[0].roles == std::vector<std::string>{"viewer", "operator", "approver"});
  CHECK(c.admin.state_file == dir.path() + "/portcullis.state");

  CHECK(c.upstream_by_path("/mcp/crm") == &u);
  CHECK(c.upstream_by_name("crm") == &u);
  CHECK(c.upstream_by_path("/mcp/other") == nullptr);
  CHECK(c.agent("support-bot") == &c.agents[0]);
  CHECK(c.agent("nobody") == nullptr);
}

TEST_CASE("an empty config gets the documented defaults") {
  ConfigPtr c = load_ok("");
  CHECK(c->server.listen.host == "127.0.0.1");
  CHECK(c->server.listen.port == 8080);
  CHECK(c->server.public_url == "http://127.0.0.1:8080");
  CHECK(c->server.max_body == 4u * 1024 * 1024);
  CHECK(c->server.session_key.empty());
  CHECK(c->server.header_timeout == 10s);
  CHECK(c->server.threads == 0);
  CHECK(c->upstreams.empty());
  CHECK_FALSE(c->identity.enabled());
  CHECK(c->identity.agent_claim == "client_id");
  CHECK_FALSE(c->policy.shadow);
  CHECK(c->audit.dir.empty());
  CHECK(c->audit.segment_bytes == 64ull * 1024 * 1024);
  CHECK_FALSE(c->admin.listen.has_value());
  CHECK(c->admin.approval_timeout == 5min);
  CHECK(c->admin.approval_keepalive == 15s);
  CHECK(c->state.backend == "file");
  CHECK(c->state.prefix == "portcullis:");
}

TEST_CASE("upstream defaults fill path, port, target and timeouts") {
  ConfigPtr c = load_ok(
      "upstreams:\n"
      "  - { name: crm, url: https://crm.example.com }\n"
      "  - { name: tickets.v2, url: \"http://[::1]:9000/a?b=1\", auth: none }\n"
      "identity: { issuers: [{ issuer: https://idp.example.com }] }\n");
  REQUIRE(c->upstreams.size() == 2);
  CHECK(c->upstreams[0].path == "/mcp/crm");
  CHECK(c->upstreams[0].port == 443);
  CHECK(c->upstreams[0].target == "/");
  CHECK(c->upstreams[0].timeouts.stream_idle == 10min);
  CHECK(c->upstreams[0].max_connections == 256);
  CHECK(c->upstreams[1].host == "::1");
  CHECK(c->upstreams[1].port == 9000);
  CHECK(c->upstreams[1].target == "/a?b=1");
  CHECK(c->upstreams[1].auth_none);
  CHECK(c->identity.issuers[0].algorithms == std::vector<std::string>{"RS256", "ES256"});
}

TEST_CASE("the extra tuning keys are read into their fields") {
  ConfigPtr c = load_ok(
      "server: { session_ttl: 1h, header_timeout: 5s, idle_timeout: 30s, max_header_bytes: 8KiB,\n"
      "          max_connections: 100, drain_timeout: 0, threads: 4 }\n"
      "upstreams: [{ name: a, url: http://localhost:1, max_connections: 8, auth: none }]\n"
      "identity: { introspection: { url: http://localhost:2/i, client_id: c, client_secret: s, cache_ttl: 30s } }\n"
      "credentials: { providers: [{ name: j, kind: signed_jwt, audience: x, algorithm: EdDSA, ttl: 1m,\n"
      "                             rotate_every: 24h }] }\n"
      "audit: { segment_bytes: 1MiB, segment_age: 10m, queue_limit: 10, preallocate: true,\n"
      "         group_commit: { max_delay: 5ms, max_records: 64 } }\n"
      "admin: { approval_timeout: 2m, approval_keepalive: 500ms }\n"
      "state: { backend: redis, url: \"redis://localhost:6390/2\", prefix: \"p:\", timeouts: { connect: 1s, command: 250ms },\n"
      "         password: pw }\n");
  CHECK(c->server.session_ttl == 1h);
  CHECK(c->server.header_timeout == 5s);
  CHECK(c->server.idle_timeout == 30s);
  CHECK(c->server.max_header_bytes == 8192);
  CHECK(c->server.max_connections == 100);
  CHECK(c->server.drain_timeout == 0ms);
  CHECK(c->server.threads == 4);
  CHECK(c->upstreams[0].max_connections == 8);
  CHECK(c->identity.introspection->cache_ttl == 30s);
  CHECK(c->identity.introspection->client_secret.kind == SecretRef::Kind::kLiteral);
  CHECK(c->credentials.providers[0].algorithm == "EdDSA");
  CHECK(c->credentials.providers[0].ttl == 1min);
  CHECK(c->credentials.providers[0].rotate_every == 24h);
  CHECK(c->audit.segment_bytes == 1024 * 1024);
  CHECK(c->audit.segment_age == 10min);
  CHECK(c->audit.queue_limit == 10);
  CHECK(c->audit.preallocate);
  CHECK(c->audit.group_commit_delay == 5ms);
  CHECK(c->audit.group_commit_records == 64);
  CHECK(c->admin.approval_timeout == 2min);
  CHECK(c->admin.approval_keepalive == 500ms);
  CHECK(c->state.backend == "redis");
  CHECK(c->state.url == "redis://localhost:6390/2");
  CHECK(c->state.host == "localhost");
  CHECK(c->state.port == 6390);
  CHECK(c->state.db == 2);
  CHECK(c->state.prefix == "p:");
  CHECK(c->state.connect_timeout == 1s);
  CHECK(c->state.command_timeout == 250ms);
  CHECK(c->state.password.value == "pw");
}

TEST_CASE("the audit group commit delay may be 0 and is bounded") {
  ConfigPtr c = load_ok("upstreams: [{ name: a, url: http://localhost:1, auth: none }]\n"
                        "audit: { dir: /tmp/a, group_commit: { max_delay: 0s } }\n");
  CHECK(c->audit.group_commit_delay == 0ms);
  CHECK(load_ok("upstreams: [{ name: a, url: http://localhost:1, auth: none }]\naudit: { dir: /tmp/a }\n")
            ->audit.group_commit_delay == 5ms);
  CHECK(load_errors("upstreams: [{ name: a, url: http://localhost:1, auth: none }]\n"
                    "audit: { dir: /tmp/a, group_commit: { max_delay: 2s } }\n") ==
        std::vector<std::string>{"gw.yaml:2:50: audit.group_commit.max_delay: must be at most 100ms"});
}

TEST_CASE("an unknown key at depth is named with its full path") {
  CHECK(load_errors("upstreams:\n"
                    "  - name: crm\n"
                    "    url: http://localhost:1\n"
                    "    timeouts: { conect: 2s }\n") ==
        std::vector<std::string>{
            "gw.yaml:4:17: upstreams[0].timeouts.conect: unknown key (expected one of: connect, request, stream_idle)"});
}

TEST_CASE("an unknown top-level section is an error") {
  CHECK(load_errors("sever:\n  listen: 127.0.0.1:1\n") ==
        std::vector<std::string>{"gw.yaml:1:1: sever: unknown key (expected one of: admin, agents, audit, "
                                 "credentials, identity, policy, server, state, upstreams, users)"});
}

TEST_CASE("a value of the wrong type is an error at the value") {
  CHECK(load_errors("server:\n  max_connections: lots\n  allowed_origins: https://a.example\n") ==
        std::vector<std::string>{
            "gw.yaml:2:20: server.max_connections: expected an integer, found \"lots\"",
            "gw.yaml:3:20: server.allowed_origins: expected a list, found a scalar",
        });
}

TEST_CASE("a bad duration is an error") {
  CHECK(load_errors("upstreams: [{ name: a, url: http://localhost:1, timeouts: { request: 60 } }]\n") ==
        std::vector<std::string>{"gw.yaml:1:70: upstreams[0].timeouts.request: invalid duration \"60\" "
                                 "(expected e.g. 250ms, 30s, 5m, 1h)"});
}

TEST_CASE("approval_keepalive: 0s turns the held stream off; below 100ms is refused") {
  ConfigPtr off = load_ok("admin: { approval_keepalive: 0s }\n");
  CHECK(off->admin.approval_keepalive == 0ms);
  CHECK(load_errors("admin:\n  approval_keepalive: 10ms\n") ==
        std::vector<std::string>{
            "gw.yaml:2:23: admin.approval_keepalive: must be at least 100ms (or 0s: no keepalive stream)"});
  CHECK(load_errors("admin: { approval_keepalive: soon }\n") ==
        std::vector<std::string>{"gw.yaml:1:30: admin.approval_keepalive: invalid duration \"soon\" "
                                 "(expected e.g. 250ms, 30s, 5m, 1h)"});
}

TEST_CASE("a bad size is an error") {
  CHECK(load_errors("server: { max_body: 4MB }\n") ==
        std::vector<std::string>{
            "gw.yaml:1:21: server.max_body: invalid size \"4MB\" (expected bytes or e.g. 64KiB, 4MiB, 1GiB)"});
}

TEST_CASE("a duplicate upstream name is an error naming the first one") {
  CHECK(load_errors("upstreams:\n"
                    "  - { name: crm, url: http://localhost:1, path: /a }\n"
                    "  - { name: crm, url: http://localhost:2, path: /b }\n") ==
        std::vector<std::string>{
            "gw.yaml:3:13: upstreams[1].name: duplicate upstream name \"crm\" (also upstreams[0])"});
}

TEST_CASE("a duplicate route path is an error") {
  CHECK(load_errors("upstreams:\n"
                    "  - { name: a, url: http://localhost:1 }\n"
                    "  - { name: b, url: http://localhost:2, path: /mcp/a }\n") ==
        std::vector<std::string>{"gw.yaml:3:47: upstreams[1].path: duplicate route path \"/mcp/a\" (also upstreams[0])"});
}

TEST_CASE("an upstream speaks Streamable HTTP unless it says transport: sse") {
  ConfigPtr c = load_ok(
      "upstreams:\n"
      "  - { name: crm, url: http://localhost:1/mcp }\n"
      "  - { name: old, url: http://localhost:2/sse, transport: sse }\n"
      "  - { name: new, url: http://localhost:3/mcp, transport: streamable_http }\n");
  REQUIRE(c->upstreams.size() == 3);
  CHECK(c->upstreams[0].transport == UpstreamTransport::kStreamableHttp);
  CHECK(c->upstreams[1].transport == UpstreamTransport::kSse);
  CHECK(c->upstreams[1].target == "/sse");
  CHECK(c->upstreams[2].transport == UpstreamTransport::kStreamableHttp);
}

TEST_CASE("an unknown transport is an error naming the known ones") {
  CHECK(load_errors("upstreams: [{ name: a, url: http://localhost:1, transport: websocket }]\n") ==
        std::vector<std::string>{
            "gw.yaml:1:60: upstreams[0].transport: \"websocket\" is not one of: streamable_http, sse"});
}

TEST_CASE("a route on the /sse or /messages path of a legacy route is an error") {
  auto errors = load_errors(
      "upstreams:\n"
      "  - { name: old, url: http://localhost:1/sse, transport: sse }\n"
      "  - { name: b, url: http://localhost:2, path: /mcp/old/messages }\n");
  CHECK(errors == std::vector<std::string>{
                      "gw.yaml:2:58: upstreams[0].transport: route \"/mcp/old/messages\" of this legacy SSE upstream "
                      "is upstreams[1]'s path"});
}

TEST_CASE("a bad upstream name or path is an error") {
  auto errors = load_errors("upstreams:\n  - { name: \"c r m\", url: http://localhost:1, path: mcp }\n");
  CHECK(errors == std::vector<std::string>{
                      "gw.yaml:2:13: upstreams[0].name: must match [A-Za-z0-9_.-]+",
                      "gw.yaml:2:53: upstreams[0].path: must start with / and contain no spaces, ? or #",
                  });
}

TEST_CASE("a route path the gateway serves itself is an error") {
  for (const char* p : {"/healthz", "/metrics", "/.well-known/oauth-protected-resource", "/admin/v1/kill", "/"}) {
    CAPTURE(p);
    CHECK(load_errors(std::string("upstreams: [{ name: a, url: http://localhost:1, path: \"") + p + "\" }]\n") ==
          std::vector<std::string>{"gw.yaml:1:55: upstreams[0].path: \"" + std::string(p) +
                                   "\" is served by the gateway itself"});
  }
}

TEST_CASE("a config in the e2e harness's block style with quoted values loads") {
  ConfigPtr c = load_ok(
      "# written by tests/e2e/lib/gateway.mjs\n"
      "server:\n"
      "  allowed_origins:\n"
      "    - \"https://agent.example\"\n"
      "  max_body: 64KiB\n"
      "  listen: \"127.0.0.1:45123\"\n"
      "upstreams:\n"
      "  - name: crm\n"
      "    url: \"http://127.0.0.1:40000/mcp\"\n"
      "    path: /mcp/crm\n"
      "    auth: none\n"
      "  - name: hang\n"
      "    url: \"http://127.0.0.1:40001/hang\"\n"
      "    path: /mcp/hang\n"
      "    auth: none\n"
      "    timeouts:\n"
      "      request: 1500ms\n"
      "      connect: 1s\n");
  CHECK(c->server.listen.port == 45123);
  CHECK(c->server.max_body == 65536);
  REQUIRE(c->upstreams.size() == 2);
  CHECK(c->upstreams[1].timeouts.request == 1500ms);
  CHECK(c->upstreams[1].auth_none);
}

TEST_CASE("a duplicate YAML key is an error even though yaml-cpp accepts it") {
  CHECK(load_errors("server:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n") ==
        std::vector<std::string>{"gw.yaml:3:3: server.listen: duplicate key (first defined on line 2)"});
}

TEST_CASE("a missing policy file is an error naming the key") {
  TempDir dir;
  CHECK(load_errors("policy:\n  files: [missing.yaml]\naudit: { dir: a }\n", dir.path()) ==
        std::vector<std::string>{"gw.yaml:2:11: policy.files[0]: file not found: " + dir.path() + "/missing.yaml"});
}

TEST_CASE("policy files resolve against the config's directory and shadow mode is read") {
  TempDir dir;
  dir.write("p/policy.yaml", "x");
  ConfigPtr c = load_ok(
      "policy: { files: [p/policy.yaml], mode: shadow, pins_file: state/pins.json }\naudit: { dir: /var/audit }\n",
      dir.path());
  CHECK(c->policy.files == std::vector<std::string>{dir.path() + "/p/policy.yaml"});
  CHECK(c->policy.shadow);
  CHECK(c->policy.pins_file == dir.path() + "/state/pins.json");
  CHECK(c->audit.dir == "/var/audit");
}

TEST_CASE("a policy without an audit dir is an error") {
  TempDir dir;
  dir.write("policy.yaml", "x");
  CHECK(load_errors("policy: { files: [policy.yaml] }\n", dir.path()) ==
        std::vector<std::string>{"gw.yaml:1:18: policy.files: audit.dir is required when policy.files is set "
                                 "(every decision is recorded)"});
}

TEST_CASE("an unset environment variable is an error naming the key and the variable") {
  unsetenv("PORTCULLIS_TEST_UNSET");
  CHECK(load_errors("upstreams:\n  - name: crm\n    url: http://${PORTCULLIS_TEST_UNSET}/mcp\n") ==
        std::vector<std::string>{
            "gw.yaml:3:17: upstreams[0].url: environment variable PORTCULLIS_TEST_UNSET is not set"});
}

TEST_CASE("environment variables are substituted and change the revision") {
  setenv("PORTCULLIS_TEST_PORT", "9101", 1);
  const std::string text = "upstreams: [{ name: a, url: \"http://localhost:${PORTCULLIS_TEST_PORT}\", auth: none }]\n"
                           "server: { public_url: \"https://gw.example.com/$${x}/\" }\n";
  ConfigPtr a = load_ok(text);
  CHECK(a->upstreams[0].port == 9101);
  CHECK(a->server.public_url == "https://gw.example.com/${x}");
  setenv("PORTCULLIS_TEST_PORT", "9102", 1);
  ConfigPtr b = load_ok(text);
  CHECK(b->upstreams[0].port == 9102);
  CHECK(a->revision != b->revision);
  unsetenv("PORTCULLIS_TEST_PORT");
}

TEST_CASE("the revision is the SHA-256 of the interpolated text") {
  // sha256("") is well known; an empty config is valid.
  CHECK(load_ok("")->revision == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("a bad URL is an error") {
  CHECK(load_errors("upstreams:\n  - { name: a, url: ftp://localhost/x }\n"
                    "identity: { issuers: [{ issuer: \"http://u@h\" }] }\n") ==
        std::vector<std::string>{
            "gw.yaml:2:21: upstreams[0].url: not a valid http(s) URL: \"ftp://localhost/x\"",
            "gw.yaml:3:33: identity.issuers[0].issuer: not a valid http(s) URL: \"http://u@h\"",
        });
  for (const char* bad : {"http://", "http://h:0", "http://h:99999", "http://h:x", "http://[zz]:1", "http://h/#f",
                          "https://a b", "localhost:1"}) {
    CAPTURE(bad);
    CHECK(load_errors(std::string("upstreams: [{ name: a, url: \"") + bad + "\" }]\n").size() == 1);
  }
}

TEST_CASE("an unknown credential reference is an error listing the providers") {
  CHECK(load_errors("upstreams: [{ name: a, url: http://localhost:1, credential: crm-oauth }]\n"
                    "credentials: { providers: [{ name: crm-static, kind: static, secret: s, header: X-K }] }\n") ==
        std::vector<std::string>{
            "gw.yaml:1:61: upstreams[0].credential: no credentials provider named \"crm-oauth\" (defined: crm-static)"});
}

TEST_CASE("vault references become vault secrets and need a configured vault") {
  TempDir dir;
  ConfigPtr c = load_ok("credentials:\n  vault: { file: v.db }\n  providers:\n"
                        "    - { name: s, kind: static, secret: \"vault:k\", header: X }\n"
                        "    - { name: t, kind: static, secret: \"plain:vault:k\", header: X }\n",
                        dir.path());
  CHECK(c->credentials.providers[0].secret.kind == SecretRef::Kind::kVault);
  CHECK(c->credentials.providers[0].secret.value == "k");
  CHECK(c->credentials.providers[1].secret.kind == SecretRef::Kind::kLiteral);
  CHECK(c->credentials.providers[1].secret.value == "plain:vault:k");
  CHECK(c->credentials.vault->key_file.empty());

  CHECK(load_errors("audit: { signing_key: \"vault:k\" }\n") ==
        std::vector<std::string>{
            "gw.yaml:1:23: audit.signing_key: refers to the vault, but credentials.vault is not configured"});
}

TEST_CASE("each provider kind requires its own fields and rejects the others") {
  auto errors = load_errors(
      "credentials:\n"
      "  providers:\n"
      "    - { name: a, kind: static }\n"
      "    - { name: b, kind: client_credentials, token_url: http://t/ }\n"
      "    - { name: c, kind: token_exchange, token_url: http://t/, client_id: x, client_secret: y }\n"
      "    - { name: d, kind: signed_jwt, audience: x, ttl: 10m, algorithm: RS256, secret: s }\n"
      "    - { name: e, kind: magic, whatever: 1 }\n"
      "    - { name: a, kind: static, secret: s, header: X }\n");
  CHECK(errors == std::vector<std::string>{
                      "gw.yaml:3:7: credentials.providers[0].secret: required",
                      "gw.yaml:3:7: credentials.providers[0].header: required",
                      "gw.yaml:4:7: credentials.providers[1].client_id: required",
                      "gw.yaml:4:7: credentials.providers[1].client_secret: required",
                      "gw.yaml:5:7: credentials.providers[2].audience: required",
                      "gw.yaml:6:54: credentials.providers[3].ttl: must be at most 5m",
                      "gw.yaml:6:70: credentials.providers[3].algorithm: \"RS256\" is not one of: ES256, EdDSA",
                      "gw.yaml:6:77: credentials.providers[3].secret: unknown key (expected one of: algorithm, "
                      "audience, key, kind, name, rotate_every, ttl)",
                      "gw.yaml:7:24: credentials.providers[4].kind: \"magic\" is not one of: static, "
                      "client_credentials, token_exchange, signed_jwt",
                      "gw.yaml:8:15: credentials.providers[5].name: duplicate provider name \"a\"",
                  });
}

TEST_CASE("agents need a unique id and an owner") {
  CHECK(load_errors("agents:\n  - { id: bot }\n  - { id: bot, owner: a@example.com }\n") ==
        std::vector<std::string>{
            "gw.yaml:2:5: agents[0].owner: required",
            "gw.yaml:3:11: agents[1].id: duplicate agent id \"bot\"",
        });
}

TEST_CASE("users: each has a unique sub and a clearance; Config::user finds them") {
  CHECK(load_errors("users:\n  - { sub: alice }\n  - { sub: bob, clearance: internal }\n"
                    "  - { sub: bob, clearance: public }\n  - { sub: carol, clearance: public, groups: [x] }\n") ==
        std::vector<std::string>{
            "gw.yaml:2:5: users[0].clearance: required",
            "gw.yaml:4:12: users[2].sub: duplicate user sub \"bob\"",
            "gw.yaml:5:38: users[3].groups: unknown key (expected one of: clearance, sub)",
        });
  ConfigPtr c = load_ok("users:\n  - { sub: alice@example.com, clearance: confidential }\n");
  REQUIRE(c->users.size() == 1);
  REQUIRE(c->user("alice@example.com") != nullptr);
  CHECK(c->user("alice@example.com")->clearance == "confidential");
  CHECK(c->user("bob@example.com") == nullptr);
}

TEST_CASE("identity settings are validated") {
  CHECK(load_errors("identity:\n"
                    "  issuers: [{ issuer: http://i, algorithms: [RS256, HS256] }]\n"
                    "  unregistered_agents: maybe\n"
                    "  introspection: { url: http://i/x }\n") ==
        std::vector<std::string>{
            "gw.yaml:2:53: identity.issuers[0].algorithms[1]: \"HS256\" is not one of: RS256, RS384, RS512, PS256, "
            "PS384, PS512, ES256, ES384, EdDSA",
            "gw.yaml:3:24: identity.unregistered_agents: \"maybe\" is not one of: deny, allow",
            "gw.yaml:4:18: identity.introspection.client_id: required",
            "gw.yaml:4:18: identity.introspection.client_secret: required",
        });
  CHECK(load_ok("identity: { unregistered_agents: allow }\n")->identity.allow_unregistered_agents);
}

TEST_CASE("listen accepts IPv4, localhost and bracketed IPv6 and nothing else") {
  ConfigPtr v6 = load_ok("server: { listen: \"[::1]:0\", tls: null }\n");
  CHECK(v6->server.listen.host == "::1");
  CHECK(v6->server.listen.port == 0);
  CHECK(v6->server.public_url == "http://[::1]:0");
  CHECK(load_ok("server: { listen: \"localhost:9\" }\n")->server.listen.host == "localhost");
  for (const char* bad : {"example.com:80", "127.0.0.1", "1.2.3.4:70000", "::1:80", "[::1]80", "256.0.0.1:1"}) {
    CAPTURE(bad);
    CHECK(load_errors(std::string("server: { listen: \"") + bad + "\" }\n") ==
          std::vector<std::string>{"gw.yaml:1:19: server.listen: expected host:port with an IPv4 address, localhost "
                                   "or [IPv6], found \"" +
                                   std::string(bad) + "\""});
  }
}

TEST_CASE("public_url defaults to https with tls and loses its trailing slash") {
  ExampleDir dir;
  ConfigPtr c = load_ok("server: { listen: 0.0.0.0:8443, tls: { cert_file: gw.crt, key_file: gw.key } }\n", dir.path());
  CHECK(c->server.public_url == "https://0.0.0.0:8443");
  CHECK(load_ok("server: { public_url: \"https://gw.example.com/\" }\n")->server.public_url ==
        "https://gw.example.com");
}

TEST_CASE("missing TLS and CA files are errors") {
  TempDir dir;
  CHECK(load_errors("server: { tls: { cert_file: gw.crt } }\n"
                    "upstreams: [{ name: a, url: https://x, tls: { ca_file: ca.pem, verify: false } }]\n",
                    dir.path()) ==
        std::vector<std::string>{
            "gw.yaml:1:16: server.tls.key_file: required",
            "gw.yaml:1:29: server.tls.cert_file: file not found: " + dir.path() + "/gw.crt",
            "gw.yaml:2:56: upstreams[0].tls.ca_file: file not found: " + dir.path() + "/ca.pem",
        });
}

TEST_CASE("admin tokens need a 64-hex sha256 and known roles") {
  CHECK(load_errors("admin:\n"
                    "  listen: 127.0.0.1:8081\n"
                    "  tokens:\n"
                    "    - { name: ops, sha256: abc, roles: [viewer, root] }\n"
                    "    - { name: ci, sha256: \"" +
                    kHash + "\", roles: [] }\n") ==
        std::vector<std::string>{
            "gw.yaml:4:28: admin.tokens[0].sha256: expected 64 hex digits (the SHA-256 of the bearer token)",
            "gw.yaml:4:49: admin.tokens[0].roles[1]: \"root\" is not one of: viewer, operator, approver",
            "gw.yaml:5:102: admin.tokens[1].roles: must not be empty",
        });
}

TEST_CASE("the state backend must be file or redis, and redis needs a url") {
  CHECK(load_errors("state: { backend: redis }\n") ==
        std::vector<std::string>{"gw.yaml:1:8: state.url: required"});
  CHECK(load_errors("state: { backend: etcd }\n") ==
        std::vector<std::string>{"gw.yaml:1:19: state.backend: \"etcd\" is not one of: file, redis"});
}

TEST_CASE("a redis url gives host, port, db and password; rediss and a second password are refused") {
  auto c = load_ok("state: { backend: redis, url: \"redis://:s3cret@10.0.0.5/3\" }\n");
  CHECK(c->state.host == "10.0.0.5");
  CHECK(c->state.port == 6379);
  CHECK(c->state.db == 3);
  CHECK(c->state.password.kind == SecretRef::Kind::kLiteral);
  CHECK(c->state.password.value == "s3cret");
  CHECK(c->state.url == "redis://:***@10.0.0.5/3");
  CHECK(c->state.command_timeout == 500ms);
  CHECK(c->state.connect_timeout == 2s);
  auto named = load_ok("state: { backend: redis, url: \"redis://ops:pw@redis.internal:7000\" }\n");
  CHECK(named->state.host == "redis.internal");
  CHECK(named->state.port == 7000);
  CHECK(named->state.username == "ops");
  CHECK(named->state.db == 0);
  auto tls = load_errors("state: { backend: redis, url: \"rediss://h:6379\" }\n");
  REQUIRE(tls.size() == 1);
  CHECK(tls[0].find("gw.yaml:1:31: state.url: rediss:// (TLS) is not supported") == 0);
  CHECK(load_errors("state: { backend: redis, url: \"redis://:a@h\", password: b }\n") ==
        std::vector<std::string>{"gw.yaml:1:57: state.password: the password is also in the url: give it once "
                                 "(prefer `password: vault:NAME`)"});
  CHECK(load_errors("state: { backend: redis, url: \"redis://h:6379/x\" }\n") ==
        std::vector<std::string>{"gw.yaml:1:31: state.url: the database after the host must be a number "
                                 "(redis://host:6379/0)"});
  CHECK(load_errors("state: { url: \"redis://h\" }\n") ==
        std::vector<std::string>{"gw.yaml:1:15: state.url: only used with `backend: redis`"});
}

TEST_CASE("audit on_failure and checkpoint_every are read and validated") {
  ConfigPtr c = load_ok("audit: { dir: a, on_failure: fail_open, checkpoint_every: { records: 5, interval: 1s } }\n");
  CHECK(c->audit.fail_open);
  CHECK(c->audit.checkpoint_records == 5);
  CHECK(c->audit.checkpoint_interval == 1s);
  CHECK(load_errors("audit: { on_failure: ignore, checkpoint_every: { records: 0 } }\n") ==
        std::vector<std::string>{
            "gw.yaml:1:22: audit.on_failure: \"ignore\" is not one of: fail_closed, fail_open",
            "gw.yaml:1:59: audit.checkpoint_every.records: must be at least 1, found 0",
        });
}

TEST_CASE("a literal session key must be 32 bytes") {
  CHECK(load_errors("server: { session_key: short }\n") ==
        std::vector<std::string>{"gw.yaml:1:24: server.session_key: must be 32 bytes as hex or base64"});
  CHECK(load_ok("server: { session_key: \"" + kHash + "\" }\n")->server.session_key.value == kHash);
  // Base64 of 32 bytes: either alphabet, padded or not (what the gateway decodes).
  const std::string b64 = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=";  // 0xab 0xcd 0xef 0x01 ...
  CHECK(load_ok("server: { session_key: \"" + b64 + "\" }\n"));
  CHECK(load_ok("server: { session_key: \"" + b64.substr(0, 43) + "\" }\n"));
  CHECK(load_ok("server: { session_key: \"q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k\" }\n"));
  CHECK(load_ok("server: { session_key: \"_83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k\" }\n"));
  // 31 bytes; 33 bytes; stray low bits in the last character; wrong padding.
  for (std::string bad : {"q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZw==", "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4mr",
                          "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4l=", "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=="})
    CHECK_MESSAGE(load_errors("server: { session_key: \"" + bad + "\" }\n").size() == 1, bad);
}

TEST_CASE("every error in a file is reported, in file order") {
  auto errors = load_errors("server: { listen: nowhere, max_body: big }\n"
                            "upstreams: [{ url: http://x }]\n"
                            "bogus: 1\n");
  CHECK(errors.size() == 4);
  CHECK(errors[0].rfind("gw.yaml:1:19: server.listen:", 0) == 0);
  CHECK(errors[1].rfind("gw.yaml:1:38: server.max_body:", 0) == 0);
  CHECK(errors[2] == "gw.yaml:2:13: upstreams[0].name: required");
  CHECK(errors[3].rfind("gw.yaml:3:1: bogus: unknown key", 0) == 0);
}

TEST_CASE("a YAML syntax error is reported with its position") {
  auto errors = load_errors("server: { listen: 127.0.0.1:1\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("gw.yaml:", 0) == 0);
}

TEST_CASE("a non-mapping document is an error") {
  CHECK(load_errors("- a\n- b\n") == std::vector<std::string>{"gw.yaml:1:1: expected a mapping of sections"});
}

TEST_CASE("a missing config file is an error naming it") {
  auto r = load_config_file("/nonexistent/portcullis.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error()[0].to_string() == "/nonexistent/portcullis.yaml: cannot read: No such file or directory");
}

}  // namespace
TEST_CASE("a route that requires tokens needs an identity section, or auth: none") {
  auto r = load_config_text("upstreams:\n  - { name: crm, url: http://localhost:1 }\n", "gw.yaml", ".");
  REQUIRE_FALSE(r.ok());
  CHECK(errors_of(r) == std::vector<std::string>{
                            "gw.yaml:2:5: upstreams[0]: identity is not configured: add identity.issuers (or "
                            "introspection), or set `auth: none` on this route to serve it without tokens"});
  CHECK(load_config_text("upstreams:\n  - { name: crm, url: http://localhost:1, auth: none }\n", "gw.yaml", ".").ok());
}

}  // namespace portcullis::config
