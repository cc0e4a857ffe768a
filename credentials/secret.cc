#include "credentials/secret.h"

#include <openssl/crypto.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstring>

namespace portcullis::credentials {

Secret::Secret(std::string_view bytes) : size_(bytes.size()) {
  // Always allocate (even for 0 bytes) so data() is never null.
  data_ = std::make_unique<unsigned char[]>(size_ == 0 ? 1 : size_);
  if (size_ > 0) std::memcpy(data_.get(), bytes.data(), size_);
}

Secret Secret::zeroed(std::size_t size) {
  Secret s;
  s.data_ = std::make_unique<unsigned char[]>(size == 0 ? 1 : size);  // value-initialized: zeros
  s.size_ = size;
  return s;
}

Secret Secret::take(std::string& s) {
  Secret out(s);
  wipe(s);
  return out;
}

Secret Secret::concat(std::string_view prefix, std::string_view body) {
  Secret s = zeroed(prefix.size() + body.size());
  if (!prefix.empty()) std::memcpy(s.data_.get(), prefix.data(), prefix.size());
  if (!body.empty()) std::memcpy(s.data_.get() + prefix.size(), body.data(), body.size());
  return s;
}

Secret::Secret(Secret&& other) noexcept : data_(std::move(other.data_)), size_(other.size_) {
  other.size_ = 0;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    clear();
    data_ = std::move(other.data_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

Secret::~Secret() { clear(); }

void Secret::clear() {
  if (data_ && size_ > 0) OPENSSL_cleanse(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

bool Secret::equals(const Secret& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_.get(), other.data_.get(), size_) == 0;
}

void wipe(std::string& s) {
  // Cleanse the whole capacity: earlier, longer contents may sit past size().
  if (s.capacity() > 0) {
    s.resize(s.capacity());
    OPENSSL_cleanse(s.data(), s.size());
  }
  s.clear();
}

bool disable_core_dumps() {
  bool ok = true;
  struct rlimit rl {};
  rl.rlim_cur = 0;
  rl.rlim_max = 0;
  if (setrlimit(RLIMIT_CORE, &rl) != 0) ok = false;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) ok = false;
  return ok;
}

}  // namespace portcullis::credentials
