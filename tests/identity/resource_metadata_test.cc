#include "identity/resource_metadata.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

using namespace portcullis::identity;

TEST_CASE("the metadata URL inserts the well-known path before the route") {
  CHECK(resource_metadata_url("https://gw.example/", "/mcp/crm") ==
        "https://gw.example/.well-known/oauth-protected-resource/mcp/crm");
  CHECK(resource_uri("https://gw.example", "/mcp/crm") == "https://gw.example/mcp/crm");
}

TEST_CASE("the metadata document names resource, issuers, scopes and header bearer") {
  auto doc = nlohmann::json::parse(
      protected_resource_metadata("https://gw/mcp/crm", {"https://as1", "https://as2"}, {"mcp.read"}));
  CHECK(doc["resource"] == "https://gw/mcp/crm");
  CHECK(doc["authorization_servers"] == nlohmann::json({"https://as1", "https://as2"}));
  CHECK(doc["scopes_supported"] == nlohmann::json({"mcp.read"}));
  CHECK(doc["bearer_methods_supported"] == nlohmann::json({"header"}));
  auto no_scopes = nlohmann::json::parse(protected_resource_metadata("r", {}, {}));
  CHECK_FALSE(no_scopes.contains("scopes_supported"));
}
