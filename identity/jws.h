// JWS signature algorithms (RFC 7518) that Portcullis accepts, and signature
// verification with OpenSSL 3 EVP. Only asymmetric algorithms exist here:
// `none` and HS* have no Alg value, so no configuration can enable them.
// Thread-safe: functions keep no state beyond immutable fetched digests.
#pragma once

#include <openssl/evp.h>

#include <optional>
#include <string_view>

namespace portcullis::identity {

enum class Alg { kRS256, kRS384, kRS512, kPS256, kPS384, kPS512, kES256, kES384, kEdDSA };

// Exact, case-sensitive JOSE name ("RS256"); nullopt for anything else,
// including "none" in any case and every HS*.
std::optional<Alg> parse_alg(std::string_view name);
std::string_view alg_name(Alg alg);

// The JWK `kty` an algorithm needs: "RSA", "EC" or "OKP".
std::string_view alg_kty(Alg alg);
// The JWK `crv` an algorithm needs ("P-256", "P-384", "Ed25519"); empty for RSA.
std::string_view alg_crv(Alg alg);

// Verifies `signature` (raw JWS bytes: RSA octets, ECDSA R||S, Ed25519) over
// `signing_input` with `key`. The key's type must suit `alg` (the caller
// checks JWK constraints; this re-checks the EVP key type). ECDSA: the
// signature must be exactly 2 * coordinate size and 0 < r, s < n
// (CVE-2022-21449). PS*: MGF1 with the same hash, salt length = hash length.
bool verify_signature(Alg alg, EVP_PKEY* key, std::string_view signing_input, std::string_view signature);

}  // namespace portcullis::identity
