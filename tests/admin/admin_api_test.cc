#include "admin/admin_api.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>

#include "admin/file_state_store.h"
#include "policy/tool_catalog.h"
#include "tests/admin/test_util.h"

namespace portcullis::admin {
namespace {

std::string sha256_hex(std::string_view s) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

struct Env {
  MemoryStateStore store;
  KillSwitches kills{store};
  Approvals approvals;
  Inventory inventory{{{"support-bot", "alice@example.com", {"support"}, ""}}};
  std::vector<nlohmann::json> audit;
  std::string decisions_agent;
  std::size_t decisions_limit = 0;
  policy::ToolCatalog catalog;
  bool save_fails = false;
  AdminApi api{tokens(), kills, approvals, inventory, hooks()};

  static std::vector<config::AdminToken> tokens() {
    return {
        {"ops", sha256_hex("ops-secret"), {"viewer", "operator", "approver"}},
        {"viewer", sha256_hex("viewer-secret"), {"viewer"}},
        {"alice@example.com", sha256_hex("alice-secret"), {"approver"}},
        {"operator-only", sha256_hex("op-secret"), {"operator"}},
    };
  }
  AdminHooks hooks() {
    AdminHooks h;
    h.audit = [this](nlohmann::json j) { audit.push_back(std::move(j)); };
    h.decisions = [this](std::string_view agent, std::size_t limit) {
      decisions_agent = agent;
      decisions_limit = limit;
      return nlohmann::json::array({{{"decision_id", "d-1"}}});
    };
    h.reload = []() -> Result<nlohmann::json> { return nlohmann::json{{"revision", "abc"}}; };
    h.rotate = [](std::string_view name) -> Result<nlohmann::json> {
      if (name != "crm-oauth") return Err("unknown provider " + std::string(name));
      return nlohmann::json::object();
    };
    h.tools = [this] {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& t : catalog.all()) list.push_back({{"tool", t->name}, {"held", t->held()}});
      return nlohmann::json{{"tools", list}};
    };
    h.accept_tool = [this](std::string_view up, std::string_view tool, std::string_view fp) -> Result<nlohmann::json> {
      bool released = catalog.accept(up, tool, fp);
      if (save_fails) return Err("cannot write pins.json: No space left on device");
      return nlohmann::json{{"released", released}};
    };
    return h;
  }

