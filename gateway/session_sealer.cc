#include "gateway/session_sealer.h"

#include "gateway/length_prefixed.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>
#include <memory>
#include <stdexcept>

#include "common/encoding.h"

namespace portcullis::gateway {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
namespace {

constexpr std::string_view kAad = "portcullis-session-v1";
constexpr std::size_t kNonce = 12, kTag = 16;
constexpr std::size_t kMaxId = 2048;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

using length_prefixed::get;
using length_prefixed::put;

}  // namespace

SessionSealer::SessionSealer(const Key& key) : key_(key) {}
SessionSealer::~SessionSealer() { OPENSSL_cleanse(key_.data(), key_.size()); }

SessionSealer::Key SessionSealer::random_key() {
  Key k;
  if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return k;
}

std::string SessionSealer::seal(const SessionClaims& c) const {
  std::string plain;
  put(plain, c.upstream);
  put(plain, c.upstream_session);
  put(plain, c.principal);
  put(plain, c.protocol_version);
  put(plain, std::to_string(c.issued_at));
  std::string id = seal_bytes(plain, kAad);
  OPENSSL_cleanse(plain.data(), plain.size());
  return id;
}

std::string SessionSealer::seal_bytes(std::string_view plain, std::string_view purpose) const {
  std::string out(kNonce + plain.size() + kTag, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(o, kNonce) != 1) throw std::runtime_error("RAND_bytes failed");
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), o) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(purpose.data()),
                        static_cast<int>(purpose.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o + kNonce, &len,
                        reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + kNonce + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, o + kNonce + plain.size()) != 1)
    throw std::runtime_error("AES-GCM seal failed");
  return encoding::base64url_encode(out);
}

Result<std::string, SessionError> SessionSealer::open_bytes(std::string_view id, std::string_view purpose) const {
  if (id.empty() || id.size() > kMaxId) return Err(SessionError::kMalformed);
  auto decoded = encoding::base64_decode(id, {encoding::Base64Alphabet::kUrl, encoding::Base64Padding::kForbidden});
  if (!decoded || decoded->size() < kNonce + kTag) return Err(SessionError::kMalformed);
  const std::string& raw = *decoded;
  const auto* r = reinterpret_cast<const unsigned char*>(raw.data());
  std::size_t ct_len = raw.size() - kNonce - kTag;
  std::string plain(ct_len, '\0');
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), r) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(purpose.data()),
                              static_cast<int>(purpose.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                              r + kNonce, static_cast<int>(ct_len)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag,
                                const_cast<unsigned char*>(r + kNonce + ct_len)) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len,
                                &len) == 1;
  if (!ok) return Err(SessionError::kForged);
  return plain;
}

Result<SessionClaims, SessionError> SessionSealer::open(std::string_view id,
                                                        std::chrono::seconds max_age,
                                                        std::int64_t now) const {
  auto opened = open_bytes(id, kAad);
  if (!opened) return Err(opened.error());
  const std::string& plain = opened.value();
  SessionClaims c;
  std::string issued;
  std::string_view in(plain);
  if (!get(in, c.upstream) || !get(in, c.upstream_session) || !get(in, c.principal) ||
      !get(in, c.protocol_version) || !get(in, issued) || !in.empty())
    return Err(SessionError::kMalformed);
  try {
    c.issued_at = std::stoll(issued);
  } catch (...) {
    return Err(SessionError::kMalformed);
  }
  if (now - c.issued_at > max_age.count() || c.issued_at > now + 300) return Err(SessionError::kExpired);
  return c;
}

}  // namespace portcullis::gateway
