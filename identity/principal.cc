#include "identity/principal.h"

#include <algorithm>

#include "identity/jwt.h"

namespace portcullis::identity {
namespace {

using nlohmann::json;

std::string string_claim(const json& claims, std::string_view name) {
  auto it = claims.find(name);
  return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void split_spaces(std::string_view s, std::vector<std::string>& out) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto j = s.find(' ', i);
    const auto end = j == std::string_view::npos ? s.size() : j;
    if (end > i) out.emplace_back(s.substr(i, end - i));
    i = end + 1;
  }
}

std::vector<std::string> strings(const json& v) {
  std::vector<std::string> out;
  if (v.is_array())
    for (const auto& x : v)
      if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

}  // namespace

bool Principal::has_scope(std::string_view scope) const {
  return std::binary_search(scopes.begin(), scopes.end(), scope, std::less<>());
}

AgentRegistry::AgentRegistry(const std::vector<config::AgentConfig>& agents,
                             const std::vector<config::UserConfig>& users) {
  for (const auto& a : agents) agents_.emplace(a.id, a);
  for (const auto& u : users) users_.emplace(u.sub, u);
}

const config::UserConfig* AgentRegistry::find_user(std::string_view sub) const {
  auto it = users_.find(sub);
  return it == users_.end() ? nullptr : &it->second;
}

const config::AgentConfig* AgentRegistry::find(std::string_view id) const {
  auto it = agents_.find(id);
  return it == agents_.end() ? nullptr : &it->second;
}

Principal build_principal(const json& claims, std::string_view agent_claim, const AgentRegistry& agents) {
  Principal p;
  p.issuer = string_claim(claims, "iss");
  p.subject = string_claim(claims, "sub");
  p.jti = string_claim(claims, "jti");
  p.client_id = string_claim(claims, "client_id");
  if (p.client_id.empty()) p.client_id = string_claim(claims, "azp");

  // RFC 8693 §4.1: nested act claims, outermost = current actor. Bounded
  // by the strict parser's depth limit.
  const json* act = nullptr;
  if (auto it = claims.find("act"); it != claims.end() && it->is_object()) act = &*it;
  bool actor_named = true;
  for (const json* a = act; a != nullptr;) {
    std::string who = string_claim(*a, "sub");
    if (who.empty()) who = string_claim(*a, "client_id");
    if (who.empty() && a == act) actor_named = false;  // the current actor must be named
    if (!who.empty()) p.act_chain.push_back(std::move(who));
    auto next = a->find("act");
    a = next != a->end() && next->is_object() ? &*next : nullptr;
  }
  if (act != nullptr) {
    if (actor_named) p.agent_id = p.act_chain.front();
    p.user = p.subject;
  } else {
    if (!agent_claim.empty()) p.agent_id = string_claim(claims, agent_claim);
    if (p.agent_id.empty()) p.agent_id = string_claim(claims, "azp");
    if (p.agent_id.empty()) p.agent_id = p.subject;
    if (!p.subject.empty() && p.subject != p.agent_id) p.user = p.subject;
  }

  if (auto it = claims.find("scope"); it != claims.end() && it->is_string()) {
    split_spaces(it->get_ref<const std::string&>(), p.scopes);
  } else if (auto scp = claims.find("scp"); scp != claims.end()) {
    if (scp->is_string()) split_spaces(scp->get_ref<const std::string&>(), p.scopes);
    else p.scopes = strings(*scp);
  }
  std::sort(p.scopes.begin(), p.scopes.end());
  p.scopes.erase(std::unique(p.scopes.begin(), p.scopes.end()), p.scopes.end());
  if (auto it = claims.find("groups"); it != claims.end()) p.groups = strings(*it);
  if (auto it = claims.find("aud"); it != claims.end()) {
    if (it->is_string()) p.audiences.push_back(it->get<std::string>());
    else p.audiences = strings(*it);
  }
  p.expires_at = std::chrono::system_clock::time_point::max();
  if (auto it = claims.find("exp"); it != claims.end())
    if (auto exp = numeric_date(*it)) p.expires_at = std::chrono::system_clock::time_point(std::chrono::seconds(*exp));

  if (const auto* entry = agents.find(p.agent_id); entry != nullptr && !p.agent_id.empty()) {
    p.registered = true;
    p.agent = *entry;
  }
  if (!p.user.empty())
    if (const auto* entry = agents.find_user(p.user)) p.user_clearance = entry->clearance;
  return p;
}

}  // namespace portcullis::identity
