#include "gateway/request_context.h"

#include <openssl/crypto.h>

namespace portcullis::gateway {

RequestContext::~RequestContext() {
  if (!bearer.empty()) OPENSSL_cleanse(bearer.data(), bearer.size());
}

}  // namespace portcullis::gateway
