#include "credentials/static_provider.h"

#include <algorithm>
#include <cctype>

namespace portcullis::credentials {

StaticProvider::StaticProvider(const config::ProviderConfig& cfg, const SecretResolver& resolver)
    : name_(cfg.name), header_(cfg.header.empty() ? "Authorization" : cfg.header), ref_(cfg.secret),
      resolver_(resolver) {}

Result<std::unique_ptr<StaticProvider>, CredentialError> StaticProvider::create(const config::ProviderConfig& cfg,
                                                                                const SecretResolver& resolver) {
  std::unique_ptr<StaticProvider> p(new StaticProvider(cfg, resolver));
  auto v = p->load();
  if (!v.ok()) return Err(v.error());
  p->value_ = std::move(v.value());
  return p;
}

Secret StaticProvider::header_value(std::string_view header, const Secret& raw) {
  bool authorization = header.size() == 13 && std::equal(header.begin(), header.end(), "authorization",
                                                          [](char a, char b) { return std::tolower(a) == b; });
  if (authorization && raw.reveal().find(' ') == std::string_view::npos) return Secret::concat("Bearer ", raw.reveal());
  return raw.clone();
}

Result<std::shared_ptr<const Secret>, CredentialError> StaticProvider::load() const {
  auto raw = resolver_.resolve(ref_, "credentials.providers[" + name_ + "].secret");
  if (!raw.ok()) return Err(CredentialError{CredentialError::Code::kConfig, raw.error().message});
  return std::make_shared<const Secret>(header_value(header_, *raw));
}

void StaticProvider::get(const CallIdentity&, Callback done) {
  Credential c;
  c.header = header_;
  c.kind = Credential::Kind::kStatic;
  {
    std::lock_guard lock(mu_);
    c.value = value_;
  }
  ++hits_;
  done(std::move(c));
}

Status StaticProvider::rotate() {
  auto v = load();
  if (!v.ok()) return Err(v.error().message);
  std::lock_guard lock(mu_);
  value_ = std::move(v.value());
  ++rotations_;
  return {};
}

ProviderStats StaticProvider::stats() const {
  ProviderStats s;
  s.cache_hits = hits_;
  s.rotations = rotations_;
  return s;
}

}  // namespace portcullis::credentials
