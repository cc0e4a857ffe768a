#include "gateway/policy_stage.h"

#include <openssl/rand.h>

#include <array>
#include <cstdlib>
#include <string_view>

#include "common/encoding.h"
#include "policy/engine.h"

namespace portcullis::gateway {
namespace {

using nlohmann::json;

policy::CallFacts facts_for(const RequestContext& ctx, const std::vector<std::string>& no_groups) {
  policy::CallFacts f;
  if (ctx.principal) {
    const auto& p = *ctx.principal;
    f.agent_id = p.agent_id;
    f.agent_registered = p.registered;
    f.user = p.user;
    // A delegated call is capped by the user's clearance too (the lowest
    // level for a user config `users:` does not list).
    if (!p.user.empty()) f.user_clearance = std::string_view(p.user_clearance);
    if (p.agent) {
      f.agent_owner = p.agent->owner;
      f.agent_groups = p.agent->groups;
      f.agent_clearance = p.agent->clearance;
    } else {
      f.agent_groups = no_groups;
    }
  } else {
    f.agent_id = "anonymous";
    f.agent_groups = no_groups;
  }
  f.upstream = ctx.upstream->name;
  return f;
}

std::string denial_text(const CallDecision& d) {
  std::string rules;
  for (const auto& r : d.decision.rules) rules += (rules.empty() ? "" : ", ") + r;
  std::string why = d.decision.effect == policy::Effect::kRequireApproval
                        ? "Held for approval, and no approval was given"
                        : "Denied by policy";
  return why + ": " + d.decision.reason + " (rule: " + (rules.empty() ? "default deny" : rules) +
         "; policy " + d.decision.policy_version + "; decision " + d.decision_id + ")";
}

json refusal_for(const RpcMessage& m, const CallDecision& d) {
  if (d.hidden)
    return {{"jsonrpc", "2.0"}, {"id", m.id}, {"error", {{"code", -32602}, {"message", "Unknown tool: " + m.target}}}};
  if (m.method == "tools/call")
    return {{"jsonrpc", "2.0"},
            {"id", m.id},
            {"result", {{"content", json::array({{{"type", "text"}, {"text", denial_text(d)}}})}, {"isError", true}}}};
  return {{"jsonrpc", "2.0"}, {"id", m.id}, {"error", {{"code", -32003}, {"message", denial_text(d)}}}};
}

void decide_subscriptions(const policy::PolicySnapshot& snapshot, PolicyState& state, const RequestContext& ctx,
                          std::size_t message, std::chrono::system_clock::time_point now, DecideResult& out,
                          policy::LimitCounter& limits, const std::function<void(std::uint32_t)>& on_decide) {
  static const std::vector<std::string> kNoGroups;
  auto p = ctx.rpc.json.find("params");
  if (p == ctx.rpc.json.end() || !p->is_object()) return;
  auto n = p->find("notifications");
  if (n == p->end() || !n->is_object()) return;
  auto uris = n->find("resourceSubscriptions");
  if (uris == n->end() || !uris->is_array()) return;
  for (const auto& uri : *uris) {
    CallDecision d;
    d.message = message;
    d.decision_id = new_decision_id();
    d.target = uri.is_string() ? uri.get<std::string>() : uri.dump();
    auto facts = facts_for(ctx, kNoGroups);
    facts.method = policy::kResourcesRead;
    facts.name = d.target;
    facts.now = now;
    if (on_decide) on_decide(static_cast<std::uint32_t>(out.decisions.size()));
    d.decision = policy::decide(snapshot, facts, &limits, &state.catalog);
    if (d.decision.effect != policy::Effect::kAllow) out.forward = false;
    out.decisions.push_back(std::move(d));
  }
}

}  // namespace

std::string new_decision_id() {
  // 128 random bits, drawn from a per-thread buffer that RAND_bytes refills
  // 256 ids at a time: each RAND_bytes call checks for a fork with getpid()
  // (a system call) and takes the DRBG's lock, once per audited call before.
  constexpr std::size_t kIdBytes = 16;
  thread_local std::array<unsigned char, 256 * kIdBytes> pool;
  thread_local std::size_t used = pool.size();
  if (used == pool.size()) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) std::abort();  // no RNG: nothing is safe
    used = 0;
  }
  std::string_view id(reinterpret_cast<const char*>(pool.data() + used), kIdBytes);
  used += kIdBytes;
  return encoding::hex_encode(id);
}

std::vector<CallDecision> unpoliced_decisions(const RequestContext& ctx) {
  std::vector<CallDecision> out;
  for (std::size_t i = 0; i < ctx.rpc.messages.size(); ++i) {
    const auto& m = ctx.rpc.messages[i];
    if (m.kind != RpcKind::kRequest) continue;
    if (m.method != policy::kToolsCall && m.method != policy::kResourcesRead && m.method != policy::kPromptsGet)
      continue;
    CallDecision d;
    d.message = i;
    d.decision_id = new_decision_id();
    d.decision.effect = d.decision.computed_effect = policy::Effect::kAllow;
    d.decision.reason = "no policy is configured: forwarded unchecked";
    out.push_back(std::move(d));
  }
  return out;
}

