// Internal: connections of the admin listener. Requests are small and rare;
// each is read whole (64 KiB at most) and answered by a handler that may do
// blocking work (the state file's fsync), which is why admin connections run
// on their own worker, never on the agents' event loops.
#pragma once

#include <functional>

#include "admin/admin_api.h"
#include "gateway/worker.h"

namespace portcullis::gateway {

using AdminHandler = std::function<admin::AdminResponse(const admin::AdminRequest&)>;

void spawn_admin_connection(Worker& w, tcp::socket socket, std::shared_ptr<const AdminHandler> handler);

}  // namespace portcullis::gateway
