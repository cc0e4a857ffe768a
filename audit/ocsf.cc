#include "audit/ocsf.h"

#include <ctime>
#include <string>

namespace portcullis::audit {
namespace {

// Milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS.fffffffffZ"; 0 if it
// does not parse.
long long epoch_ms(const std::string& t) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  if (t.size() > 23 && t[19] == '.') ms = std::stoi(t.substr(20, 3));
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<long long>(timegm(&tm)) * 1000 + ms;
}

std::string str(const nlohmann::json& r, const char* key) {
  if (r.contains(key) && r[key].is_string()) return r[key].get<std::string>();
  return {};
}

int activity_id(const std::string& action, const std::string& method) {
  if (action == "create") return 1;
  if (action == "read" || method == "tools/list" || method == "resources/read") return 2;
  if (action == "write" || action == "update") return 3;
  if (action == "delete") return 4;
  return 99;
}

const char* activity_name(int id) {
  switch (id) {
    case 1: return "Create";
    case 2: return "Read";
    case 3: return "Update";
    case 4: return "Delete";
    default: return "Other";
  }
}

}  // namespace

nlohmann::json to_ocsf(const nlohmann::json& r) {
  nlohmann::json e = nlohmann::json::object();
  if (!r.is_object()) return e;
  std::string kind = str(r, "kind");
  std::string decision = str(r, "decision");
  int act = activity_id(str(r, "action"), str(r, "method"));

  e["category_uid"] = 6;
  e["category_name"] = "Application Activity";
  e["class_uid"] = 6003;
  e["class_name"] = "API Activity";
  e["activity_id"] = act;
  e["activity_name"] = activity_name(act);
  e["type_uid"] = 6003 * 100 + act;
  e["time"] = epoch_ms(str(r, "time"));

  bool success;
  int severity = 1;  // Informational
  if (kind == "decision") {
    success = decision == "allow" || decision == "approved";
    if (!success) severity = decision == "error" ? 4 : 3;
  } else if (kind == "outcome") {
    success = str(r, "status") == "ok";
    if (!success) severity = 2;
  } else {
    success = kind != "audit_failure";
    if (!success) severity = 5;  // Critical: a hole in the audit trail
  }
  e["status_id"] = success ? 1 : 2;
  e["status"] = success ? "Success" : "Failure";
  e["severity_id"] = severity;
  if (!str(r, "reason").empty()) e["status_detail"] = str(r, "reason");
  e["message"] = kind + (decision.empty() ? "" : ": " + decision);

  e["metadata"] = {{"version", "1.3.0"},
                   {"product", {{"name", "Portcullis"}, {"vendor_name", "Portcullis"}}},
                   {"log_name", "portcullis-audit"},
                   {"log_provider", str(r, "instance")},
                   {"uid", str(r, "instance") + ":" + (r.contains("seq") ? r["seq"].dump() : "")},
                   {"sequence", r.value("seq", 0ull)},
                   {"original_time", str(r, "time")}};
  if (!str(r, "decision_id").empty()) e["metadata"]["correlation_uid"] = str(r, "decision_id");

  nlohmann::json actor = nlohmann::json::object();
  if (!str(r, "agent").empty()) actor["app_name"] = str(r, "agent");
  if (!str(r, "user").empty() || !str(r, "owner").empty()) {
    actor["user"] = nlohmann::json::object();
    if (!str(r, "user").empty()) actor["user"]["uid"] = str(r, "user");
    if (!str(r, "owner").empty()) actor["user"]["name"] = str(r, "user").empty() ? str(r, "owner") : str(r, "user");
  }
  if (!str(r, "issuer").empty()) actor["idp"] = {{"name", str(r, "issuer")}};
  if (kind == "decision") {
    nlohmann::json policy = nlohmann::json::object();
    if (r.contains("rules") && r["rules"].is_array() && !r["rules"].empty()) {
      std::string names;
      for (const auto& x : r["rules"])
        if (x.is_string()) names += (names.empty() ? "" : ",") + x.get<std::string>();
      policy["name"] = names;
    }
    if (r.contains("policy") && r["policy"].is_object()) {
      const auto& p = r["policy"];
      if (p.contains("revision")) policy["uid"] = p["revision"];
      if (p.contains("version")) policy["version"] = p["version"];
      if (p.contains("mode")) policy["group"] = {{"name", p["mode"]}};
    }
    if (!str(r, "reason").empty()) policy["desc"] = str(r, "reason");
    actor["authorizations"] = nlohmann::json::array({{{"decision", decision}, {"policy", policy}}});
  }
  e["actor"] = actor;

  nlohmann::json api = {{"operation", str(r, "method").empty() ? kind : str(r, "method")}};
  if (!str(r, "upstream").empty()) api["service"] = {{"name", str(r, "upstream")}};
  if (!str(r, "decision_id").empty()) api["request"] = {{"uid", str(r, "decision_id")}};
  if (kind == "outcome") {
    api["response"] = {{"code", r.value("http_status", 0)}};
    if (!str(r, "error_class").empty()) api["response"]["error"] = str(r, "error_class");
    if (r.contains("upstream_latency_us")) e["duration"] = r["upstream_latency_us"].get<long long>() / 1000;
  }
  e["api"] = api;

  e["src_endpoint"] = nlohmann::json::object();
  if (!str(r, "src_ip").empty()) e["src_endpoint"]["ip"] = str(r, "src_ip");
  if (!str(r, "upstream").empty()) e["dst_endpoint"] = {{"svc_name", str(r, "upstream")}};

  if (!str(r, "tool").empty()) {
    nlohmann::json res = {{"name", str(r, "tool")}, {"type", "mcp_tool"}};
    if (!str(r, "tool_fingerprint").empty()) res["uid"] = str(r, "tool_fingerprint");
    if (!str(r, "sensitivity").empty()) res["labels"] = nlohmann::json::array({str(r, "sensitivity")});
    nlohmann::json resources = nlohmann::json::array({res});
    if (r.contains("resources") && r["resources"].is_array())
      for (const auto& x : r["resources"]) resources.push_back({{"type", "argument_resource"}, {"data", x}});
    e["resources"] = resources;
  }

  nlohmann::json unmapped = nlohmann::json::object();
  static const char* kMapped[] = {"time", "agent", "user", "owner", "issuer", "method", "upstream",
                                  "decision_id", "src_ip", "tool", "tool_fingerprint", "reason"};
  for (auto it = r.begin(); it != r.end(); ++it) {
    bool mapped = false;
    for (const char* m : kMapped) mapped = mapped || it.key() == m;
    if (!mapped) unmapped[it.key()] = it.value();
  }
  e["unmapped"] = unmapped;
  return e;
}

}  // namespace portcullis::audit