  AdminResponse call(std::string method, std::string target, std::string token = "", std::string body = "") {
    AdminRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    if (!token.empty()) r.headers["Authorization"] = "Bearer " + token;
    r.body = std::move(body);
    return api.handle(r);
  }
};

nlohmann::json body(const AdminResponse& r) { return nlohmann::json::parse(r.body); }

std::string header(const AdminResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

TEST_CASE("a request without a token is 401 with a WWW-Authenticate challenge") {
  Env e;
  auto r = e.call("GET", "/admin/v1/agents");
  CHECK(r.status == 401);
  CHECK(body(r)["error"]["code"] == "unauthorized");
  CHECK(header(r, "WWW-Authenticate").find("Bearer") == 0);
}

TEST_CASE("a request with a wrong token is 401 even for an unknown path") {
  Env e;
  CHECK(e.call("GET", "/admin/v1/agents", "wrong").status == 401);
  CHECK(e.call("GET", "/admin/v1/nope", "wrong").status == 401);
  AdminRequest basic{"GET", "/admin/v1/agents", {{"authorization", "Basic b3BzOm9wcw=="}}, ""};
  CHECK(e.api.handle(basic).status == 401);
}

TEST_CASE("the authorization header name and scheme are case-insensitive") {
  Env e;
  AdminRequest r{"GET", "/admin/v1/agents", {{"AUTHORIZATION", "bearer viewer-secret"}}, ""};
  CHECK(e.api.handle(r).status == 200);
}

TEST_CASE("a role too low is 403 and is audited") {
  Env e;
  auto r = e.call("POST", "/admin/v1/kill", "viewer-secret", R"({"agent":"support-bot"})");
  CHECK(r.status == 403);
  CHECK(body(r)["error"]["code"] == "forbidden");
  CHECK(e.kills.list().empty());
  REQUIRE(e.audit.size() == 1);
  CHECK(e.audit[0]["admin"] == "viewer");
  CHECK(e.audit[0]["outcome"] == "refused");
  CHECK(e.call("POST", "/admin/v1/approvals/ap_x/approve", "viewer-secret").status == 403);
}

TEST_CASE("operator and approver roles imply viewer") {
  Env e;
  CHECK(e.call("GET", "/admin/v1/kill", "op-secret").status == 200);
  CHECK(e.call("GET", "/admin/v1/approvals", "alice-secret").status == 200);
  CHECK(e.call("POST", "/admin/v1/kill", "alice-secret", R"({"all":true})").status == 403);
}

TEST_CASE("kill answers 201 with the switch, the list shows it, and it is audited") {
  Env e;
  auto r = e.call("POST", "/admin/v1/kill", "ops-secret", R"({"agent":"support-bot","reason":"leaking data"})");
  REQUIRE(r.status == 201);
  auto j = body(r);
  CHECK(j["kind"] == "agent");
  CHECK(j["target"] == "support-bot");
  CHECK(j["reason"] == "leaking data");
  CHECK(j["created_by"] == "ops");
  CHECK(j["persisted"] == true);
  std::string id = j["id"];
  CHECK(id.rfind("ks_", 0) == 0);

  auto list = body(e.call("GET", "/admin/v1/kill", "viewer-secret"));
  REQUIRE(list["kill_switches"].size() == 1);
  CHECK(list["kill_switches"][0]["id"] == id);

  auto p = testing::principal("support-bot", "alice@example.com");
  CHECK(e.kills.match(&p, "crm", "read") != nullptr);
  REQUIRE(e.audit.size() == 1);
  CHECK(e.audit[0]["action"] == "kill");
  CHECK(e.audit[0]["admin"] == "ops");
  CHECK(e.audit[0]["kill_switch"]["id"] == id);

  auto agents = body(e.call("GET", "/admin/v1/agents", "viewer-secret"));
  REQUIRE(agents["agents"].size() == 1);
  CHECK(agents["agents"][0]["status"] == "killed");
}

TEST_CASE("kill all takes a boolean and kill rejects two targets or unknown keys") {
  Env e;
  CHECK(e.call("POST", "/admin/v1/kill", "ops-secret", R"({"all":false})").status == 400);
  CHECK(e.call("POST", "/admin/v1/kill", "ops-secret", R"({"agent":"a","user":"b"})").status == 400);
  CHECK(e.call("POST", "/admin/v1/kill", "ops-secret", R"({"planet":"mars"})").status == 400);
  CHECK(e.call("POST", "/admin/v1/kill", "ops-secret", R"({"reason":"no target"})").status == 400);
  CHECK(e.call("POST", "/admin/v1/kill", "ops-secret", R"({"agent":""})").status == 400);
  CHECK(e.kills.list().empty());
  auto r = e.call("POST", "/admin/v1/kill", "ops-secret", R"({"all":true})");
  CHECK(r.status == 201);
  CHECK(body(r)["kind"] == "all");
}

TEST_CASE("delete lifts a switch, and lifting it again is 404") {
  Env e;
  auto r = e.call("POST", "/admin/v1/kill", "ops-secret", R"({"upstream":"crm"})");
  REQUIRE(r.status == 201);
  std::string id = body(r)["id"];
  CHECK(e.call("DELETE", "/admin/v1/kill/" + id, "viewer-secret").status == 403);
  CHECK(e.call("DELETE", "/admin/v1/kill/" + id, "ops-secret").status == 200);
  CHECK(e.kills.list().empty());
  CHECK(e.call("DELETE", "/admin/v1/kill/" + id, "ops-secret").status == 404);
  CHECK(e.audit.back()["action"] == "lift");
}

TEST_CASE("bad JSON in a body is 400") {
  Env e;
  auto r = e.call("POST", "/admin/v1/kill", "ops-secret", "{\"agent\":");
  CHECK(r.status == 400);
  CHECK(body(r)["error"]["code"] == "bad_request");
  CHECK(e.call("POST", "/admin/v1/kill", "ops-secret", "[1,2]").status == 400);
  CHECK(e.call("POST", "/admin/v1/kill", "ops-secret", "").status == 400);
}

TEST_CASE("an unknown path is 404 and a wrong method is 405 with Allow") {
  Env e;
  CHECK(e.call("GET", "/admin/v1/nope", "ops-secret").status == 404);
  CHECK(e.call("GET", "/admin/v1/kill/a/b", "ops-secret").status == 404);
  CHECK(e.call("GET", "/elsewhere").status == 404);
  auto r = e.call("DELETE", "/admin/v1/agents", "ops-secret");
  CHECK(r.status == 405);
  CHECK(header(r, "Allow") == "GET");
  CHECK(e.call("PUT", "/admin/v1/kill", "ops-secret").status == 405);
}

TEST_CASE("approvals can be listed, approved once, and a replay is 409") {
  Env e;
  int resolved = 0;
  HeldCall c;
  c.agent = "support-bot";
  c.owner = "alice@example.com";
  c.upstream = "crm";
  c.tool = "delete_record";
  c.arguments_redacted = {{"id", "r-1"}};
  c.arguments_hash = "aa11";
  c.created = std::chrono::system_clock::now();
  c.deadline = c.created + std::chrono::minutes(5);
  auto id = e.approvals.hold(c, [&](const ApprovalOutcome& o) { resolved += o.approved() ? 1 : 100; });
  REQUIRE(id.ok());

  auto list = body(e.call("GET", "/admin/v1/approvals", "viewer-secret"));
  REQUIRE(list["approvals"].size() == 1);
  CHECK(list["approvals"][0]["id"] == *id);
  CHECK(list["approvals"][0]["arguments"]["id"] == "r-1");

  // The owner's token cannot approve their own agent's call.
  auto self = e.call("POST", "/admin/v1/approvals/" + *id + "/approve", "alice-secret");
  CHECK(self.status == 403);
  CHECK(body(self)["error"]["code"] == "self_approval");
  CHECK(e.audit.back()["outcome"] == "refused");

  CHECK(e.call("POST", "/admin/v1/approvals/" + *id + "/approve", "ops-secret", R"({"arguments_hash":"zz"})").status ==
        409);
  CHECK(e.call("POST", "/admin/v1/approvals/" + *id + "/approve", "ops-secret", R"({"arguments_hash":"aa11"})").status ==
        200);
  CHECK(resolved == 1);
  auto replay = e.call("POST", "/admin/v1/approvals/" + *id + "/deny", "ops-secret");
  CHECK(replay.status == 409);
  CHECK(resolved == 1);
  CHECK(e.call("POST", "/admin/v1/approvals/ap_unknown/approve", "ops-secret").status == 404);
}

TEST_CASE("killing an agent kills its held calls") {
  Env e;
  ApprovalOutcome out;
  HeldCall c;
  c.agent = "support-bot";
  c.owner = "alice@example.com";
  c.created = std::chrono::system_clock::now();
  c.deadline = c.created + std::chrono::minutes(5);
  REQUIRE(e.approvals.hold(c, [&](const ApprovalOutcome& o) { out = o; }).ok());
  REQUIRE(e.call("POST", "/admin/v1/kill", "ops-secret", R"({"owner":"alice@example.com"})").status == 201);
  CHECK(out.kind == ApprovalOutcomeKind::kKilled);
  CHECK(e.approvals.pending_count() == 0);
}

TEST_CASE("decisions passes agent and limit to the hook and validates limit") {
  Env e;
  auto r = e.call("GET", "/admin/v1/decisions?agent=support%2Dbot&limit=20", "viewer-secret");
  REQUIRE(r.status == 200);
  CHECK(e.decisions_agent == "support-bot");
  CHECK(e.decisions_limit == 20);
  CHECK(body(r)["decisions"][0]["decision_id"] == "d-1");
  CHECK(e.call("GET", "/admin/v1/decisions?limit=0", "viewer-secret").status == 400);
  CHECK(e.call("GET", "/admin/v1/decisions?limit=abc", "viewer-secret").status == 400);
  CHECK(e.call("GET", "/admin/v1/decisions", "viewer-secret").status == 200);
  CHECK(e.decisions_limit == 50);
}

TEST_CASE("reload and rotate call their hooks, need operator, and are audited") {
  Env e;
  CHECK(e.call("POST", "/admin/v1/reload", "viewer-secret").status == 403);
  CHECK(e.call("POST", "/admin/v1/reload", "ops-secret").status == 200);
  CHECK(e.audit.back()["action"] == "reload");
  CHECK(e.call("POST", "/admin/v1/credentials/crm-oauth/rotate", "ops-secret").status == 200);
  CHECK(e.audit.back()["action"] == "rotate");
  CHECK(e.audit.back()["provider"] == "crm-oauth");
  CHECK(e.call("POST", "/admin/v1/credentials/nope/rotate", "ops-secret").status == 404);
}

TEST_CASE("an operator accepts a changed tool definition; viewers can list the catalog") {
  Env e;
  nlohmann::json v1 = {{"name", "read_record"}, {"description", "v1"}};
  nlohmann::json v2 = {{"name", "read_record"}, {"description", "v2"}};
  e.catalog.observe("crm", v1);
  e.catalog.observe("crm", v2);
  REQUIRE(e.catalog.find("crm", "read_record")->held());
  auto listed = e.call("GET", "/admin/v1/tools", "viewer-secret");
  CHECK(listed.status == 200);
  CHECK(body(listed)["tools"][0]["held"] == true);

  std::string fp2 = policy::ToolCatalog::fingerprint(v2);
  std::string path = "/admin/v1/tools/crm/read_record/accept";
  CHECK(e.call("POST", path, "viewer-secret", R"({"fingerprint":")" + fp2 + "\"}").status == 403);
  CHECK(e.call("POST", path, "ops-secret", R"({"fingerprint":"ABC"})").status == 400);
  CHECK(e.call("POST", path, "ops-secret", R"({"fp":"x"})").status == 400);
  CHECK(e.call("GET", path, "ops-secret").status == 405);
  CHECK(e.catalog.find("crm", "read_record")->held());

  auto ok = e.call("POST", path, "ops-secret", R"({"fingerprint":")" + fp2 + "\"}");
  CHECK(ok.status == 200);
  CHECK(body(ok)["released"] == true);
  CHECK_FALSE(e.catalog.find("crm", "read_record")->held());
  CHECK(e.audit.back()["action"] == "accept_tool");
  CHECK(e.audit.back()["admin"] == "ops");
  CHECK(e.audit.back()["fingerprint"] == fp2);

