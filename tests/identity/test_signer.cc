#include "tests/identity/test_signer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <stdexcept>

#include "common/encoding.h"

namespace portcullis::identity::testing {
namespace {

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* k) {
  if (k == nullptr) throw std::runtime_error("keygen failed");
  return {k, EVP_PKEY_free};
}

std::string bn_bytes(const BIGNUM* bn, int width = 0) {
  std::string out(width ? width : BN_num_bytes(bn), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  return out;
}

std::string bn_param(EVP_PKEY* k, const char* name, int width = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) throw std::runtime_error("no param");
  std::string out = bn_bytes(bn, width);
  BN_free(bn);
  return out;
}

const EVP_MD* md_for(std::string_view alg) {
  if (alg.substr(2) == "384") return EVP_sha384();
  if (alg.substr(2) == "512") return EVP_sha512();
  return EVP_sha256();
}

}  // namespace

TestKey make_rsa(int bits) { return {own(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits))), "RSA"}; }
TestKey make_ec(const std::string& curve) {
  return {own(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve == "P-256" ? "P-256" : "P-384")), curve};
}
TestKey make_ed25519() { return {own(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")), "Ed25519"}; }

const TestKey& rsa_key() { static TestKey k = make_rsa(); return k; }
const TestKey& rsa_key2() { static TestKey k = make_rsa(); return k; }
const TestKey& p256_key() { static TestKey k = make_ec("P-256"); return k; }
const TestKey& p384_key() { static TestKey k = make_ec("P-384"); return k; }
const TestKey& ed25519_key() { static TestKey k = make_ed25519(); return k; }

std::string b64(std::string_view bytes) { return encoding::base64url_encode(bytes); }

nlohmann::json public_jwk(const TestKey& key, const std::string& kid, const std::string& alg, const std::string& use) {
  nlohmann::json j;
  EVP_PKEY* k = key.pkey.get();
  if (key.kind == "RSA") {
    j = {{"kty", "RSA"}, {"n", b64(bn_param(k, OSSL_PKEY_PARAM_RSA_N))}, {"e", b64(bn_param(k, OSSL_PKEY_PARAM_RSA_E))}};
  } else if (key.kind == "Ed25519") {
    std::string x(32, '\0');
    size_t len = x.size();
    EVP_PKEY_get_raw_public_key(k, reinterpret_cast<unsigned char*>(x.data()), &len);
    j = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", b64(x)}};
  } else {
    const int w = key.kind == "P-256" ? 32 : 48;
    j = {{"kty", "EC"}, {"crv", key.kind}, {"x", b64(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, w))},
         {"y", b64(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, w))}};
  }
  if (!kid.empty()) j["kid"] = kid;
  if (!alg.empty()) j["alg"] = alg;
  if (!use.empty()) j["use"] = use;
  return j;
}

std::string hmac_sha256(std::string_view secret, std::string_view input) {
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string sign_bytes(const TestKey& key, std::string_view alg, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  const bool ed = alg == "EdDSA";
  if (EVP_DigestSignInit(ctx, &pctx, ed ? nullptr : md_for(alg), nullptr, key.pkey.get()) != 1)
    throw std::runtime_error("sign init");
  if (alg.substr(0, 2) == "PS") {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    throw std::runtime_error("sign");
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg.substr(0, 2) == "ES") {  // DER -> R||S
    const int w = alg == "ES256" ? 32 : 48;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw = bn_bytes(ECDSA_SIG_get0_r(es), w) + bn_bytes(ECDSA_SIG_get0_s(es), w);
    ECDSA_SIG_free(es);
    return raw;
  }
  return sig;
}

std::string sign_raw(const TestKey& key, std::string_view alg, std::string_view header_json,
                     std::string_view payload_json) {
  std::string input = b64(header_json) + "." + b64(payload_json);
  return input + "." + b64(sign_bytes(key, alg, input));
}

std::string sign_jwt(const TestKey& key, std::string_view alg, const std::string& kid, nlohmann::json claims,
                     nlohmann::json header) {
  if (!header.contains("alg")) header["alg"] = std::string(alg);
  if (!kid.empty() && !header.contains("kid")) header["kid"] = kid;
  return sign_raw(key, alg, header.dump(), claims.dump());
}

}  // namespace portcullis::identity::testing
