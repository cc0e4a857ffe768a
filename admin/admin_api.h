// AdminApi: the admin HTTP API (contract.md, "Admin API") as pure request
// handling: the gateway's admin listener parses an HTTP request into an
// AdminRequest, calls handle() on a worker thread (handle may fsync the state
// file), and writes the AdminResponse. No network I/O and no Boost here.
//
// Authentication: `Authorization: Bearer <token>`; the SHA-256 of the token
// is compared in constant time (CRYPTO_memcmp) with every configured
// `admin.tokens[].sha256`. Roles: viewer (read), operator (kill, lift,
// reload, rotate), approver (approve, deny). operator and approver each imply
// viewer: whoever may act may see what they act on.
//
// Order of checks for /admin/v1/...: 401 (no or unknown token) before
// 404/405 (so unauthenticated callers learn nothing about routes), then 403
// (role), then 400 (body). GET /admin/ (the web page) needs no token: the page
// asks for one and sends it with each API call.
//
// Every admin action (kill, lift, approve, deny, reload, rotate, accept_tool), and every
// refusal of an authenticated admin (403, 409), is reported to hooks.audit
// with the admin's name. Responses never contain secrets or token hashes.
//
// Thread-safe: handle() may run on several threads at once.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/approvals.h"
#include "admin/inventory.h"
#include "admin/kill_switches.h"
#include "common/result.h"
#include "config/config.h"

namespace portcullis::admin {

struct AdminRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path with query, e.g. "/admin/v1/decisions?agent=bot&limit=20"
  std::map<std::string, std::string> headers;  // names matched case-insensitively
  std::string body;
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (WWW-Authenticate, Allow, CSP...)
};

struct AdminHooks {
  // GET /admin/v1/decisions: recent decision records (newest first) as a JSON
  // array; `agent` empty means all agents; 1 <= limit <= 1000.
  std::function<nlohmann::json(std::string_view agent, std::size_t limit)> decisions;
  // POST /admin/v1/reload: same as SIGHUP. Returns a JSON summary (e.g. the
  // new config revision) or an error message (the old config keeps serving).
  std::function<Result<nlohmann::json>()> reload;
  // POST /admin/v1/credentials/{name}/rotate. An error whose message starts
  // with "unknown provider" answers 404; other errors 502.
  std::function<Result<nlohmann::json>(std::string_view provider)> rotate;
  // GET /admin/v1/tools: the tool catalog as {"tools": [...]}, each with its
  // pinned and latest seen fingerprint and whether it is held.
  std::function<nlohmann::json()> tools;
  // POST /admin/v1/tools/{upstream}/{tool}/accept: pins `fingerprint` (64
  // lowercase hex) for the tool, durably when pins are kept in a file. An
  // error starting with "unknown upstream" answers 404; any other (the pin is
  // in effect but could not be saved) 500.
  std::function<Result<nlohmann::json>(std::string_view upstream, std::string_view tool,
                                       std::string_view fingerprint)>
      accept_tool;
  // One JSON record per admin action; the gateway appends it to the audit log.
  std::function<void(nlohmann::json record)> audit;
  std::function<std::chrono::system_clock::time_point()> clock;  // default system_clock::now
};

class AdminApi {
 public:
  // kill_switches, approvals and inventory must outlive this object.
  AdminApi(std::vector<config::AdminToken> tokens, KillSwitches& kill_switches, Approvals& approvals,
           Inventory& inventory, AdminHooks hooks);

  AdminResponse handle(const AdminRequest& request) const;

  // Config reload: the new token list (takes effect for the next request).
  void set_tokens(std::vector<config::AdminToken> tokens);

  static constexpr std::size_t kMaxBody = 64 * 1024;

 private:
  struct Caller {
    std::string name;
    bool viewer = false, operator_ = false, approver = false;
  };
  struct Token {
    std::string name;
    std::array<unsigned char, 32> sha256{};
    bool valid = false;  // sha256_hex decoded
    bool viewer = false, operator_ = false, approver = false;
  };
  std::optional<Caller> authenticate(const AdminRequest& request) const;
  void audit(const Caller& caller, std::string_view action, std::string_view outcome, nlohmann::json details) const;
  std::chrono::system_clock::time_point now() const;

  AdminResponse handle_v1(const AdminRequest& request, std::string_view path, std::string_view query) const;
  AdminResponse post_kill(const Caller& caller, const AdminRequest& request) const;
  AdminResponse delete_kill(const Caller& caller, std::string_view id) const;
  AdminResponse decide(const Caller& caller, const AdminRequest& request, std::string_view id, bool approve) const;
  AdminResponse get_decisions(std::string_view query) const;
  AdminResponse post_reload(const Caller& caller) const;
  AdminResponse post_rotate(const Caller& caller, std::string_view provider) const;
  AdminResponse post_accept_tool(const Caller& caller, const AdminRequest& request, std::string_view upstream,
                                 std::string_view tool) const;

  KillSwitches& kill_switches_;
  Approvals& approvals_;
  Inventory& inventory_;
  AdminHooks hooks_;
  mutable std::mutex tokens_mu_;
  std::vector<Token> tokens_;
};

}  // namespace portcullis::admin
