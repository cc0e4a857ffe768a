#include "credentials/secret_resolver.h"

namespace portcullis::credentials {

VaultResult<Secret> SecretResolver::resolve(const config::SecretRef& ref, std::string_view what) const {
  using Kind = config::SecretRef::Kind;
  using Code = VaultError::Code;
  std::string prefix = std::string(what) + ": ";
  switch (ref.kind) {
    case Kind::kNone:
      return Err(VaultError{Code::kNotFound, prefix + "no secret configured"});
    case Kind::kLiteral:
      if (ref.value.empty()) return Err(VaultError{Code::kInvalid, prefix + "the secret is empty"});
      return Secret(ref.value);
    case Kind::kVault: {
      if (!vault_)
        return Err(VaultError{Code::kInvalid, prefix + "refers to vault entry '" + ref.value +
                                                  "' but no credentials.vault is configured"});
      auto s = vault_->get(ref.value);
      if (!s.ok()) {
        if (s.error().code == Code::kNotFound)
          return Err(VaultError{Code::kNotFound, prefix + "vault entry '" + ref.value +
                                                     "' not found (add it with: portcullis vault put " + ref.value +
                                                     ")"});
        return Err(VaultError{s.error().code, prefix + s.error().message});
      }
      return std::move(s.value());
    }
  }
  return Err(VaultError{Code::kInvalid, prefix + "bad secret reference"});
}

}  // namespace portcullis::credentials
