#include "admin/state_store.h"

#include "admin/util.h"

namespace portcullis::admin {

nlohmann::json to_json(const ApprovalRecord& r) {
  return {{"id", r.id},
          {"agent", r.agent},
          {"owner", r.owner},
          {"user", r.user},
          {"upstream", r.upstream},
          {"tool", r.tool},
          {"arguments_hash", r.arguments_hash},
          {"rule_id", r.rule_id},
          {"decision_id", r.decision_id},
          {"outcome", r.outcome},
          {"decided_by", r.decided_by},
          {"reason", r.reason},
          {"created", detail::format_time(r.created)},
          {"decided", detail::format_time(r.decided)}};
}

Result<ApprovalRecord> approval_record_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return Err("approval record: expected an object");
  ApprovalRecord r;
  std::string created, decided;
  std::pair<const char*, std::string*> fields[] = {
      {"id", &r.id},           {"agent", &r.agent},
      {"owner", &r.owner},     {"user", &r.user},
      {"upstream", &r.upstream}, {"tool", &r.tool},
      {"arguments_hash", &r.arguments_hash}, {"rule_id", &r.rule_id},
      {"decision_id", &r.decision_id}, {"outcome", &r.outcome},
      {"decided_by", &r.decided_by}, {"reason", &r.reason},
      {"created", &created},   {"decided", &decided},
  };
  for (auto& [key, out] : fields) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_string()) return Err(std::string("approval record: \"") + key + "\" must be a string");
    *out = it->get<std::string>();
  }
  if (r.id.empty() || r.outcome.empty()) return Err("approval record: missing id or outcome");
  auto c = detail::parse_time(created);
  auto d = detail::parse_time(decided);
  if (!c || !d) return Err("approval record " + r.id + ": bad time");
  r.created = *c;
  r.decided = *d;
  return r;
}

}  // namespace portcullis::admin
