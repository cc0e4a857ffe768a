#include "identity/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "common/encoding.h"
#include "identity/strict_json.h"

namespace portcullis::identity {
namespace {

using nlohmann::json;

struct BnFree { void operator()(BIGNUM* b) const { BN_free(b); } };
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
struct BldFree { void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); } };
struct ParamFree { void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); } };
struct PctxFree { void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); } };

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;  // bigger keys make verification a DoS lever

// A required base64url string member.
Result<std::string> member_bytes(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return Err(std::string("missing ") + name);
  auto bytes = encoding::base64_decode(it->get_ref<const std::string&>(),
                                       {encoding::Base64Alphabet::kUrl, encoding::Base64Padding::kOptional});
  if (!bytes || bytes->empty()) return Err(std::string("bad base64url in ") + name);
  return std::move(*bytes);
}

std::string optional_string(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  return it != jwk.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<std::shared_ptr<EVP_PKEY>> from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PctxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    return Err("key rejected by OpenSSL");
  }
  return std::shared_ptr<EVP_PKEY>(pkey, PkeyFree{});
}

Result<std::shared_ptr<EVP_PKEY>> rsa_key(const json& jwk) {
  auto n = member_bytes(jwk, "n");
  if (!n) return Err(n.error());
  auto e = member_bytes(jwk, "e");
  if (!e) return Err(e.error());
  if (e->size() > 8) return Err("RSA exponent too large");
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr));
  if (!bn_n || !bn_e) return Err("bad RSA parameters");
  const int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits) return Err("RSA key shorter than 2048 bits");
  if (bits > kMaxRsaBits) return Err("RSA key longer than 8192 bits");
  if (!BN_is_odd(bn_e.get()) || BN_num_bits(bn_e.get()) < 2) return Err("bad RSA exponent");
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    return Err("out of memory");
  return from_params("RSA", bld.get());
}

Result<std::shared_ptr<EVP_PKEY>> ec_key(const json& jwk, const std::string& crv) {
  const char* group = nullptr;
  std::size_t size = 0;
  if (crv == "P-256") {
    group = "prime256v1";
    size = 32;
  } else if (crv == "P-384") {
    group = "secp384r1";
    size = 48;
  } else {
    return Err("unsupported EC curve");
  }
  auto x = member_bytes(jwk, "x");
  if (!x) return Err(x.error());
  auto y = member_bytes(jwk, "y");
  if (!y) return Err(y.error());
  if (x->size() != size || y->size() != size) return Err("EC coordinate of the wrong length");
  std::string point = "\x04" + *x + *y;
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
    return Err("out of memory");
  auto key = from_params("EC", bld.get());
  if (!key) return key;
  // fromdata decodes the point; the public check also proves it lies on the
  // curve and is not the point at infinity (invalid-curve attacks).
  std::unique_ptr<EVP_PKEY_CTX, PctxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return Err("EC point not on the curve");
  }
  return key;
}

Result<std::shared_ptr<EVP_PKEY>> okp_key(const json& jwk, const std::string& crv) {
  if (crv != "Ed25519") return Err("unsupported OKP curve");
  auto x = member_bytes(jwk, "x");
  if (!x) return Err(x.error());
  if (x->size() != 32) return Err("Ed25519 key of the wrong length");
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr,
                                                  reinterpret_cast<const unsigned char*>(x->data()), x->size());
  if (pkey == nullptr) {
    ERR_clear_error();
    return Err("key rejected by OpenSSL");
  }
  return std::shared_ptr<EVP_PKEY>(pkey, PkeyFree{});
}

}  // namespace

bool Jwk::usable_for(Alg a) const {
  if (kty != alg_kty(a)) return false;
  if (!alg_crv(a).empty() && crv != alg_crv(a)) return false;
  if (!alg.empty() && alg != alg_name(a)) return false;
  return key != nullptr;
}

Result<Jwk> parse_jwk(const json& jwk) {
  if (!jwk.is_object()) return Err("JWK is not an object");
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
    if (jwk.contains(priv)) return Err("JWK carries private or symmetric key material");
  Jwk out;
  out.kty = optional_string(jwk, "kty");
  out.kid = optional_string(jwk, "kid");
  out.alg = optional_string(jwk, "alg");
  out.crv = optional_string(jwk, "crv");
  if (jwk.contains("kid") && !jwk["kid"].is_string()) return Err("kid is not a string");
  if (jwk.contains("alg") && (!jwk["alg"].is_string() || !parse_alg(out.alg))) return Err("JWK alg not supported");
  if (auto it = jwk.find("use"); it != jwk.end() && (!it->is_string() || *it != "sig"))
    return Err("JWK use is not sig");
  if (auto it = jwk.find("key_ops"); it != jwk.end()) {
    bool verify = false;
    if (it->is_array())
      for (const auto& op : *it) verify = verify || (op.is_string() && op == "verify");
    if (!verify) return Err("JWK key_ops lacks verify");
  }
  Result<std::shared_ptr<EVP_PKEY>> key = Err("unsupported kty");
  if (out.kty == "RSA") key = rsa_key(jwk);
  else if (out.kty == "EC") key = ec_key(jwk, out.crv);
  else if (out.kty == "OKP") key = okp_key(jwk, out.crv);
  if (!key) return Err(key.error());
  // The JWK alg, when set, must fit the key type too.
  if (!out.alg.empty() && alg_kty(*parse_alg(out.alg)) != out.kty) return Err("JWK alg does not fit its kty");
  if (!out.alg.empty() && !alg_crv(*parse_alg(out.alg)).empty() && alg_crv(*parse_alg(out.alg)) != out.crv)
    return Err("JWK alg does not fit its curve");
  out.key = std::move(*key);
  return out;
}

Result<JwkSet> parse_jwks(std::string_view document, std::size_t max_keys) {
  auto doc = parse_strict_json(document);
  if (!doc || !doc->is_object()) return Err("JWKS is not a JSON object");
  auto it = doc->find("keys");
  if (it == doc->end() || !it->is_array()) return Err("JWKS has no keys array");
  JwkSet set;
  for (const auto& k : *it) {
    if (set.keys.size() >= max_keys) {
      ++set.skipped;
      continue;
    }
    auto jwk = parse_jwk(k);
    if (jwk) set.keys.push_back(std::move(*jwk));
    else ++set.skipped;
  }
  return set;
}

}  // namespace portcullis::identity
