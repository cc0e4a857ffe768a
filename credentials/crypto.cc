#include "credentials/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <memory>

#include "common/sha256.h"

namespace portcullis::credentials::crypto {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const unsigned char* u8(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

Secret random_secret(std::size_t n) {
  Secret s = Secret::zeroed(n);
  if (n > 0 && RAND_bytes(s.mutable_data(), static_cast<int>(n)) != 1) std::abort();
  return s;
}

std::string random_bytes(std::size_t n) {
  std::string s(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n)) != 1) std::abort();
  return s;
}

std::string sha256(std::string_view data) {
  auto d = portcullis::sha256(data);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(32, '\0');
  size_t len = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), u8(data), data.size(),
                 reinterpret_cast<unsigned char*>(out.data()), out.size(), &len))
    std::abort();
  return out;
}

Secret hkdf_sha256(const Secret& key, std::string_view info, std::size_t length) {
  Secret out = Secret::zeroed(length);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  if (!ctx) std::abort();
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(key.data()), key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  int rc = EVP_KDF_derive(ctx, out.mutable_data(), length, params);
  EVP_KDF_CTX_free(ctx);
  if (rc != 1) std::abort();
  return out;
}

Result<std::string> aes_gcm_seal(const Secret& key, std::string_view plaintext, std::string_view aad) {
  if (key.size() != kAesKeyBytes) return Err("AES-256-GCM needs a 32-byte key");
  std::string out = random_bytes(kGcmNonceBytes);
  out.resize(kGcmNonceBytes + plaintext.size() + kGcmTagBytes);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  auto* ct = nonce + kGcmNonceBytes;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kGcmNonceBytes, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ct, &len, u8(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ct + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagBytes, ct + plaintext.size()) != 1)
    return Err("AES-256-GCM encryption failed");
  return out;
}

Result<Secret> aes_gcm_open(const Secret& key, std::string_view sealed, std::string_view aad) {
  if (key.size() != kAesKeyBytes) return Err("AES-256-GCM needs a 32-byte key");
  if (sealed.size() < kGcmNonceBytes + kGcmTagBytes) return Err("ciphertext too short");
  const unsigned char* nonce = u8(sealed);
  std::size_t ct_len = sealed.size() - kGcmNonceBytes - kGcmTagBytes;
  const unsigned char* ct = nonce + kGcmNonceBytes;
  std::string tag(sealed.substr(kGcmNonceBytes + ct_len));
  Secret out = Secret::zeroed(ct_len);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0, total = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kGcmNonceBytes, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out.mutable_data(), &len, ct, static_cast<int>(ct_len)) != 1)
    return Err("AES-256-GCM decryption failed");
  total = len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kGcmTagBytes, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out.mutable_data() + total, &len) != 1)
    return Err("authentication failed");  // `out` is wiped by its destructor
  return out;
}

}  // namespace portcullis::credentials::crypto
