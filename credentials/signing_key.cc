#include "credentials/signing_key.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "credentials/crypto.h"

namespace portcullis::credentials {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string bn_bytes(const BIGNUM* bn, int len) {
  std::string out(static_cast<std::size_t>(len), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len);
  return out;
}

// "{" + s + "}" (spelled out: GCC 12 raises a false -Wrestrict on the operator+ chain).
std::string braced(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '{';
  out += s;
  out += '}';
  return out;
}

}  // namespace

SigningKey::SigningKey(EVP_PKEY* key, Algorithm alg) : key_(key), alg_(alg) {
  thumbprint_ = encoding::base64url_encode(crypto::sha256(braced(jwk_members())));
}

SigningKey::SigningKey(SigningKey&& o) noexcept
    : key_(o.key_), alg_(o.alg_), thumbprint_(std::move(o.thumbprint_)) {
  o.key_ = nullptr;
}

SigningKey& SigningKey::operator=(SigningKey&& o) noexcept {
  if (this != &o) {
    EVP_PKEY_free(key_);
    key_ = o.key_;
    o.key_ = nullptr;
    alg_ = o.alg_;
    thumbprint_ = std::move(o.thumbprint_);
  }
  return *this;
}

SigningKey::~SigningKey() { EVP_PKEY_free(key_); }  // EVP_PKEY_free cleanses private key material

Result<SigningKey::Algorithm> SigningKey::parse_algorithm(std::string_view name) {
  if (name == "ES256") return Algorithm::kES256;
  if (name == "EdDSA" || name == "Ed25519") return Algorithm::kEdDSA;
  return Err("unsupported signing algorithm '" + std::string(name) + "' (use ES256 or EdDSA)");
}

Result<SigningKey> SigningKey::generate(Algorithm alg) {
  EVP_PKEY* key = alg == Algorithm::kES256 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!key) return Err("key generation failed");
  return SigningKey(key, alg);
}

Result<SigningKey> SigningKey::from_pem(const Secret& pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Err("out of memory");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, const_cast<char*>(""));
  if (!key) return Err("not a PEM private key");
  if (EVP_PKEY_is_a(key, "ED25519")) return SigningKey(key, Algorithm::kEdDSA);
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1 &&
        (std::string_view(group) == "prime256v1" || std::string_view(group) == "P-256"))
      return SigningKey(key, Algorithm::kES256);
  }
  EVP_PKEY_free(key);
  return Err("unsupported key type: use an Ed25519 or EC P-256 private key");
}

Result<Secret> SigningKey::to_pem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key_, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Err("cannot serialize the private key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return Secret(std::string_view(data, static_cast<std::size_t>(len)));
}

std::string SigningKey::jwk_members() const {
  if (alg_ == Algorithm::kEdDSA) {
    unsigned char pub[32];
    size_t len = sizeof pub;
    EVP_PKEY_get_raw_public_key(key_, pub, &len);
    return R"("crv":"Ed25519","kty":"OKP","x":")" +
           encoding::base64url_encode(std::string_view(reinterpret_cast<char*>(pub), len)) + "\"";
  }
  BIGNUM *x = nullptr, *y = nullptr;
  EVP_PKEY_get_bn_param(key_, OSSL_PKEY_PARAM_EC_PUB_X, &x);
  EVP_PKEY_get_bn_param(key_, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
  std::string out = R"("crv":"P-256","kty":"EC","x":")" + encoding::base64url_encode(bn_bytes(x, 32)) + R"(","y":")" +
                    encoding::base64url_encode(bn_bytes(y, 32)) + "\"";
  BN_free(x);
  BN_free(y);
  return out;
}

std::string SigningKey::public_jwk() const {
  auto j = nlohmann::json::parse(braced(jwk_members()));
  j["kid"] = thumbprint_;
  j["alg"] = jws_alg();
  j["use"] = "sig";
  return j.dump();
}

Result<std::string> SigningKey::sign(std::string_view data) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  const EVP_MD* md = alg_ == Algorithm::kES256 ? EVP_sha256() : nullptr;  // Ed25519: no prehash
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return Err("signing failed");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return Err("signing failed");
  sig.resize(len);
  if (alg_ == Algorithm::kEdDSA) return sig;
  // ECDSA: DER SEQUENCE{r, s} -> fixed-width r||s.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  if (!es) return Err("signing failed");
  const BIGNUM *r = nullptr, *s = nullptr;
  ECDSA_SIG_get0(es, &r, &s);
  std::string raw = bn_bytes(r, 32) + bn_bytes(s, 32);
  ECDSA_SIG_free(es);
  return raw;
}

Result<std::string> SigningKey::sign_jwt(std::string_view payload_json, std::string_view typ) const {
  nlohmann::json header = {{"alg", jws_alg()}, {"kid", thumbprint_}, {"typ", std::string(typ)}};
  std::string input = encoding::base64url_encode(header.dump()) + "." + encoding::base64url_encode(payload_json);
  auto sig = sign(input);
  if (!sig.ok()) return Err(sig.error());
  return input + "." + encoding::base64url_encode(*sig);
}

}  // namespace portcullis::credentials
