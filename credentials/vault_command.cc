#include "credentials/vault_command.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <iostream>
#include <iterator>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"
#include "credentials/crypto.h"
#include "credentials/embedded_vault.h"
#include "credentials/signing_key.h"
#include "credentials/vault_key.h"

namespace portcullis::credentials {
namespace {

constexpr const char* kUsage =
    "usage: portcullis vault init|list|put NAME|delete NAME|rotate-key|"
    "generate NAME --kind ed25519|p256|random32 [--force] --config FILE\n";

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string format_time(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool key_from_env() {
  const char* env = std::getenv(kVaultKeyEnv);
  return env != nullptr && *env != '\0';
}

void fsync_dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

class Command {
 public:
  Command(const config::VaultConfig& vc, std::istream& in, std::ostream& out, std::ostream& err)
      : vc_(vc), in_(in), out_(out), err_(err) {}

  int fail(const std::string& msg) {
    err_ << "portcullis vault: " << msg << "\n";
    return 1;
  }
  int fail(const VaultError& e) {
    std::string msg = e.message;
    if (e.code == VaultError::Code::kWrongKey && !vc_.key_file.empty() && exists(vc_.key_file + ".new"))
      msg += " (" + vc_.key_file + ".new exists: a rotate-key was interrupted; run `portcullis vault rotate-key` "
             "again to finish it)";
    return fail(msg);
  }

  VaultResult<std::unique_ptr<EmbeddedVault>> open() {
    auto key = load_vault_key(vc_);
    if (!key.ok()) return Err(key.error());
    return EmbeddedVault::open(vc_.file, std::move(key.value()));
  }

  int init() {
    bool have_vault = exists(vc_.file);
    bool env = key_from_env();
    if (!env && vc_.key_file.empty())
      return fail(std::string("no key: set credentials.vault.key_file or ") + kVaultKeyEnv);
    bool have_key = env || exists(vc_.key_file);
    if (have_vault) {
      if (!have_key) return fail("vault file " + vc_.file + " exists but its key file " + vc_.key_file +
                                 " does not; refusing to create a new key that could not open it");
      auto v = open();
      if (!v.ok()) return fail(v.error());
      out_ << "vault " << vc_.file << " already initialized (key id " << (*v)->key_id() << ")\n";
      return 0;
    }
    if (!have_key) {
      Secret key = generate_vault_key();
      if (auto s = write_vault_key_file(vc_.key_file, key); !s) return fail(s.error());
      out_ << "created key file " << vc_.key_file << " (mode 0600, key id " << vault_key_id(key)
           << "); back it up apart from the vault file\n";
    }
    auto key = load_vault_key(vc_);
    if (!key.ok()) return fail(key.error());
    auto v = EmbeddedVault::create(vc_.file, std::move(key.value()));
    if (!v.ok()) return fail(v.error());
    out_ << "created vault " << vc_.file << " (mode 0600, key id " << (*v)->key_id() << ")\n";
    return 0;
  }

  int put(const std::string& name) {
    if (!valid_entry_name(name)) return fail("invalid entry name '" + name + "': use 1-128 of A-Z a-z 0-9 . _ -");
    std::string text((std::istreambuf_iterator<char>(in_)), std::istreambuf_iterator<char>());
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    Secret value = Secret::take(text);
    if (value.empty()) return fail("no secret on stdin; nothing stored");
    auto v = open();
    if (!v.ok()) return fail(v.error());
    auto version = (*v)->put(name, std::move(value));
    if (!version.ok()) return fail(version.error());
    out_ << "stored " << name << " version " << *version << "\n";
    return 0;
  }

  int list() {
    auto v = open();
    if (!v.ok()) return fail(v.error());
    auto entries = (*v)->list();
    if (!entries.ok()) return fail(entries.error());
    std::size_t width = 4;
    for (const auto& e : *entries) width = std::max(width, e.name.size());
    auto pad = [&](const std::string& s) { return s + std::string(width - s.size() + 2, ' '); };
    out_ << pad("NAME") << "VERSION  CREATED\n";
    for (const auto& e : *entries) {
      std::string ver = std::to_string(e.version);
      out_ << pad(e.name) << ver << std::string(ver.size() < 9 ? 9 - ver.size() : 1, ' ') << format_time(e.created)
           << "\n";
    }
    return 0;
  }

  int remove(const std::string& name) {
    auto v = open();
    if (!v.ok()) return fail(v.error());
    if (auto s = (*v)->remove(name); !s) return fail(s.error());
    out_ << "deleted " << name << "\n";
    return 0;
  }

  // Order, so that a crash at any step leaves a key that opens the vault:
  // 1. write the new key to <key_file>.new; 2. rewrap the vault (atomic);
  // 3. rename <key_file> to <key_file>.old; 4. rename .new to <key_file>.
  // A rerun after a crash between 2 and 4 finds .new opening the vault and
  // finishes the renames; a stale .new that does not open it is removed.
  int rotate_key() {
    if (key_from_env())
      return fail(std::string("the vault key comes from ") + kVaultKeyEnv +
                  "; rotate-key writes a key file: unset it and set credentials.vault.key_file");
    if (vc_.key_file.empty()) return fail("credentials.vault.key_file is not set");
    const std::string next = vc_.key_file + ".new", old = vc_.key_file + ".old";
    if (exists(next)) {
      auto next_key = read_vault_key_file(next);
      if (next_key.ok() && EmbeddedVault::open(vc_.file, std::move(next_key.value())).ok()) {
        if (int rc = swap_key_files(); rc != 0) return rc;
        out_ << "finished an interrupted rotate-key: " << vc_.key_file << " now holds the new key\n";
        return 0;
      }
      ::unlink(next.c_str());  // stale: the vault was never rewrapped under it
    }
    auto v = open();
    if (!v.ok()) return fail(v.error());
    std::string old_id = (*v)->key_id();
    Secret key = generate_vault_key();
    std::string new_id = vault_key_id(key);
    if (auto s = write_vault_key_file(next, key); !s) return fail(s.error());
    if (auto s = (*v)->rotate_key(std::move(key)); !s) {
      ::unlink(next.c_str());
      return fail(s.error());
    }
    if (int rc = swap_key_files(); rc != 0) return rc;
    out_ << "vault key rotated: key id " << old_id << " -> " << new_id << "; the previous key is kept in " << old
         << " to open backups made before now: delete it once no backup needs it\n"
         << "reload running gateways (SIGHUP) so they read the new key\n";
    return 0;
  }

  int swap_key_files() {
    const std::string next = vc_.key_file + ".new", old = vc_.key_file + ".old";
    if (exists(vc_.key_file) && ::rename(vc_.key_file.c_str(), old.c_str()) != 0)
      return fail("cannot rename " + vc_.key_file + " to " + old + ": " + std::strerror(errno));
    if (::rename(next.c_str(), vc_.key_file.c_str()) != 0)
      return fail("cannot rename " + next + " to " + vc_.key_file + ": " + std::strerror(errno));
    fsync_dir_of(vc_.key_file);
    return 0;
  }

  int generate(const std::string& name, const std::string& kind, bool force) {
    if (!valid_entry_name(name)) return fail("invalid entry name '" + name + "': use 1-128 of A-Z a-z 0-9 . _ -");
    auto v = open();
    if (!v.ok()) return fail(v.error());
    if (!force && (*v)->get(name).ok()) return fail("vault entry '" + name + "' exists; use --force to replace it");
    Secret value;
    std::string public_jwk;
    if (kind == "random32") {
      Secret raw = crypto::random_secret(32);
      std::string hex = encoding::hex_encode(raw.reveal());
      value = Secret::take(hex);
    } else if (kind == "ed25519" || kind == "p256") {
      auto key = SigningKey::generate(kind == "p256" ? SigningKey::Algorithm::kES256 : SigningKey::Algorithm::kEdDSA);
      if (!key.ok()) return fail(key.error().message);
      auto pem = key->to_pem();
      if (!pem.ok()) return fail(pem.error().message);
      value = std::move(pem.value());
      public_jwk = key->public_jwk();
    } else {
      err_ << kUsage;
      return 2;
    }
    auto version = (*v)->put(name, std::move(value));
    if (!version.ok()) return fail(version.error());
    out_ << "generated " << name << " (" << kind << ") version " << *version << "\n";
    if (!public_jwk.empty()) out_ << "public key (JWK): " << public_jwk << "\n";
    return 0;
  }

 private:
  const config::VaultConfig& vc_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
};

}  // namespace

int vault_command(const std::vector<std::string>& args, const config::Config& cfg, std::istream& in,
                  std::ostream& out, std::ostream& err) {
  // Tolerate the words main() may leave in: "vault" and "--config FILE".
  std::vector<std::string> words;
  bool force = false;
  std::string kind;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i == 0 && args[i] == "vault") continue;
    if (args[i] == "--config" || args[i] == "--kind") {
      if (i + 1 >= args.size()) {
        err << kUsage;
        return 2;
      }
      if (args[i] == "--kind") kind = args[i + 1];
      ++i;
      continue;
    }
    if (args[i].rfind("--config=", 0) == 0) continue;
    if (args[i].rfind("--kind=", 0) == 0) {
      kind = args[i].substr(7);
      continue;
    }
    if (args[i] == "--force") {
      force = true;
      continue;
    }
    words.push_back(args[i]);
  }
  if (words.empty()) {
    err << kUsage;
    return 2;
  }
  if (!cfg.credentials.vault) {
    err << "portcullis vault: no credentials.vault in " << (cfg.file.empty() ? "the config" : cfg.file) << "\n";
    return 1;
  }
  Command c(*cfg.credentials.vault, in, out, err);
  const std::string& verb = words[0];
  if (verb == "init" && words.size() == 1) return c.init();
  if (verb == "list" && words.size() == 1) return c.list();
  if (verb == "put" && words.size() == 2) return c.put(words[1]);
  if (verb == "delete" && words.size() == 2) return c.remove(words[1]);
  if (verb == "rotate-key" && words.size() == 1) return c.rotate_key();
  if (verb == "generate" && words.size() == 2 && !kind.empty()) return c.generate(words[1], kind, force);
  err << kUsage;
  return 2;
}

}  // namespace portcullis::credentials
