// The JSON-RPC error message of a request a kill switch stopped: refused at
// the door (connection.cc) or cut while its answer streamed (proxy.cc). One
// builder, so the agent reads the same words either way.
#pragma once

#include <string>

#include "admin/kill_switch.h"

namespace portcullis::gateway {

// "Forbidden: stopped by kill switch <id> (<kind>[: <target>])[: <reason>]",
// sent with kForbidden (gateway/errors.h).
inline std::string kill_message(const admin::KillSwitch& ks) {
  return "Forbidden: stopped by kill switch " + ks.id + " (" + std::string(admin::kill_kind_name(ks.kind)) +
         (ks.target.empty() ? "" : ": " + ks.target) + ")" + (ks.reason.empty() ? "" : ": " + ks.reason);
}

}  // namespace portcullis::gateway
