// The validated, immutable configuration of one gateway instance. Loaded once
// per start or reload (config/loader.h); a reload builds a new Config and the
// gateway swaps one shared_ptr<const Config>. Nothing here is re-checked on
// the hot path.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::config {

using Duration = std::chrono::milliseconds;

// A secret as written in the config: a literal (possibly from ${VAR}) or a
// reference `vault:NAME` resolved through the embedded vault at load time by
// the caller. Never logged.
struct SecretRef {
  enum class Kind { kNone, kLiteral, kVault } kind = Kind::kNone;
  std::string value;  // the literal, or the vault entry name
  bool empty() const { return kind == Kind::kNone; }
};

struct Endpoint {  // host:port; an IPv6 host is stored without its brackets
  std::string host;
  std::uint16_t port = 0;
};

struct TlsServerConfig {
  std::string cert_file;
  std::string key_file;
};

struct ServerConfig {
  Endpoint listen{"127.0.0.1", 8080};
  std::string public_url;  // no trailing slash; default http://<listen>
  std::optional<TlsServerConfig> tls;
  std::vector<std::string> allowed_origins;
  std::size_t max_body = 4 * 1024 * 1024;
  SecretRef session_key;              // 32 bytes, hex or base64 (absent: random)
  Duration session_ttl{std::chrono::hours(24)};
  Duration header_timeout{std::chrono::seconds(10)};  // slowloris bound
  Duration idle_timeout{std::chrono::seconds(60)};    // keep-alive idle
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_connections = 10000;
  Duration drain_timeout{std::chrono::seconds(15)};
  int threads = 0;  // 0: hardware concurrency
};

struct UpstreamTimeouts {
  Duration connect{std::chrono::seconds(2)};
  Duration request{std::chrono::seconds(60)};
  Duration stream_idle{std::chrono::minutes(10)};
};

struct UpstreamTls {
  std::string ca_file;
  bool verify = true;
};

// How Portcullis speaks to an upstream (and serves its route).
enum class UpstreamTransport {
  kStreamableHttp,  // `transport: streamable_http` (default): `url` is the MCP endpoint
  kSse,             // `transport: sse`: legacy HTTP+SSE (2024-11-05); `url` is the SSE endpoint
};

struct UpstreamConfig {
  std::string name;
  std::string url;     // full URL of the upstream MCP endpoint (the SSE endpoint for `transport: sse`)
  std::string scheme;  // "http" | "https" (parsed from url)
  std::string host;
  std::uint16_t port = 0;
  std::string target;  // path + query of url
  std::string path;    // gateway route, default /mcp/<name>
  std::string credential;  // provider name, empty for none
  UpstreamTimeouts timeouts;
  UpstreamTls tls;
  bool auth_none = false;  // `auth: none`: route accepts requests without a token
  UpstreamTransport transport = UpstreamTransport::kStreamableHttp;
  std::size_t max_connections = 256;  // pooled keep-alive connections
};

struct IssuerConfig {
  std::string issuer;
  std::string jwks_uri;  // empty: discovered
  std::vector<std::string> algorithms;  // default [RS256, ES256]
  std::vector<std::string> audiences;   // empty: route resource URI + public_url
};

struct IntrospectionConfig {
  std::string url;
  std::string client_id;
  SecretRef client_secret;
  Duration cache_ttl{std::chrono::minutes(5)};
  // RFC 7662 makes `aud` optional in an answer; by default an answer without
  // one is refused (the token is not shown to be issued for this gateway).
  // false: accept it, for authorization servers that never send `aud`.
  bool require_audience = true;
};

struct IdentityConfig {
  std::vector<IssuerConfig> issuers;
  std::optional<IntrospectionConfig> introspection;
  Duration clock_skew{std::chrono::seconds(60)};
  std::vector<std::string> required_scopes;
  std::string agent_claim = "client_id";
  bool allow_unregistered_agents = false;  // unregistered_agents: deny|allow
  bool enabled() const { return !issuers.empty() || introspection.has_value(); }
};

struct AgentConfig {
  std::string id;
  std::string owner;
  std::vector<std::string> groups;
  std::string clearance;  // one of the policy's sensitivity levels; empty: lowest
};

