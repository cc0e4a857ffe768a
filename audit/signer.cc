#include "audit/signer.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/sha256.h"

namespace portcullis::audit {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string raw_public(EVP_PKEY* k) {
  std::string out(32, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(k, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 || len != 32)
    std::abort();
  return out;
}

}  // namespace

struct Signer::Impl {
  PkeyPtr key;
};

Signer::Signer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  public_raw_ = raw_public(impl_->key.get());
  key_id_ = ed25519_key_id(public_raw_);
}

Signer::~Signer() = default;

Result<std::unique_ptr<Signer>> Signer::from_bytes(std::string_view key) {
  PkeyPtr pk;
  if (key.size() == 32) {
    pk.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(key.data()), key.size()));
  } else if (key.find("-----BEGIN") != std::string_view::npos) {
    BioPtr bio(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())));
    pk.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  } else {
    return Err("audit signing key: expected a 32-byte Ed25519 seed or a PEM private key");
  }
  if (!pk) return Err("audit signing key: cannot parse the key");
  if (EVP_PKEY_get_id(pk.get()) != EVP_PKEY_ED25519) return Err("audit signing key: not an Ed25519 key");
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(pk);
  return std::unique_ptr<Signer>(new Signer(std::move(impl)));
}

std::unique_ptr<Signer> Signer::generate() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!k) std::abort();
  auto impl = std::make_unique<Impl>();
  impl->key.reset(k);
  return std::unique_ptr<Signer>(new Signer(std::move(impl)));
}

std::string Signer::sign(std::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
    std::abort();
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

std::string Signer::public_pem() const { return ed25519_public_pem(public_raw_); }

std::string ed25519_key_id(std::string_view public_raw) {
  return "ed25519:" + sha256_hex(public_raw).substr(0, 16);
}

bool ed25519_verify(std::string_view public_raw, std::string_view message, std::string_view signature) {
  if (public_raw.size() != 32 || signature.size() != 64) return false;
  PkeyPtr pk(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                         reinterpret_cast<const unsigned char*>(public_raw.data()), 32));
  if (!pk) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pk.get()) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

Result<std::string> ed25519_public_from_bytes(std::string_view key) {
  if (key.size() == 32) return std::string(key);
  BioPtr bio(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())));
  PkeyPtr pk(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!pk) return Err("cannot parse public key (expected PEM PUBLIC KEY or 32 raw bytes)");
  if (EVP_PKEY_get_id(pk.get()) != EVP_PKEY_ED25519) return Err("public key is not Ed25519");
  return raw_public(pk.get());
}

std::string ed25519_public_pem(std::string_view public_raw) {
  PkeyPtr pk(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                         reinterpret_cast<const unsigned char*>(public_raw.data()),
                                         public_raw.size()));
  if (!pk) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), pk.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace portcullis::audit
