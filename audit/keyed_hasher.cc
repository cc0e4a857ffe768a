#include "audit/keyed_hasher.h"

#include <openssl/hmac.h>

#include "audit/digest.h"

namespace portcullis::audit {

Result<std::unique_ptr<KeyedHasher>> KeyedHasher::create(std::string key) {
  if (key.size() < 16) return Err("audit HMAC key: at least 16 bytes required");
  std::string id = to_hex(sha256(key)).substr(0, 8);
  return std::unique_ptr<KeyedHasher>(new KeyedHasher(std::move(key), std::move(id)));
}

std::string KeyedHasher::hash(std::string_view data) const {
  unsigned char mac[32];
  unsigned int len = sizeof mac;
  if (!HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len))
    std::abort();
  return "hmac-sha256:" + key_id_ + ":" + to_hex(std::string_view(reinterpret_cast<char*>(mac), len));
}

}  // namespace portcullis::audit
