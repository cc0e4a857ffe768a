// SHA-256 digests as the audit format writes them (lower-case hex). SHA-256
// itself is common/sha256.h; other encodings common/encoding.h.
#pragma once

#include <string>

#include "common/sha256.h"

namespace portcullis::audit {

std::string to_hex(const Sha256Digest& d);

}  // namespace portcullis::audit
