#include "audit/record.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>

#include "audit/keyed_hasher.h"
#include "audit/log_format.h"

namespace portcullis::audit {
namespace {

constexpr std::size_t kMaxString = 256;
constexpr int kMaxDepth = 16;

bool secret_key(std::string_view key) {
  static constexpr std::array<std::string_view, 10> kWords = {
      "password", "passwd", "secret", "token", "authorization", "api_key", "apikey", "cookie", "private_key",
      "credential"};
  // ASCII lower case into a stack buffer (no allocation, no locale calls);
  // a key longer than any parameter name gets a heap copy.
  char small[256];
  std::string large;
  char* buf = small;
  if (key.size() > sizeof small) {
    large.resize(key.size());
    buf = large.data();
  }
  for (std::size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string_view k(buf, key.size());
  for (auto w : kWords)
    if (k.find(w) != std::string_view::npos) return true;
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

namespace {

// What redact_value(v) would produce, written as canonical text directly.
void write_redacted(std::string& out, const nlohmann::json& v, int depth) {
  if (depth > kMaxDepth) {
    canonical_string_into(out, "[ELIDED depth]");
    return;
  }
  if (v.is_object()) {
    out.push_back('{');
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {  // std::map: sorted keys
      if (!first) out.push_back(',');
      first = false;
      canonical_string_into(out, it.key());
      out.push_back(':');
      if (secret_key(it.key())) out += "\"[REDACTED]\"";
      else write_redacted(out, it.value(), depth + 1);
    }
    out.push_back('}');
    return;
  }
  if (v.is_array()) {
    out.push_back('[');
    bool first = true;
    for (const auto& e : v) {
      if (!first) out.push_back(',');
      first = false;
      write_redacted(out, e, depth + 1);
    }
    out.push_back(']');
    return;
  }
  if (v.is_string() && v.get_ref<const std::string&>().size() > kMaxString) {
    canonical_json_into(out, redact_value(v, depth));
    return;
  }
  canonical_json_into(out, v);
}

}  // namespace

Record make_decision_record(const DecisionFacts& f, const KeyedHasher& hasher) {
  // Keys in byte order (CanonicalFields checks it).
  Record r;
  r.kind = std::string(kind::kDecision);
  auto& c = r.canonical;
  c.reserve(1024);
  c.add_string("action", f.action);
  c.add_string("agent", f.agent);
  const nlohmann::json& arguments = f.arguments_ref ? *f.arguments_ref : f.arguments;
  if (arguments.is_null()) {
    c.add_null("args_hmac");
    c.add_null("args_redacted");
  } else {
    // The HMAC covers the canonical (sorted-key, compact) form, so the same
    // arguments always give the same hash.
    thread_local std::string canonical_args;
    canonical_args.clear();
    canonical_json_into(canonical_args, arguments);
    c.add_string("args_hmac", hasher.hash(canonical_args));
    if (f.redact.empty()) write_redacted(c.add_raw("args_redacted"), arguments, 0);
    else c.add_json("args_redacted", redact_arguments(arguments, f.redact));
  }
  c.add_string("config_revision", f.config_revision);
  c.add_string("credential_kind", f.credential_kind);
  c.add_string("decision", f.decision);
  c.add_string("decision_id", f.decision_id);
  c.add_string("issuer", f.issuer);
  c.add_string("jsonrpc_id", f.jsonrpc_id);
  c.add_int("latency_us", std::chrono::duration_cast<std::chrono::microseconds>(f.latency).count());
  c.add_string("method", f.method);
  c.add_string("owner", f.owner);
  {
    std::string& p = c.add_raw("policy");
    p += "{\"mode\":";
    p += f.shadow ? "\"shadow\"" : "\"enforce\"";
    p += ",\"revision\":";
    canonical_string_into(p, f.policy_revision);
    p += ",\"version\":";
    canonical_string_into(p, f.policy_version);
    p += "}";
  }
  c.add_string("reason", f.reason);
  if (f.resources.is_null()) c.add_raw("resources") += "[]";
  else c.add_json("resources", f.resources);
  {
    std::string& rules = c.add_raw("rules");
    rules.push_back('[');
    for (std::size_t i = 0; i < f.rules.size(); ++i) {
      if (i) rules.push_back(',');
      canonical_string_into(rules, f.rules[i]);
    }
    rules.push_back(']');
  }
  c.add_string("sensitivity", f.sensitivity);
  c.add_string("src_ip", f.src_ip);
  if (f.token_id.empty()) c.add_null("token_hmac");
  else c.add_string("token_hmac", hasher.hash(f.token_id));
  c.add_string("tool", f.tool);
  c.add_string("tool_fingerprint", f.tool_fingerprint);
  c.add_string("upstream", f.upstream);
  c.add_string("user", f.user);
  return r;
}

Record make_outcome_record(const OutcomeFacts& f) {
  Record r;
  r.kind = std::string(kind::kOutcome);
  auto& c = r.canonical;
  c.reserve(256);
  c.add_string("decision_id", f.decision_id);
  c.add_string("error_class", f.error_class);
  c.add_int("http_status", f.http_status);
  c.add_uint("result_bytes", f.result_bytes);
  c.add_string("status", f.status);
  c.add_int("upstream_latency_us",
            std::chrono::duration_cast<std::chrono::microseconds>(f.upstream_latency).count());
  return r;
}

std::string format_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  // Civil date by arithmetic (<chrono>'s calendar), not gmtime_r: glibc's
  // gmtime_r takes the process-wide tz lock, and this runs for every record.
  auto ns = duration_cast<nanoseconds>(t.time_since_epoch());
  auto day = floor<days>(ns);
  year_month_day ymd{sys_days{day}};
  hh_mm_ss<nanoseconds> hms{ns - day};
  int year = static_cast<int>(ymd.year());
  long frac = static_cast<long>(hms.subseconds().count());
  if (year < 0 || year > 9999) {  // outside RFC 3339; keep the old formatting
    char wide[64];
    std::snprintf(wide, sizeof wide, "%04d-%02u-%02uT%02ld:%02ld:%02lld.%09ldZ", year,
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                  static_cast<long long>(hms.seconds().count()), frac);
    return wide;
  }
  // YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ, written by hand: snprintf showed in the
  // profile of every call.
  char buf[31];
  auto put = [&buf](int pos, long v, int digits) {
    for (int i = digits - 1; i >= 0; --i, v /= 10) buf[pos + i] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  buf[4] = '-';
  put(5, static_cast<unsigned>(ymd.month()), 2);
  buf[7] = '-';
  put(8, static_cast<unsigned>(ymd.day()), 2);
  buf[10] = 'T';
  put(11, hms.hours().count(), 2);
  buf[13] = ':';
  put(14, hms.minutes().count(), 2);
  buf[16] = ':';
  put(17, hms.seconds().count(), 2);
  buf[19] = '.';
  put(20, frac, 9);
  buf[29] = 'Z';
  return std::string(buf, 30);
}

}  // namespace portcullis::audit
