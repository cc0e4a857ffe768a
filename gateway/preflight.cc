#include "gateway/preflight.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <functional>

#include "audit/signer.h"
#include "common/encoding.h"
#include "credentials/embedded_vault.h"
#include "credentials/secret_resolver.h"
#include "credentials/vault_key.h"
#include "gateway/session_sealer.h"
#include "policy/policy_snapshot.h"

namespace portcullis::gateway {
namespace {

// OpenSSL's reason for the last failure, and the error queue cleared.
std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

struct SslCtx {
  SSL_CTX* ctx;
  explicit SslCtx(const SSL_METHOD* m) : ctx(SSL_CTX_new(m)) {}
  ~SslCtx() { SSL_CTX_free(ctx); }
};

void check_server_tls(const config::TlsServerConfig& tls, std::vector<std::string>& out) {
  SslCtx c(TLS_server_method());
  if (!c.ctx) return out.push_back("server.tls: " + openssl_reason());
  if (SSL_CTX_use_certificate_chain_file(c.ctx, tls.cert_file.c_str()) != 1)
    return out.push_back("server.tls.cert_file: cannot load " + tls.cert_file + ": " + openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(c.ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return out.push_back("server.tls.key_file: cannot load " + tls.key_file + ": " + openssl_reason());
  if (SSL_CTX_check_private_key(c.ctx) != 1)
    out.push_back("server.tls.key_file: does not match the certificate in " + tls.cert_file + ": " + openssl_reason());
}

void check_upstream_ca(const config::UpstreamConfig& up, std::vector<std::string>& out) {
  if (up.scheme != "https" || !up.tls.verify || up.tls.ca_file.empty()) return;
  SslCtx c(TLS_client_method());
  if (!c.ctx || SSL_CTX_load_verify_locations(c.ctx, up.tls.ca_file.c_str(), nullptr) != 1)
    out.push_back("upstreams[" + up.name + "].tls.ca_file: cannot load " + up.tls.ca_file + ": " + openssl_reason());
}

}  // namespace

// 32 bytes as raw bytes, 64 hex digits or base64 (either alphabet, padding
// optional: what the config loader accepts).
bool decode_session_key(const std::string& text, SessionSealer::Key& key) {
  if (text.size() == 64) return encoding::hex_decode_into(text, key.data());
  if (text.size() == 32) {  // raw bytes (e.g. a vault entry made with `generate`)
    std::copy(text.begin(), text.end(), key.begin());
    return true;
  }
  unsigned char out[encoding::base64_decoded_max(44)];
  bool ok = false;
  if (text.size() == 43 || text.size() == 44) {
    auto n = encoding::base64_decode_into(
        text, {encoding::Base64Alphabet::kEither, encoding::Base64Padding::kOptional}, out);
    ok = n && *n == key.size();
    if (ok) std::copy(out, out + key.size(), key.begin());
  }
  OPENSSL_cleanse(out, sizeof out);
  return ok;
}

Result<std::shared_ptr<credentials::EmbeddedVault>> open_vault(const config::Config& cfg) {
  if (!cfg.credentials.vault) return std::shared_ptr<credentials::EmbeddedVault>();
  auto kek = credentials::load_vault_key(*cfg.credentials.vault);
  if (!kek) return Err("credentials.vault: " + kek.error().message);
  auto opened = credentials::EmbeddedVault::open(cfg.credentials.vault->file, std::move(kek.value()));
  if (!opened) return Err("credentials.vault: " + opened.error().message);
  return std::shared_ptr<credentials::EmbeddedVault>(std::move(opened.value()));
}

std::vector<std::string> preflight_secrets_and_files(
    const config::Config& cfg, const Result<std::shared_ptr<credentials::EmbeddedVault>>& vault) {
  std::vector<std::string> out;
  if (!vault) out.push_back(vault.error().message);
  credentials::SecretResolver resolver(vault ? vault->get() : nullptr);
  // Resolves `ref` (when set); on success hands the secret to `check`, which
  // returns a problem or nothing. The secret is wiped when it goes.
  auto secret = [&](const config::SecretRef& ref, const std::string& what,
                    const std::function<std::string(std::string_view)>& check = {}) {
    if (ref.empty()) return;
    if (!vault && ref.kind == config::SecretRef::Kind::kVault) return;  // reported above
    auto s = resolver.resolve(ref, what);
    if (!s) return out.push_back(s.error().message);
    if (check)
      if (std::string why = check(s->reveal()); !why.empty()) out.push_back(what + ": " + why);
  };
  secret(cfg.server.session_key, "server.session_key", [](std::string_view v) {
    SessionSealer::Key key{};
    bool ok = decode_session_key(std::string(v), key);
    OPENSSL_cleanse(key.data(), key.size());
    return ok ? std::string() : std::string("must be 32 bytes (raw, 64 hex digits or base64)");
  });
  if (cfg.identity.introspection)
    secret(cfg.identity.introspection->client_secret, "identity.introspection.client_secret");
  for (const auto& p : cfg.credentials.providers) {
    std::string at = "credentials.providers[" + p.name + "]";
    secret(p.secret, at + ".secret");
    secret(p.client_secret, at + ".client_secret");
    secret(p.key, at + ".key");
  }
  secret(cfg.audit.signing_key, "audit.signing_key", [](std::string_view v) {
    auto s = audit::Signer::from_bytes(v);
    return s ? std::string() : s.error().message;
  });
  secret(cfg.state.password, "state.password");
  if (cfg.server.tls) check_server_tls(*cfg.server.tls, out);
  for (const auto& up : cfg.upstreams) check_upstream_ca(up, out);
  return out;
}

std::vector<std::string> preflight_clearances(const config::Config& cfg, const policy::PolicySnapshot& policy) {
  std::vector<std::string> out;
  std::string levels;
  for (const auto& l : policy.levels) levels += (levels.empty() ? "" : ", ") + l;
  auto check = [&](const std::string& what, const std::string& clearance) {
    if (!clearance.empty() && !policy.level(clearance))
      out.push_back(what + ".clearance: \"" + clearance + "\" is not a sensitivity level of the policy (" + levels +
                    ")");
  };
  for (const auto& a : cfg.agents) check("agents[" + a.id + "]", a.clearance);
  for (const auto& u : cfg.users) check("users[" + u.sub + "]", u.clearance);
  return out;
}

std::string join_problems(const std::vector<std::string>& problems) {
  std::string all;
  for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
  return all;
}

}  // namespace portcullis::gateway
