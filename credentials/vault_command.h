// `portcullis vault ...`: the operator's commands for the embedded vault named
// in the config (credentials.vault). main() parses --config, loads the Config
// and calls vault_command with the remaining words.
//
//   vault init                 creates the key file (mode 0600, unless the key
//                              comes from PORTCULLIS_VAULT_KEY) and the vault
//                              file when missing
//   vault put NAME             stores stdin (one trailing newline stripped) as NAME
//   vault list                 names, versions, dates; never values
//   vault delete NAME
//   vault rotate-key           new key file; vault data keys rewrapped; the
//                              previous key kept as <key_file>.old
//   vault generate NAME --kind ed25519|p256|random32 [--force]
//                              stores a new private key (PKCS#8 PEM) or 32
//                              random bytes (64 hex digits); prints the public
//                              JWK for key pairs
//
// Nothing printed ever contains a secret. Returns the process exit code:
// 0 success, 1 failure (message on `err`), 2 usage error.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "config/config.h"

namespace portcullis::credentials {

int vault_command(const std::vector<std::string>& args, const config::Config& cfg, std::istream& in,
                  std::ostream& out, std::ostream& err);

}  // namespace portcullis::credentials