// A human an agent may act for (the `sub` of a user-delegated token) and the
// highest sensitivity the agent may reach on their behalf. A delegating user
// who is not listed has the lowest level, as an unregistered agent does.
struct UserConfig {
  std::string sub;
  std::string clearance;  // one of the policy's sensitivity levels
};

struct VaultConfig {
  std::string file;
  std::string key_file;  // key also from PORTCULLIS_VAULT_KEY
};

struct ProviderConfig {
  std::string name;
  std::string kind;  // static | client_credentials | token_exchange | signed_jwt
  SecretRef secret;  // static
  std::string header = "Authorization";  // static: header to inject
  std::string token_url;
  std::string client_id;
  SecretRef client_secret;
  std::string scope;
  std::string resource;
  std::string audience;
  Duration ttl{std::chrono::minutes(5)};
  SecretRef key;  // signed_jwt
  std::string algorithm = "ES256";  // signed_jwt: ES256 | EdDSA
  Duration rotate_every{0};  // 0: no scheduled rotation
};

struct CredentialsConfig {
  std::optional<VaultConfig> vault;
  std::vector<ProviderConfig> providers;
};

struct PolicyConfig {
  std::vector<std::string> files;  // resolved relative to the config file
  bool shadow = false;             // mode: shadow
  std::string pins_file;           // tool pins kept across restarts; empty: in memory only
};

struct AuditConfig {
  std::string dir;  // empty: audit disabled (only allowed with no policy)
  bool fail_open = false;
  SecretRef signing_key;
  std::uint64_t checkpoint_records = 1000;
  Duration checkpoint_interval{std::chrono::seconds(10)};
  std::uint64_t segment_bytes = 64ull * 1024 * 1024;
  Duration segment_age{std::chrono::hours(1)};
  bool preallocate = false;  // zeros kept ahead of the writer (audit/audit_log.h)
  std::size_t queue_limit = 65536;
  // group_commit: { max_delay, max_records } (audit/audit_log.h).
  Duration group_commit_delay{std::chrono::milliseconds(5)};
  std::size_t group_commit_records = 1024;
};

struct AdminToken {
  std::string name;
  std::string sha256_hex;
  std::vector<std::string> roles;  // viewer | operator | approver
};

struct AdminConfig {
  std::optional<Endpoint> listen;
  std::vector<AdminToken> tokens;
  std::string state_file;
  Duration approval_timeout{std::chrono::minutes(5)};
  // While a call is held, its Streamable HTTP answer is an SSE stream that
  // gets a comment (and a progress notification when the request asked for
  // progress) this often, so clients and proxies with shorter timeouts wait.
  // 0: no stream; the answer is one JSON body after the decision.
  Duration approval_keepalive{std::chrono::seconds(15)};
};

// Where the state shared by replicas lives (kill switches, held approvals,
// rate-limit counters, the agent inventory). `file`: this process only
// (admin.state_file). `redis`: shared through one Redis (plain TCP; rediss://
// is refused at load time: the Debian 12 hiredis has no TLS).
struct StateConfig {
  std::string backend = "file";  // file | redis
  std::string url;               // as written, for messages (its password, if any, is not kept here)
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  int db = 0;
  std::string username;          // Redis 6 ACL user (from the URL); empty: default user
  std::string prefix = "portcullis:";
  Duration connect_timeout{std::chrono::seconds(2)};
  Duration command_timeout{std::chrono::milliseconds(500)};
  SecretRef password;            // `password:` (vault:NAME, ${VAR}) or the URL's
  bool redis() const { return backend == "redis"; }
};

struct Config {
  std::string file;      // absolute path of the file it came from
  std::string revision;  // hex SHA-256 of the file's bytes after interpolation
  ServerConfig server;
  std::vector<UpstreamConfig> upstreams;
  IdentityConfig identity;
  std::vector<AgentConfig> agents;
  std::vector<UserConfig> users;
  CredentialsConfig credentials;
  PolicyConfig policy;
  AuditConfig audit;
  AdminConfig admin;
  StateConfig state;

  const UpstreamConfig* upstream_by_path(std::string_view path) const;
  const UpstreamConfig* upstream_by_name(std::string_view name) const;
  const AgentConfig* agent(std::string_view id) const;
  const UserConfig* user(std::string_view sub) const;
};

using ConfigPtr = std::shared_ptr<const Config>;

}  // namespace portcullis::config
