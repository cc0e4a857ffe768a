// Helpers shared by the policy tests.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/call_facts.h"
#include "policy/policy_loader.h"

namespace portcullis::policy::testing {

inline std::string data_path(const std::string& name) {
  return std::string(PORTCULLIS_TEST_DATA) + "/policy/data/" + name;
}

inline std::string read_data(const std::string& name) {
  std::ifstream in(data_path(name));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string errors_text(const PolicyErrors& errors) {
  std::string out;
  for (const auto& e : errors) out += e.to_string() + "\n";
  return out;
}

// Loads YAML that must be valid.
inline PolicySnapshotPtr load_ok(const std::string& yaml, LoadOptions options = {}) {
  auto r = load_policy_text({{"policy.yaml", yaml}}, options);
  if (!r) FAIL(errors_text(r.error()));
  return r->snapshot;
}

// Loads YAML that must be invalid; returns the errors as text.
inline std::string load_errors(const std::string& yaml) {
  auto r = load_policy_text({{"policy.yaml", yaml}});
  if (r) FAIL("expected a load error");
  return errors_text(r.error());
}

inline std::vector<std::string> warnings_of(const std::string& yaml, LoadOptions options = {}) {
  auto r = load_policy_text({{"policy.yaml", yaml}}, options);
  if (!r) FAIL(errors_text(r.error()));
  std::vector<std::string> out;
  for (const auto& w : r->warnings) out.push_back(w.to_string());
  return out;
}

// A call; owns what CallFacts points at.
struct Call {
  std::string agent = "support-bot";
  std::string owner = "alice@example.com";
  std::vector<std::string> groups = {"support"};
  std::string clearance = "confidential";
  bool registered = true;
  std::string user;
  std::optional<std::string> user_clearance;
  std::string upstream = "crm";
  std::string method = "tools/call";
  std::string name = "read_record";
  nlohmann::json arguments = nlohmann::json::object();

  CallFacts facts() const {
    CallFacts f;
    f.agent_id = agent;
    f.agent_owner = owner;
    f.agent_groups = groups;
    f.agent_clearance = clearance;
    f.agent_registered = registered;
    f.user = user;
    if (user_clearance) f.user_clearance = *user_clearance;
    f.upstream = upstream;
    f.method = method;
    f.name = name;
    f.arguments = &arguments;
    f.now = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
    return f;
  }
};

}  // namespace portcullis::policy::testing
