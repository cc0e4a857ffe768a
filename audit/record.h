// What the gateway hands to the audit log: a Record is a kind plus a JSON
// object of fields. The log adds the envelope (schema, seq, time, instance,
// prev, hash); see audit/README.md for the stable schema of every kind.
//
// The typed builders below (make_decision_record, make_outcome_record) are
// the supported way to fill the two hot-path kinds; they apply the keyed hash
// to the token id and the arguments so raw secrets never reach the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/log_format.h"

namespace portcullis::audit {

class KeyedHasher;

// Record kinds (the `kind` field).
namespace kind {
inline constexpr std::string_view kDecision = "decision";
inline constexpr std::string_view kOutcome = "outcome";
inline constexpr std::string_view kApproval = "approval";
inline constexpr std::string_view kKillSwitch = "kill_switch";
inline constexpr std::string_view kReload = "reload";
inline constexpr std::string_view kKeyRotation = "key_rotation";  // written by the log
inline constexpr std::string_view kAuditFailure = "audit_failure";  // written by the log
inline constexpr std::string_view kAdminAction = "admin_action";
inline constexpr std::string_view kCheckpoint = "checkpoint";  // written by the log
}  // namespace kind

// The schema id written in every record's `schema` field.
inline constexpr std::string_view kSchema = "portcullis.audit/v1";

struct Record {
  std::string kind;
  nlohmann::json fields = nlohmann::json::object();  // must be an object
  // The per-call kinds (make_decision_record, make_outcome_record) come
  // already canonical here instead, and `fields` stays empty.
  CanonicalFields canonical;

  // The fields as JSON, whichever form they are in (tests, tools).
  nlohmann::json fields_json() const { return canonical.empty() ? fields : canonical.to_json(); }
};

// True for the envelope names the log owns; a Record whose fields use one is
// rejected by AuditLog::append (kInvalidRecord).
bool is_reserved_field(std::string_view name);

// Facts of one decision, as the gateway knows them. Raw token id and
// arguments go in; only their keyed hashes (and a redacted copy of the
// arguments) come out.
struct DecisionFacts {
  std::string decision_id;  // unique per request; also on the outcome record
  std::string decision;     // allow | deny | held | approved | killed | unauthenticated | error
  std::string config_revision;
  std::string policy_version;
  std::string policy_revision;
  bool shadow = false;      // policy mode: shadow (the decision was not enforced)
  std::string agent;
  std::string owner;
  std::string user;         // delegating user (sub), empty for none
  std::string issuer;
  std::string token_id;     // jti or the token itself for opaque tokens; stored as HMAC only
  std::string upstream;
  std::string method;       // JSON-RPC method, e.g. tools/call
  std::string jsonrpc_id;
  std::string tool;
  std::string tool_fingerprint;
  std::string action;       // action class: read | write | delete | ...
  std::string sensitivity;
  nlohmann::json resources = nlohmann::json::array();
  nlohmann::json arguments;  // raw; stored as args_hmac + args_redacted
  // When set, read instead of `arguments` (the caller's parsed tree, no deep
  // copy per call); it must outlive make_decision_record.
  const nlohmann::json* arguments_ref = nullptr;
  std::vector<std::string> redact;  // JSON pointers into arguments to mask
  std::vector<std::string> rules;   // deciding rule ids
  std::string reason;
  std::string credential_kind;  // provider kind used for the upstream, never the credential
  std::string src_ip;
  std::chrono::nanoseconds latency{0};  // decision latency (request start to decision)
};

Record make_decision_record(const DecisionFacts& facts, const KeyedHasher& hasher);

struct OutcomeFacts {
  std::string decision_id;
  std::string status;       // ok | error | timeout | cancelled | killed
  int http_status = 0;      // upstream HTTP status, 0 when none
  std::chrono::nanoseconds upstream_latency{0};
  std::uint64_t result_bytes = 0;
  std::string error_class;  // empty on success: connect | tls | timeout | protocol | upstream_error | killed
};

Record make_outcome_record(const OutcomeFacts& facts);

// A copy of `args` safe to store: values at the given JSON pointers and under
// keys that look secret (password, secret, token, authorization, api_key,
// cookie, ...) become "[REDACTED]", strings longer than 256 bytes are cut and
// marked, nesting deeper than 16 levels is elided.
nlohmann::json redact_arguments(const nlohmann::json& args, const std::vector<std::string>& pointers);

// RFC 3339 UTC with nanoseconds: 2026-11-22T08:00:00.123456789Z.
std::string format_time(std::chrono::system_clock::time_point t);

}  // namespace portcullis::audit
