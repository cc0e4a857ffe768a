// Helpers shared by the admin tests: the file helpers of
// tests/common/temp_files.h, and Principal builders.
#pragma once

#include <string>

#include "identity/principal.h"
#include "tests/common/temp_files.h"

namespace portcullis::admin::testing {

using portcullis::testing::read_all;
using portcullis::testing::TempDir;
using portcullis::testing::write_all;

// A registered agent `id` owned by `owner` (empty owner: unregistered).
inline identity::Principal principal(std::string id, std::string owner = "", std::string user = "",
                                     std::string jti = "", std::string token_id = "") {
  identity::Principal p;
  p.agent_id = std::move(id);
  p.user = std::move(user);
  p.jti = std::move(jti);
  p.token_id = std::move(token_id);
  if (!owner.empty()) {
    p.registered = true;
    p.agent = config::AgentConfig{p.agent_id, std::move(owner), {}, ""};
  }
  return p;
}

}  // namespace portcullis::admin::testing
