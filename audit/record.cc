#include "audit/record.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

#include "audit/keyed_hasher.h"

namespace portcullis::audit {
namespace {

constexpr std::size_t kMaxString = 256;
constexpr int kMaxDepth = 16;

bool secret_key(std::string_view key) {
  std::string k(key);
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
  static constexpr std::array<std::string_view, 10> kWords = {
      "password", "passwd", "secret", "token", "authorization", "api_key", "apikey", "cookie", "private_key",
      "credential"};
  for (auto w : kWords)
    if (k.find(w) != std::string::npos) return true;
  return false;
}

nlohmann::json redact_value(const nlohmann::json& v, int depth) {
  if (depth > kMaxDepth) return "[ELIDED depth]";
  if (v.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = v.begin(); it != v.end(); ++it)
      out[it.key()] = secret_key(it.key()) ? nlohmann::json("[REDACTED]") : redact_value(it.value(), depth + 1);
    return out;
  }
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : v) out.push_back(redact_value(e, depth + 1));
    return out;
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() > kMaxString) {
      // Cut on a UTF-8 boundary so the stored copy stays valid JSON text.
      std::size_t n = kMaxString;
      while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
      return s.substr(0, n) + "...[truncated " + std::to_string(s.size()) + " bytes]";
    }
  }
  return v;
}

}  // namespace

bool is_reserved_field(std::string_view name) {
  return name == "schema" || name == "seq" || name == "time" || name == "instance" || name == "kind" ||
         name == "prev" || name == "hash";
}

nlohmann::json redact_arguments(const nlohmann::json& args, const std::vector<std::string>& pointers) {
  nlohmann::json out = redact_value(args, 0);
  for (const auto& p : pointers) {
    try {
      nlohmann::json::json_pointer ptr(p);
      if (out.contains(ptr)) out[ptr] = "[REDACTED]";
    } catch (const nlohmann::json::exception&) {
      // An invalid pointer in the policy's redact list: nothing to mask there.
    }
  }
  return out;
}

Record make_decision_record(const DecisionFacts& f, const KeyedHasher& hasher) {
  Record r;
  r.kind = std::string(kind::kDecision);
  auto& j = r.fields;
  j["decision_id"] = f.decision_id;
  j["decision"] = f.decision;
  j["config_revision"] = f.config_revision;
  j["policy"] = {{"version", f.policy_version}, {"revision", f.policy_revision},
                 {"mode", f.shadow ? "shadow" : "enforce"}};
  j["agent"] = f.agent;
  j["owner"] = f.owner;
  j["user"] = f.user;
  j["issuer"] = f.issuer;
  j["token_hmac"] = f.token_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(hasher.hash(f.token_id));
  j["upstream"] = f.upstream;
  j["method"] = f.method;
  j["jsonrpc_id"] = f.jsonrpc_id;
  j["tool"] = f.tool;
  j["tool_fingerprint"] = f.tool_fingerprint;
  j["action"] = f.action;
  j["sensitivity"] = f.sensitivity;
  j["resources"] = f.resources.is_null() ? nlohmann::json::array() : f.resources;
  if (f.arguments.is_null()) {
    j["args_hmac"] = nullptr;
    j["args_redacted"] = nullptr;
  } else {
    // The HMAC covers the canonical (sorted-key, compact) form, so the same
    // arguments always give the same hash.
    j["args_hmac"] = hasher.hash(f.arguments.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    j["args_redacted"] = redact_arguments(f.arguments, f.redact);
  }
  j["rules"] = f.rules;
  j["reason"] = f.reason;
  j["credential_kind"] = f.credential_kind;
  j["src_ip"] = f.src_ip;
  j["latency_us"] = std::chrono::duration_cast<std::chrono::microseconds>(f.latency).count();
  return r;
}

Record make_outcome_record(const OutcomeFacts& f) {
  Record r;
  r.kind = std::string(kind::kOutcome);
  auto& j = r.fields;
  j["decision_id"] = f.decision_id;
  j["status"] = f.status;
  j["http_status"] = f.http_status;
  j["upstream_latency_us"] = std::chrono::duration_cast<std::chrono::microseconds>(f.upstream_latency).count();
  j["result_bytes"] = f.result_bytes;
  j["error_class"] = f.error_class;
  return r;
}

std::string format_time(std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  long frac = static_cast<long>(ns % 1000000000);
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

}  // namespace portcullis::audit
