#include "identity/jws.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include <array>
#include <memory>

namespace portcullis::identity {
namespace {

struct AlgInfo {
  Alg alg;
  std::string_view name;
  std::string_view kty;
  std::string_view crv;
};

constexpr std::array<AlgInfo, 9> kAlgs = {{
    {Alg::kRS256, "RS256", "RSA", ""},
    {Alg::kRS384, "RS384", "RSA", ""},
    {Alg::kRS512, "RS512", "RSA", ""},
    {Alg::kPS256, "PS256", "RSA", ""},
    {Alg::kPS384, "PS384", "RSA", ""},
    {Alg::kPS512, "PS512", "RSA", ""},
    {Alg::kES256, "ES256", "EC", "P-256"},
    {Alg::kES384, "ES384", "EC", "P-384"},
    {Alg::kEdDSA, "EdDSA", "OKP", "Ed25519"},
}};

const AlgInfo& info(Alg alg) { return kAlgs[static_cast<std::size_t>(alg)]; }

// Digests are fetched once: an implicit fetch per verification costs a
// lock and a lookup in OpenSSL 3.
const EVP_MD* digest(Alg alg) {
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  static EVP_MD* sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  switch (alg) {
    case Alg::kRS256: case Alg::kPS256: case Alg::kES256: return sha256;
    case Alg::kRS384: case Alg::kPS384: case Alg::kES384: return sha384;
    case Alg::kRS512: case Alg::kPS512: return sha512;
    case Alg::kEdDSA: return nullptr;
  }
  return nullptr;
}

struct BnFree { void operator()(BIGNUM* b) const { BN_free(b); } };
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
struct CtxFree { void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); } };
struct SigFree { void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); } };

// The order n of each curve, computed once.
const BIGNUM* curve_order(int nid) {
  auto make = [](int id) {
    EC_GROUP* g = EC_GROUP_new_by_curve_name(id);
    BIGNUM* n = g ? BN_dup(EC_GROUP_get0_order(g)) : nullptr;
    EC_GROUP_free(g);
    return n;
  };
  static const BIGNUM* p256 = make(NID_X9_62_prime256v1);
  static const BIGNUM* p384 = make(NID_secp384r1);
  return nid == NID_X9_62_prime256v1 ? p256 : p384;
}

// JWS R||S to DER, refusing values outside [1, n-1].
bool ecdsa_raw_to_der(Alg alg, std::string_view raw, std::string& der) {
  const std::size_t half = alg == Alg::kES256 ? 32 : 48;
  if (raw.size() != 2 * half) return false;
  const BIGNUM* n = curve_order(alg == Alg::kES256 ? NID_X9_62_prime256v1 : NID_secp384r1);
  if (n == nullptr) return false;
  auto bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BnPtr r(BN_bin2bn(bytes, static_cast<int>(half), nullptr));
  BnPtr s(BN_bin2bn(bytes + half, static_cast<int>(half), nullptr));
  if (!r || !s) return false;
  if (BN_is_zero(r.get()) || BN_is_zero(s.get())) return false;
  if (BN_cmp(r.get(), n) >= 0 || BN_cmp(s.get(), n) >= 0) return false;
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  if (!sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return false;
  r.release();
  s.release();
  unsigned char* out = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &out);
  if (len <= 0) return false;
  der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
  OPENSSL_free(out);
  return true;
}

bool key_type_matches(Alg alg, EVP_PKEY* key) {
  switch (alg) {
    case Alg::kES256: return EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) == 256;
    case Alg::kES384: return EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) == 384;
    case Alg::kEdDSA: return EVP_PKEY_is_a(key, "ED25519");
    default: return EVP_PKEY_is_a(key, "RSA");
  }
}

}  // namespace

std::optional<Alg> parse_alg(std::string_view name) {
  for (const auto& a : kAlgs)
    if (a.name == name) return a.alg;
  return std::nullopt;
}

std::string_view alg_name(Alg alg) { return info(alg).name; }
std::string_view alg_kty(Alg alg) { return info(alg).kty; }
std::string_view alg_crv(Alg alg) { return info(alg).crv; }

bool verify_signature(Alg alg, EVP_PKEY* key, std::string_view signing_input, std::string_view signature) {
  if (key == nullptr || !key_type_matches(alg, key)) return false;
  std::string der;
  std::string_view sig = signature;
  if (alg == Alg::kES256 || alg == Alg::kES384) {
    if (!ecdsa_raw_to_der(alg, signature, der)) return false;
    sig = der;
  } else if (alg == Alg::kEdDSA) {
    if (signature.size() != 64) return false;
  } else if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key))) {
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, digest(alg), nullptr, key) != 1) return false;
  if (alg == Alg::kPS256 || alg == Alg::kPS384 || alg == Alg::kPS512) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, digest(alg)) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
      return false;
  } else if (alg == Alg::kRS256 || alg == Alg::kRS384 || alg == Alg::kRS512) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
  }
  const int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                  reinterpret_cast<const unsigned char*>(signing_input.data()),
                                  signing_input.size());
  if (rc != 1) ERR_clear_error();  // keep the thread's error queue from growing
  return rc == 1;
}

}  // namespace portcullis::identity
