#include "credentials/embedded_vault.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include "common/encoding.h"
#include "credentials/crypto.h"
#include "credentials/vault_key.h"

namespace portcullis::credentials {
namespace {

// The vault writes padded standard base64; a hand-edited file may use either
// alphabet, with or without padding.
constexpr encoding::Base64Rules kVaultBase64{encoding::Base64Alphabet::kEither, encoding::Base64Padding::kOptional};

using json = nlohmann::json;
using Code = VaultError::Code;
using Entries = EmbeddedVault::Entries;

constexpr const char* kFormat = "portcullis-vault-1";

VaultError error(Code code, std::string message) { return VaultError{code, std::move(message)}; }

// Associated data binding a seal to its slot: purpose, name and version.
std::string aad(std::string_view purpose, std::string_view name, std::uint64_t version) {
  std::string a = kFormat;
  a += '\0';
  a += purpose;
  a += '\0';
  a += name;
  a += '\0';
  a += std::to_string(version);
  return a;
}

Secret mac_key(const Secret& kek) { return crypto::hkdf_sha256(kek, "portcullis-vault-1 index mac", 32); }

std::string index_mac(const Secret& kek, const std::string& key_id, const Entries& entries) {
  std::string input = std::string(kFormat) + "\n" + key_id + "\n";
  for (const auto& [name, e] : entries) {
    input += name + "\n" + std::to_string(e.version) + "\n" + std::to_string(e.created) + "\n" +
             (e.deleted ? "deleted" : "live") + "\n";
  }
  Secret key = mac_key(kek);
  return encoding::hex_encode(crypto::hmac_sha256(key.reveal(), input));
}

bool has_exactly(const json& obj, std::initializer_list<const char*> keys) {
  if (!obj.is_object() || obj.size() != keys.size()) return false;
  for (const char* k : keys)
    if (!obj.contains(k)) return false;
  return true;
}

// Parses and authenticates a vault file's text. Data seals are checked on get().
VaultResult<Entries> parse(const std::string& file, const std::string& text, const Secret& kek) {
  auto corrupt = [&](const std::string& why) {
    return Err(error(Code::kCorrupt, "vault file " + file + " is corrupt (" + why + "); restore it from a backup"));
  };
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return corrupt("not valid JSON");
  if (!has_exactly(doc, {"format", "key_id", "entries", "mac"})) return corrupt("unexpected top-level keys");
  if (!doc["format"].is_string() || doc["format"] != kFormat) return corrupt("unknown format");
  if (!doc["key_id"].is_string() || !doc["mac"].is_string() || !doc["entries"].is_array())
    return corrupt("bad field types");
  Entries entries;
  for (const auto& j : doc["entries"]) {
    bool deleted = j.is_object() && j.contains("deleted");
    if (deleted ? !has_exactly(j, {"name", "version", "created", "deleted"})
                : !has_exactly(j, {"name", "version", "created", "key", "data"}))
      return corrupt("bad entry");
    if (!j["name"].is_string() || !j["version"].is_number_unsigned() || !j["created"].is_number_integer())
      return corrupt("bad entry");
    std::string name = j["name"];
    if (!valid_entry_name(name) || entries.count(name)) return corrupt("bad or duplicate entry name");
    EmbeddedVault::Entry e;
    e.version = j["version"];
    e.created = j["created"];
    if (e.version == 0) return corrupt("bad entry version");
    if (deleted) {
      if (j["deleted"] != true) return corrupt("bad entry");
      e.deleted = true;
    } else {
      if (!j["key"].is_string() || !j["data"].is_string()) return corrupt("bad entry");
      auto k = encoding::base64_decode(j["key"].get<std::string>(), kVaultBase64);
      auto d = encoding::base64_decode(j["data"].get<std::string>(), kVaultBase64);
      if (!k || !d) return corrupt("bad base64 in entry " + name);
      e.wrapped_key = std::move(*k);
      e.data = std::move(*d);
    }
    entries.emplace(std::move(name), std::move(e));
  }
  std::string file_key_id = doc["key_id"];
  std::string our_key_id = vault_key_id(kek);
  if (file_key_id != our_key_id)
    return Err(error(Code::kWrongKey, "wrong vault key: " + file + " was sealed with key id " + file_key_id +
                                          ", the key given has id " + our_key_id));
  std::string expected = index_mac(kek, our_key_id, entries);
  const std::string& got = doc["mac"].get_ref<const std::string&>();
  if (got.size() != expected.size() || CRYPTO_memcmp(got.data(), expected.data(), got.size()) != 0)
    return corrupt("index authentication failed: entries were edited, added or removed");
  return entries;
}

std::string serialize(const Secret& kek, const Entries& entries) {
  json doc;
  doc["format"] = kFormat;
  std::string key_id = vault_key_id(kek);
  doc["key_id"] = key_id;
  json list = json::array();
  for (const auto& [name, e] : entries) {
    json j;
    j["name"] = name;
    j["version"] = e.version;
    j["created"] = e.created;
    if (e.deleted) {
      j["deleted"] = true;
    } else {
      j["key"] = encoding::base64_encode(e.wrapped_key);
      j["data"] = encoding::base64_encode(e.data);
    }
    list.push_back(std::move(j));
  }
  doc["entries"] = std::move(list);
  doc["mac"] = index_mac(kek, key_id, entries);
  return doc.dump(2) + "\n";
}

VaultResult<std::string> read_vault_file(const std::string& file) {
  auto text = read_file_checked(file, 0600);
  if (!text.ok()) {
    const auto& e = text.error();
    Code code = e.code == ReadFileError::Code::kPermissions ? Code::kPermissions
                : e.code == ReadFileError::Code::kNotFound  ? Code::kNotFound
                                                             : Code::kIo;
    return Err(error(code, "vault file: " + e.message));
  }
  return std::move(text.value());
}

// An exclusive flock on <file>.lock for the duration of a write.
class FileLock {
 public:
  static VaultResult<std::unique_ptr<FileLock>> acquire(const std::string& file) {
    std::string path = file + ".lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Err(error(Code::kIo, "cannot open lock file " + path + ": " + std::strerror(errno)));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Err(error(Code::kIo, "cannot lock " + path + ": " + std::strerror(e)));
    }
    return std::unique_ptr<FileLock>(new FileLock(fd));
  }
  ~FileLock() { ::close(fd_); }  // closing releases the flock

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

bool valid_entry_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

EmbeddedVault::EmbeddedVault(std::string file, Secret kek, EmbeddedVaultOptions options)
    : file_(std::move(file)), options_(std::move(options)), kek_(std::move(kek)) {}

VaultResult<std::unique_ptr<EmbeddedVault>> EmbeddedVault::create(std::string file, Secret kek,
                                                                  EmbeddedVaultOptions options) {
  if (kek.size() != kVaultKeyBytes) return Err(error(Code::kInvalid, "the vault key must be 32 bytes"));
  auto lock = FileLock::acquire(file);
  if (!lock.ok()) return Err(lock.error());
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0)
    return Err(error(Code::kExists, "vault file " + file + " already exists"));
  std::string text = serialize(kek, {});
  if (auto s = write_file_atomic(file, text, 0600, options.fault); !s)
    return Err(error(Code::kIo, s.error().message));
  return std::unique_ptr<EmbeddedVault>(new EmbeddedVault(std::move(file), std::move(kek), std::move(options)));
}

VaultResult<std::unique_ptr<EmbeddedVault>> EmbeddedVault::open(std::string file, Secret kek,
                                                                EmbeddedVaultOptions options) {
  if (kek.size() != kVaultKeyBytes) return Err(error(Code::kInvalid, "the vault key must be 32 bytes"));
  auto text = read_vault_file(file);
  if (!text.ok()) return Err(text.error());
  auto entries = parse(file, *text, kek);
  if (!entries.ok()) return Err(entries.error());
  std::unique_ptr<EmbeddedVault> v(new EmbeddedVault(std::move(file), std::move(kek), std::move(options)));
  v->entries_ = std::move(entries.value());
  return v;
}

std::string EmbeddedVault::key_id() const {
  std::lock_guard lock(mu_);
  return vault_key_id(kek_);
}

VaultResult<Secret> EmbeddedVault::get(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.deleted)
    return Err(error(Code::kNotFound, "vault entry '" + std::string(name) + "' not found in " + file_));
  const Entry& e = it->second;
  auto failed = [&] {
    return Err(error(Code::kCorrupt, "vault entry '" + std::string(name) + "' (version " + std::to_string(e.version) +
                                         ") failed authentication: the file was modified, or entries were swapped "
                                         "or rolled back; restore it from a backup"));
  };
  auto dek = crypto::aes_gcm_open(kek_, e.wrapped_key, aad("data-key", name, e.version));
  if (!dek.ok()) return failed();
  auto value = crypto::aes_gcm_open(*dek, e.data, aad("secret", name, e.version));
  if (!value.ok()) return failed();
  return std::move(value.value());
}

