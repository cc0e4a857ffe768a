#include "credentials/vault_key.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"
#include "credentials/atomic_file.h"
#include "credentials/crypto.h"
#include "credentials/encoding.h"

namespace portcullis::credentials {
namespace {

using Code = VaultError::Code;

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

VaultResult<Secret> parse_vault_key(std::string_view text, std::string_view source) {
  if (text.size() == kVaultKeyBytes) return Secret(text);  // raw bytes
  std::string_view t = text;
  while (!t.empty() && is_space(t.back())) t.remove_suffix(1);
  while (!t.empty() && is_space(t.front())) t.remove_prefix(1);
  if (t.size() == 2 * kVaultKeyBytes) {
    if (auto key = hex_decode_secret(t)) return std::move(*key);
  }
  return Err(VaultError{Code::kInvalid, std::string(source) + ": the vault key must be 32 bytes, raw or as 64 hex digits"});
}

VaultResult<Secret> read_vault_key_file(const std::string& path) {
  auto text = read_file_checked(path, 0600);
  if (!text.ok()) {
    const auto& e = text.error();
    Code code = e.code == ReadFileError::Code::kPermissions ? Code::kPermissions
                : e.code == ReadFileError::Code::kNotFound  ? Code::kNotFound
                                                             : Code::kIo;
    return Err(VaultError{code, "vault key file: " + e.message});
  }
  auto key = parse_vault_key(*text, "vault key file " + path);
  wipe(text.value());
  return key;
}

VaultResult<Secret> load_vault_key(const config::VaultConfig& cfg) {
  if (const char* env = std::getenv(kVaultKeyEnv); env != nullptr && *env != '\0')
    return parse_vault_key(env, kVaultKeyEnv);
  if (cfg.key_file.empty())
    return Err(VaultError{Code::kNotFound, std::string("no vault key: set credentials.vault.key_file or ") + kVaultKeyEnv});
  return read_vault_key_file(cfg.key_file);
}

Secret generate_vault_key() { return crypto::random_secret(kVaultKeyBytes); }

VaultResult<void> write_vault_key_file(const std::string& path, const Secret& key) {
  std::string hex = encoding::hex_encode(key.reveal());
  hex += '\n';
  // O_EXCL: never overwrite a key that may be the only way into a vault.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    wipe(hex);
    return Err(VaultError{e == EEXIST ? Code::kExists : Code::kIo,
                          "cannot create vault key file " + path + ": " + std::strerror(e)});
  }
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) &&
            ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  wipe(hex);
  if (!ok) {
    ::unlink(path.c_str());
    return Err(VaultError{Code::kIo, "cannot write vault key file " + path + ": " + std::strerror(e)});
  }
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

std::string vault_key_id(const Secret& key) {
  std::string input = "portcullis-vault-key-id";
  input.append(key.reveal());
  std::string id = encoding::hex_encode(crypto::sha256(input)).substr(0, 16);
  wipe(input);
  return id;
}

}  // namespace portcullis::credentials
