#include "policy/tool_catalog.h"

#include <doctest/doctest.h>

#include <thread>

using namespace portcullis::policy;

namespace {

nlohmann::json tool(const char* description) {
  return {{"name", "read_record"},
          {"description", description},
          {"inputSchema", {{"type", "object"}, {"properties", {{"id", {{"type", "string"}}}}}}},
          {"annotations", {{"readOnlyHint", true}}}};
}

}  // namespace

TEST_CASE("the fingerprint ignores key order and unrelated fields") {
  nlohmann::json a = tool("Reads");
  nlohmann::json b = nlohmann::json::parse(
      R"({"annotations":{"readOnlyHint":true},"inputSchema":{"properties":{"id":{"type":"string"}},"type":"object"},)"
      R"("name":"read_record","description":"Reads","title":"Read"})");
  CHECK(ToolCatalog::fingerprint(a) == ToolCatalog::fingerprint(b));
  CHECK(ToolCatalog::fingerprint(a).size() == 64);
  CHECK(ToolCatalog::fingerprint(a) != ToolCatalog::fingerprint(tool("Reads!")));
}

TEST_CASE("the first definition seen is pinned and a changed one is held") {
  ToolCatalog c;
  CHECK(c.observe("crm", tool("v1")) == ToolCatalog::Observation::kNew);
  CHECK(c.observe("crm", tool("v1")) == ToolCatalog::Observation::kUnchanged);
  CHECK_FALSE(c.find("crm", "read_record")->held());
  CHECK(c.observe("crm", tool("v2")) == ToolCatalog::Observation::kChanged);
  auto info = c.find("crm", "read_record");
  CHECK(info->held());
  CHECK(info->pinned_fingerprint == ToolCatalog::fingerprint(tool("v1")));
  CHECK(info->seen_fingerprint == ToolCatalog::fingerprint(tool("v2")));
  SUBCASE("changing back releases it") {
    CHECK(c.observe("crm", tool("v1")) == ToolCatalog::Observation::kUnchanged);
    CHECK_FALSE(c.find("crm", "read_record")->held());
  }
  SUBCASE("accepting the new fingerprint releases it") {
    CHECK_FALSE(c.accept("crm", "read_record", std::string(64, '0')));
    CHECK(c.find("crm", "read_record")->held());
    CHECK(c.accept("crm", "read_record", ToolCatalog::fingerprint(tool("v2"))));
    CHECK_FALSE(c.find("crm", "read_record")->held());
  }
}

TEST_CASE("the same tool name on two upstreams is two tools") {
  ToolCatalog c;
  c.observe("crm", tool("v1"));
  CHECK(c.observe("hr", tool("v2")) == ToolCatalog::Observation::kNew);
  CHECK(c.tools("crm").size() == 1);
  CHECK(c.all().size() == 2);
  CHECK(c.knows_upstream("hr"));
  CHECK_FALSE(c.knows_upstream("wiki"));
}

TEST_CASE("malformed tool objects are ignored") {
  ToolCatalog c;
  CHECK(c.observe("crm", nlohmann::json::array()) == ToolCatalog::Observation::kInvalid);
  CHECK(c.observe("crm", {{"name", 7}}) == ToolCatalog::Observation::kInvalid);
  c.observe_list("crm", {{"tools", {tool("v1"), 5, {{"description", "no name"}}}}});
  CHECK(c.all().size() == 1);
}

TEST_CASE("the catalog provides annotations and inputSchema") {
  ToolCatalog c;
  c.observe("crm", tool("v1"));
  auto info = c.find("crm", "read_record");
  CHECK(info->annotations["readOnlyHint"] == true);
  CHECK(info->input_schema["properties"].contains("id"));
  CHECK(c.find("crm", "missing") == nullptr);
}

TEST_CASE("pins survive a save and a load, and a changed tool is held after restart") {
  ToolCatalog before;
  before.observe("crm", tool("v1"));
  nlohmann::json saved = before.to_json();
  CHECK(saved["version"] == 1);
  CHECK(saved["pins"].size() == 1);

  ToolCatalog after;
  REQUIRE(after.load_json(saved).ok());
  CHECK_FALSE(after.find("crm", "read_record")->seen());
  CHECK(after.observe("crm", tool("v2")) == ToolCatalog::Observation::kChanged);
  CHECK(after.find("crm", "read_record")->held());
}

TEST_CASE("a malformed pin file is rejected and changes nothing") {
  ToolCatalog c;
  c.observe("crm", tool("v1"));
  CHECK_FALSE(c.load_json({{"version", 2}}).ok());
  CHECK_FALSE(c.load_json({{"version", 1}, {"pins", {{{"upstream", "crm"}, {"tool", "x"}, {"fingerprint", "short"}}}}}).ok());
  CHECK(c.all().size() == 1);
}

TEST_CASE("observing and reading from many threads is safe") {
  ToolCatalog c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 500; ++i) {
        nlohmann::json def = {{"name", "tool" + std::to_string(i % 50)}, {"description", std::to_string(t % 2)}};
        c.observe("up", def);
        auto info = c.find("up", "tool" + std::to_string(i % 50));
        CHECK(info != nullptr);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(c.tools("up").size() == 50);
}
