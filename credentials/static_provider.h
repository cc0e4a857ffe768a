// StaticProvider (kind: static): a vaulted API key injected into a configured
// header. The raw value goes into the header as is, except that for the
// Authorization header a value without a scheme gets "Bearer " in front.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "config/config.h"
#include "credentials/provider.h"
#include "credentials/secret_resolver.h"

namespace portcullis::credentials {

class StaticProvider final : public Provider {
 public:
  // Resolves cfg.secret now (kConfig error naming the entry when missing).
  // `resolver` is copied; its vault must outlive the provider.
  static Result<std::unique_ptr<StaticProvider>, CredentialError> create(const config::ProviderConfig& cfg,
                                                                         const SecretResolver& resolver);

  const std::string& name() const override { return name_; }
  void get(const CallIdentity& who, Callback done) override;
  void invalidate(const CallIdentity&, const Credential*) override {}  // nothing to refetch
  // Re-reads the secret through the resolver (a vault backend that re-reads
  // its store picks up a new value; the embedded vault changes on reload).
  Status rotate() override;
  void drop_agent(std::string_view) override {}
  ProviderStats stats() const override;

  // The header value for `raw`: "Bearer raw" for Authorization without a
  // scheme, else raw.
  static Secret header_value(std::string_view header, const Secret& raw);

 private:
  StaticProvider(const config::ProviderConfig& cfg, const SecretResolver& resolver);
  Result<std::shared_ptr<const Secret>, CredentialError> load() const;

  const std::string name_;
  const std::string header_;
  const config::SecretRef ref_;
  const SecretResolver resolver_;
  mutable std::mutex mu_;
  std::shared_ptr<const Secret> value_;
  std::atomic<std::uint64_t> hits_{0}, rotations_{0};
};

}  // namespace portcullis::credentials
