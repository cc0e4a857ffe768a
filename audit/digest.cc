#include "audit/digest.h"

#include <openssl/evp.h>

#include "common/encoding.h"

namespace portcullis::audit {

Sha256 sha256(std::string_view data) {
  Sha256 out{};
  unsigned int len = 0;
  // EVP_Digest with the default provider; cannot fail for SHA-256 short of
  // allocation failure, which we treat as fatal.
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1) std::abort();
  return out;
}

std::string to_hex(const Sha256& d) {
  return encoding::hex_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

}  // namespace portcullis::audit
