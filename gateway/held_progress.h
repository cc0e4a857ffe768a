// What a call held for approval sends while it waits, when its answer is an
// SSE stream (admin.approval_keepalive > 0): a comment every interval, so
// proxies and idle timers see bytes, and, when the request asked for progress
// (params._meta.progressToken), a notifications/progress event with a
// strictly increasing `progress`, so a client that resets its request timeout
// on progress (the TS SDK's resetTimeoutOnProgress) keeps waiting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace portcullis::gateway {

// The SSE comment sent on each interval (clients ignore comment lines).
inline constexpr std::string_view kHeldKeepalive = ": held for approval\n\n";

// The progress token of a JSON-RPC request: params._meta.progressToken when
// it is a string or an integer (the only kinds the spec allows); null
// otherwise (no progress is sent).
nlohmann::json progress_token(const nlohmann::json& request);

// One `message` event carrying notifications/progress for `token` with
// progress `n` (the caller counts 0, 1, 2, ...), naming the approval.
std::string held_progress_event(const nlohmann::json& token, std::uint64_t n, std::string_view approval_id);

// After `sent` progress notifications of the hold, the upstream's own
// notifications/progress for the same token would start again from its own
// 0 and break "progress MUST increase": shifts `progress` (and `total`, when
// present) of such a notification by `sent`. Returns whether `message` was
// one (and was changed).
bool shift_progress(nlohmann::json& message, const nlohmann::json& token, std::uint64_t sent);

}  // namespace portcullis::gateway