VaultResult<std::vector<VaultEntryInfo>> EmbeddedVault::list() const {
  std::lock_guard lock(mu_);
  std::vector<VaultEntryInfo> out;
  for (const auto& [name, e] : entries_) {
    if (e.deleted) continue;
    out.push_back({name, e.version, std::chrono::system_clock::time_point(std::chrono::seconds(e.created))});
  }
  return out;
}

VaultResult<void> EmbeddedVault::mutate(const std::function<VaultResult<void>(Entries&, const Secret&)>& change,
                                        Secret* new_kek) {
  std::lock_guard lock(mu_);
  auto flock = FileLock::acquire(file_);
  if (!flock.ok()) return Err(flock.error());
  // Re-read: another process (the CLI, another gateway) may have written.
  auto text = read_vault_file(file_);
  if (!text.ok()) return Err(text.error());
  auto entries = parse(file_, *text, kek_);
  if (!entries.ok()) return Err(entries.error());
  if (auto s = change(*entries, kek_); !s) return s;
  const Secret& seal_with = new_kek ? *new_kek : kek_;
  std::string out = serialize(seal_with, *entries);
  if (auto s = write_file_atomic(file_, out, 0600, options_.fault); !s)
    return Err(error(Code::kIo, s.error().message));
  entries_ = std::move(entries.value());
  if (new_kek) kek_ = std::move(*new_kek);
  return {};
}

