// Secret: bytes that must not leak. Move-only, never printed (no operator<<,
// no implicit conversion to string), wiped with OPENSSL_cleanse when destroyed
// or moved from. Read the bytes only through the explicit reveal().
//
// Thread: a Secret is a value; a const Secret may be read from many threads
// (Credential shares one as shared_ptr<const Secret>).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace portcullis::credentials {

class Secret {
 public:
  Secret() = default;
  // Copies `bytes` in. The caller wipes its own copy if it has one (see take()).
  explicit Secret(std::string_view bytes);
  // A zero-filled secret of `size` bytes, to be written through mutable_data().
  static Secret zeroed(std::size_t size);
  // Copies `s` in, then wipes `s` (use for strings read from files or stdin).
  static Secret take(std::string& s);
  // prefix + body, e.g. concat("Bearer ", token).
  static Secret concat(std::string_view prefix, std::string_view body);

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret();

  // The bytes. Valid until this Secret is destroyed, moved from or cleared.
  std::string_view reveal() const {
    return {reinterpret_cast<const char*>(data_.get()), size_};
  }
  const unsigned char* data() const { return data_.get(); }
  unsigned char* mutable_data() { return data_.get(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // An explicit copy, for the few places that must keep two (the vault cache).
  Secret clone() const { return Secret(reveal()); }
  // Constant-time comparison (CRYPTO_memcmp); false when sizes differ.
  bool equals(const Secret& other) const;
  // Wipes and empties.
  void clear();

 private:
  std::unique_ptr<unsigned char[]> data_;
  std::size_t size_ = 0;
};

static_assert(!std::is_copy_constructible_v<Secret>);
static_assert(!std::is_convertible_v<Secret, std::string>);

// Wipes a std::string's bytes (OPENSSL_cleanse) and empties it.
void wipe(std::string& s);

// Disables core dumps for this process: setrlimit(RLIMIT_CORE, 0) and
// prctl(PR_SET_DUMPABLE, 0) (which also blocks ptrace by other non-root
// processes). main() calls it before loading any secret. Returns false if
// either call failed (the caller logs a warning; the gateway still runs).
bool disable_core_dumps();

}  // namespace portcullis::credentials