DecideResult decide_request(const policy::PolicySnapshot& snapshot, PolicyState& state, const RequestContext& ctx,
                            std::chrono::system_clock::time_point now) {
  return decide_request_with(snapshot, state, ctx, now, state.limits, nullptr);
}

DecideResult decide_request_with(const policy::PolicySnapshot& snapshot, PolicyState& state, const RequestContext& ctx,
                                 std::chrono::system_clock::time_point now, policy::LimitCounter& limits,
                                 const std::function<void(std::uint32_t)>& on_message) {
  static const std::vector<std::string> kNoGroups;
  DecideResult out;
  for (std::size_t i = 0; i < ctx.rpc.messages.size(); ++i) {
    const auto& m = ctx.rpc.messages[i];
    if (m.kind != RpcKind::kRequest) continue;
    if (m.method == "subscriptions/listen" && !ctx.rpc.batch) {
      // 2026-07-28: updates of a resource tell what it holds, so each URI a
      // listen subscribes to is decided as a resources/read of it.
      decide_subscriptions(snapshot, state, ctx, i, now, out, limits, on_message);
      continue;
    }
    if (m.method != policy::kToolsCall && m.method != policy::kResourcesRead && m.method != policy::kPromptsGet)
      continue;
    auto facts = facts_for(ctx, kNoGroups);
    facts.method = m.method;
    facts.name = m.target;
    facts.arguments = m.arguments;
    facts.now = now;
    CallDecision d;
    d.message = i;
    d.decision_id = new_decision_id();
    // A held tool (its definition changed upstream) is hidden from tools/list,
    // but a call to it is answered with the reason, not "Unknown tool".
    auto info = m.method == policy::kToolsCall ? state.catalog.find(ctx.upstream->name, m.target) : nullptr;
    bool held = info && info->held();
    if (m.method == policy::kToolsCall && !held && !policy::tool_visible(snapshot, facts, &state.catalog)) {
      d.hidden = true;
      d.decision.effect = d.decision.computed_effect = policy::Effect::kDeny;
      d.decision.reason = "tool not visible to this agent";
      d.decision.policy_version = snapshot.version;
      d.decision.policy_revision = snapshot.revision;
    } else {
      // One limit group per engine call (see policy/limit_counter.h).
      if (on_message) on_message(static_cast<std::uint32_t>(out.decisions.size()));
      d.decision = policy::decide(snapshot, facts, &limits, &state.catalog);
    }
    if (d.decision.effect != policy::Effect::kAllow) out.forward = false;
    out.decisions.push_back(std::move(d));
  }
  if (out.forward) return out;
  // One tools/call needing approval (and nothing else refused) is held by the
  // caller; batches are never held.
  if (!ctx.rpc.batch && out.decisions.size() == 1 && !out.decisions[0].hidden &&
      out.decisions[0].decision.effect == policy::Effect::kRequireApproval &&
      ctx.rpc.messages[out.decisions[0].message].method == policy::kToolsCall)
    out.hold = true;

  // Something is refused: answer every request locally. A batch (2025-03-26
  // only) is refused as a whole, so that no part of it runs unrecorded.
  json replies = json::array();
  for (std::size_t i = 0; i < ctx.rpc.messages.size(); ++i) {
    const auto& m = ctx.rpc.messages[i];
    if (m.kind != RpcKind::kRequest) continue;
    const CallDecision* d = nullptr;
    for (const auto& x : out.decisions)  // a refused one first (a listen has one per URI)
      if (x.message == i && (!d || d->decision.effect == policy::Effect::kAllow)) d = &x;
    if (d && d->decision.effect != policy::Effect::kAllow)
      replies.push_back(refusal_for(m, *d));
    else
      replies.push_back({{"jsonrpc", "2.0"}, {"id", m.id},
                         {"error", {{"code", -32003}, {"message", "Not forwarded: another call in this batch was refused"}}}});
  }
  out.reply = ctx.rpc.batch ? replies.dump() : replies.at(0).dump();
  return out;
}

void filter_tools_list(const policy::PolicySnapshot& snapshot, PolicyState& state, const RequestContext& ctx,
                       json& result) {
  static const std::vector<std::string> kNoGroups;
  if (state.catalog.observe_list(ctx.upstream->name, result) > 0 && state.pins) state.pins->changed();
  auto facts = facts_for(ctx, kNoGroups);
  result = policy::filter_tools_list(snapshot, facts, ctx.upstream->name, result, &state.catalog);
}

}  // namespace portcullis::gateway
