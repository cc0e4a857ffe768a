// The vault's key-encryption key (KEK): 32 random bytes from a key file (raw
// or hex, mode 0600 or stricter) or from PORTCULLIS_VAULT_KEY (hex).
#pragma once

#include <string>

#include "config/config.h"
#include "credentials/vault.h"

namespace portcullis::credentials {

inline constexpr std::size_t kVaultKeyBytes = 32;
inline constexpr const char* kVaultKeyEnv = "PORTCULLIS_VAULT_KEY";

// PORTCULLIS_VAULT_KEY when set (it wins over key_file, so a deployment can
// inject the key without a file), else cfg.key_file. kPermissions when the
// key file is accessible by group or others; kInvalid when the key is not 32
// bytes raw or 64 hex digits; kNotFound when neither source exists.
VaultResult<Secret> load_vault_key(const config::VaultConfig& cfg);
VaultResult<Secret> read_vault_key_file(const std::string& path);
VaultResult<Secret> parse_vault_key(std::string_view text, std::string_view source);

Secret generate_vault_key();
// Creates `path` (it must not exist) with mode 0600, holding the key as hex
// and a newline; fsyncs file and directory.
VaultResult<void> write_vault_key_file(const std::string& path, const Secret& key);

// A public fingerprint of a key: the first 16 hex digits of
// SHA-256("portcullis-vault-key-id" || key). Stored in the vault file so a
// wrong key gets a clear error instead of "decryption failed".
std::string vault_key_id(const Secret& key);

}  // namespace portcullis::credentials
