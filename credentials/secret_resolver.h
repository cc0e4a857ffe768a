// SecretResolver: turns a config::SecretRef (a literal, or `vault:NAME`) into
// a Secret. Used at start-up and reload by every module that holds a secret
// from the config (providers, session key, audit signing key, introspection).
//
// Lifetime: borrows `vault` (may be null when the config has no vault); the
// vault must outlive the resolver. Thread: as safe as the vault.
#pragma once

#include <string_view>

#include "config/config.h"
#include "credentials/vault.h"

namespace portcullis::credentials {

class SecretResolver {
 public:
  explicit SecretResolver(const Vault* vault) : vault_(vault) {}

  // `what` names the config key for errors, e.g. "credentials.providers[crm].client_secret".
  // Errors: kNotFound "what: vault entry 'NAME' not found" (also when the ref
  // is empty: "what: no secret configured"), kInvalid when the ref is
  // `vault:` but no vault is configured; other vault errors prefixed by `what`.
  VaultResult<Secret> resolve(const config::SecretRef& ref, std::string_view what) const;

  const Vault* vault() const { return vault_; }

 private:
  const Vault* vault_;
};

}  // namespace portcullis::credentials
