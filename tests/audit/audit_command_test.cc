#include "audit/audit_command.h"

#include <doctest/doctest.h>

#include <sstream>

#include "audit/signer.h"
#include "test_util.h"

namespace portcullis::audit {
namespace {

std::string make_log(const testing::TempDir& d) {
  AuditLogOptions o;
  o.dir = d.sub("log");
  o.instance = "gw-1";
  o.signing_key = std::string(32, '\x03');
  auto log = AuditLog::open(o);
  REQUIRE(log);
  for (int i = 0; i < 5; ++i) REQUIRE(testing::append_sync(**log, testing::sample(i)));
  return o.dir;
}

TEST_CASE("audit verify exits 0 for an intact log and names the pinned key") {
  testing::TempDir d;
  std::string dir = make_log(d);
  testing::write_text(d.sub("pub.pem"), (*Signer::from_bytes(std::string(32, '\x03')))->public_pem());
  std::ostringstream out, err;
  CHECK(audit_verify_command({dir, "--pubkey", d.sub("pub.pem")}, out, err) == 0);
  CHECK(out.str().find("OK") != std::string::npos);
  CHECK(out.str().find("pinned key") != std::string::npos);
  CHECK(out.str().find("warning") == std::string::npos);
}

TEST_CASE("audit verify exits 1 and prints the first bad record") {
  testing::TempDir d;
  std::string dir = make_log(d);
  auto seg = testing::segment_files(dir)[0];
  auto lines = testing::split_lines(testing::read_text(seg));
  lines.erase(lines.begin() + 2);
  testing::write_text(seg, testing::join_lines(lines));
  std::ostringstream out, err;
  CHECK(audit_command({"verify", dir}, out, err) == 1);
  CHECK(out.str().find("FAILED: " + seg + ": seq 4: expected seq 3") != std::string::npos);
}

TEST_CASE("audit verify without a directory is a usage error") {
  std::ostringstream out, err;
  CHECK(audit_verify_command({}, out, err) == 2);
  CHECK(audit_command({"frobnicate"}, out, err) == 2);
}

TEST_CASE("audit tail prints the newest decisions as JSON lines, optionally as OCSF") {
  testing::TempDir d;
  std::string dir = make_log(d);
  std::ostringstream out, err;
  CHECK(audit_command({"tail", dir, "--limit", "2"}, out, err) == 0);
  auto lines = testing::split_lines(out.str());
  REQUIRE(lines.size() == 2);
  CHECK(nlohmann::json::parse(lines[0])["decision_id"] == "d-4");
  std::ostringstream o2;
  CHECK(audit_command({"export", dir, "--ocsf"}, o2, err) == 0);
  auto ev = testing::split_lines(o2.str());
  REQUIRE(ev.size() >= 5);
  CHECK(nlohmann::json::parse(ev[0])["class_uid"] == 6003);
}

}  // namespace
}  // namespace portcullis::audit
