#include "audit/digest.h"

#include "common/encoding.h"

namespace portcullis::audit {

std::string to_hex(const Sha256Digest& d) {
  return encoding::hex_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

}  // namespace portcullis::audit
