#include "common/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "common/encoding.h"

namespace portcullis {

Sha256Digest sha256(std::string_view data) {
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the digest up in its
  // provider on every call (a lock and ~0.3 us). One context per thread.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Ctx ctx;
  Sha256Digest out{};
  unsigned int len = 0;
  if (md == nullptr || ctx.ctx == nullptr || EVP_DigestInit_ex2(ctx.ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.ctx, data.data(), data.size()) != 1 || EVP_DigestFinal_ex(ctx.ctx, out.data(), &len) != 1 ||
      len != out.size())
    std::abort();
  return out;
}

std::string sha256_hex(std::string_view data) {
  auto d = sha256(data);
  return encoding::hex_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

}  // namespace portcullis