  e.save_fails = true;
  auto failed = e.call("POST", path, "ops-secret", R"({"fingerprint":")" + std::string(64, 'c') + "\"}");
  CHECK(failed.status == 500);
  CHECK(e.audit.back()["outcome"] == "failed");
}

TEST_CASE("the web page is served without a token with a strict CSP") {
  Env e;
  auto r = e.call("GET", "/admin/");
  CHECK(r.status == 200);
  CHECK(r.content_type.find("text/html") == 0);
  CHECK(r.body.find("Portcullis admin") != std::string::npos);
  CHECK(header(r, "Content-Security-Policy").find("script-src 'self'") != std::string::npos);
  auto js = e.call("GET", "/admin/app.js");
  CHECK(js.status == 200);
  CHECK(js.body.find("textContent") != std::string::npos);
  CHECK(e.call("GET", "/admin").status == 308);
  CHECK(e.call("POST", "/admin/").status == 405);
}

TEST_CASE("responses never contain token hashes or tokens") {
  Env e;
  for (std::string path : {"/admin/v1/agents", "/admin/v1/kill", "/admin/v1/approvals"}) {
    auto r = e.call("GET", path, "ops-secret");
    CHECK(r.body.find(sha256_hex("ops-secret")) == std::string::npos);
    CHECK(r.body.find("ops-secret") == std::string::npos);
  }
}

TEST_CASE("set_tokens replaces the accepted tokens") {
  Env e;
  CHECK(e.call("GET", "/admin/v1/agents", "new-secret").status == 401);
  e.api.set_tokens({{"new", sha256_hex("new-secret"), {"viewer"}}});
  CHECK(e.call("GET", "/admin/v1/agents", "new-secret").status == 200);
  CHECK(e.call("GET", "/admin/v1/agents", "ops-secret").status == 401);
}

}  // namespace
}  // namespace portcullis::admin
