// EmbeddedVault: the vault in one local JSON file (format in credentials/README.md).
//
// Envelope encryption: each secret version is sealed with its own random
// 256-bit data key (AES-256-GCM, random 96-bit nonce); the data key is sealed
// with the key-encryption key (KEK, see vault_key.h), also AES-256-GCM. Both
// seals bind "name, version" as associated data, so a ciphertext moved to
// another entry or replaced by an older version of the same entry fails to
// open. An HMAC (key derived from the KEK) over the index of names, versions,
// dates and deletions detects edited metadata and removed entries. The KEK's
// public id is stored so a wrong key gets a clear error.
//
// Not detected: replacing the whole file by an older copy (that needs state
// outside the file). Keep the vault file's directory writable only by the
// gateway's user.
//
// Writes take an exclusive flock on `<file>.lock`, re-read the file, apply the
// change and replace the file atomically (temp file, fsync, rename, fsync
// dir), so the CLI and a running gateway never lose each other's writes.
// The file must be mode 0600 or stricter.
//
// Thread: all methods are safe to call concurrently. get() and list() work on
// the state loaded by open() or the last write through this object; reopen to
// see other processes' writes (the gateway does, on reload).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "credentials/atomic_file.h"
#include "credentials/vault.h"

namespace portcullis::credentials {

struct EmbeddedVaultOptions {
  // Clock for the `created` dates (tests).
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
  WriteFaultHook fault;  // tests: simulate a crash or a full disk mid-write
};

class EmbeddedVault : public Vault {
 public:
  // Creates an empty vault at `file`; kExists when the file exists.
  static VaultResult<std::unique_ptr<EmbeddedVault>> create(std::string file, Secret kek,
                                                            EmbeddedVaultOptions options = {});
  // Opens and authenticates `file`. kWrongKey when `kek` is not the key it was
  // sealed with; kCorrupt when it fails authentication or parsing;
  // kPermissions when its mode is looser than 0600.
  static VaultResult<std::unique_ptr<EmbeddedVault>> open(std::string file, Secret kek,
                                                          EmbeddedVaultOptions options = {});

  VaultResult<Secret> get(std::string_view name) const override;
  VaultResult<std::uint64_t> put(std::string_view name, Secret value) override;
  VaultResult<std::vector<VaultEntryInfo>> list() const override;
  VaultResult<void> remove(std::string_view name) override;

  // Re-seals every data key under `new_kek` (secrets are not re-encrypted)
  // and replaces the file atomically. Afterwards only `new_kek` opens it.
  VaultResult<void> rotate_key(Secret new_kek);

  const std::string& file() const { return file_; }
  std::string key_id() const;

  struct Entry {
    std::uint64_t version = 0;
    std::int64_t created = 0;  // unix seconds
    bool deleted = false;      // tombstone: keeps the version counter monotonic
    std::string wrapped_key;   // sealed data key (binary)
    std::string data;          // sealed secret (binary)
  };
  using Entries = std::map<std::string, Entry, std::less<>>;

 private:
  EmbeddedVault(std::string file, Secret kek, EmbeddedVaultOptions options);
  // Re-reads the file under the lock, applies `change` to a copy of the
  // entries, writes, then adopts the result.
  VaultResult<void> mutate(const std::function<VaultResult<void>(Entries&, const Secret& kek)>& change,
                           Secret* new_kek = nullptr);

  const std::string file_;
  const EmbeddedVaultOptions options_;
  mutable std::mutex mu_;
  Secret kek_;
  Entries entries_;
};

}  // namespace portcullis::credentials
