// Internal: connections of the admin listener. Requests are small and rare;
// each is read whole (64 KiB at most) on the admin worker's event loop. The
// handler may block (the state file's fsync, reading audit segments, waiting
// for a reload's validation), so /admin/... requests run on `blocking`, a
// small thread pool: the admin loop keeps its timers (approval expiry) and
// probes (/healthz, /readyz, /metrics, answered inline) going meanwhile.
#pragma once

#include <functional>

#include "admin/admin_api.h"
#include "gateway/worker.h"

namespace portcullis::gateway {

using AdminHandler = std::function<admin::AdminResponse(const admin::AdminRequest&)>;

void spawn_admin_connection(Worker& w, tcp::socket socket, std::shared_ptr<const AdminHandler> handler,
                            net::any_io_executor blocking);

}  // namespace portcullis::gateway
