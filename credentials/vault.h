// Vault: where Portcullis keeps its secrets (upstream API keys, client
// secrets, signing keys). Providers and SecretResolver see only this
// interface, so a HashiCorp Vault / OpenBao backend can be added without
// touching them. The embedded implementation is EmbeddedVault.
//
// Thread: implementations are safe to call from several threads. Calls may do
// file or network I/O: call them at start-up, reload or from the CLI, not on
// a request's hot path.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "credentials/secret.h"

namespace portcullis::credentials {

// Messages name files, entries and key ids, never secret bytes.
struct VaultError {
  enum class Code {
    kNotFound,     // no entry by that name: the caller reports which config key wanted it
    kExists,       // init: the vault file already exists
    kWrongKey,     // the key-encryption key does not open this vault: check key_file / PORTCULLIS_VAULT_KEY
    kCorrupt,      // the file or an entry failed authentication or parsing: restore from a backup
    kPermissions,  // a key or vault file is accessible by group/others: chmod 600
    kIo,           // open/read/write/fsync/rename failed (errno text included)
    kInvalid,      // bad argument: entry name, empty secret, malformed key
  } code = Code::kIo;
  std::string message;
};

template <class T>
using VaultResult = Result<T, VaultError>;

struct VaultEntryInfo {
  std::string name;
  std::uint64_t version = 0;  // 1 for the first put, +1 on each later put of the same name
  std::chrono::system_clock::time_point created;  // of this version
};

class Vault {
 public:
  virtual ~Vault() = default;
  // The current version of `name`; kNotFound when absent.
  virtual VaultResult<Secret> get(std::string_view name) const = 0;
  // Stores `value` as a new version of `name` (durably, before returning).
  // Returns the new version.
  virtual VaultResult<std::uint64_t> put(std::string_view name, Secret value) = 0;
  // Names, versions and dates, sorted by name. Never values.
  virtual VaultResult<std::vector<VaultEntryInfo>> list() const = 0;
  // kNotFound when absent.
  virtual VaultResult<void> remove(std::string_view name) = 0;
};

// Entry names: 1 to 128 of [A-Za-z0-9._-], starting with a letter or digit.
bool valid_entry_name(std::string_view name);

}  // namespace portcullis::credentials