VaultResult<std::uint64_t> EmbeddedVault::put(std::string_view name, Secret value) {
  if (!valid_entry_name(name))
    return Err(error(Code::kInvalid, "invalid vault entry name '" + std::string(name) +
                                         "': use 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit"));
  if (value.empty()) return Err(error(Code::kInvalid, "refusing to store an empty secret as '" + std::string(name) + "'"));
  std::uint64_t version = 0;
  std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(options_.now().time_since_epoch()).count();
  auto s = mutate([&](Entries& entries, const Secret& kek) -> VaultResult<void> {
    Entry& e = entries[std::string(name)];
    version = e.version + 1;
    Secret dek = crypto::random_secret(crypto::kAesKeyBytes);
    auto wrapped = crypto::aes_gcm_seal(kek, dek.reveal(), aad("data-key", name, version));
    auto data = crypto::aes_gcm_seal(dek, value.reveal(), aad("secret", name, version));
    if (!wrapped.ok() || !data.ok()) return Err(error(Code::kIo, "encryption failed"));
    e.version = version;
    e.created = now;
    e.deleted = false;
    e.wrapped_key = std::move(*wrapped);
    e.data = std::move(*data);
    return {};
  });
  if (!s) return Err(s.error());
  return version;
}

VaultResult<void> EmbeddedVault::remove(std::string_view name) {
  std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(options_.now().time_since_epoch()).count();
  return mutate([&](Entries& entries, const Secret&) -> VaultResult<void> {
    auto it = entries.find(name);
    if (it == entries.end() || it->second.deleted)
      return Err(error(Code::kNotFound, "vault entry '" + std::string(name) + "' not found in " + file_));
    // Keep a tombstone so a later put continues the version sequence.
    Entry& e = it->second;
    e.deleted = true;
    e.created = now;
    e.wrapped_key.clear();
    e.data.clear();
    return {};
  });
}

VaultResult<void> EmbeddedVault::rotate_key(Secret new_kek) {
  if (new_kek.size() != kVaultKeyBytes) return Err(error(Code::kInvalid, "the vault key must be 32 bytes"));
  auto s = mutate(
      [&](Entries& entries, const Secret& kek) -> VaultResult<void> {
        for (auto& [name, e] : entries) {
          if (e.deleted) continue;
          auto dek = crypto::aes_gcm_open(kek, e.wrapped_key, aad("data-key", name, e.version));
          if (!dek.ok())
            return Err(error(Code::kCorrupt, "vault entry '" + name + "' failed authentication; key not rotated"));
          auto wrapped = crypto::aes_gcm_seal(new_kek, dek->reveal(), aad("data-key", name, e.version));
          if (!wrapped.ok()) return Err(error(Code::kIo, "encryption failed"));
          e.wrapped_key = std::move(*wrapped);
        }
        return {};
      },
      &new_kek);
  return s;
}

}  // namespace portcullis::credentials
