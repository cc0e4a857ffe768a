#include "audit/verifier.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "audit/log_format.h"
#include "audit/signer.h"
#include "common/encoding.h"
#include "test_util.h"

namespace portcullis::audit {
namespace {

using testing::join_lines;
using testing::read_text;
using testing::segment_files;
using testing::split_lines;
using testing::TempDir;
using testing::write_text;

const std::string kKey(32, '\x05');

// A closed log of 40 decisions over several segments, checkpoints every 7.
std::string make_log(const TempDir& d, const std::string& name = "log", const std::string& instance = "gw-1") {
  AuditLogOptions o;
  o.dir = d.sub(name);
  o.instance = instance;
  o.signing_key = kKey;
  o.checkpoint_records = 7;
  o.segment_bytes = 2500;
  auto log = AuditLog::open(o);
  REQUIRE(log);
  for (int i = 0; i < 40; ++i) REQUIRE(testing::append_sync(**log, testing::sample(i)));
  (*log)->close();
  REQUIRE(segment_files(o.dir).size() >= 4);
  return o.dir;
}

VerifyOptions pinned() {
  VerifyOptions v;
  v.trusted_public_keys = {(*Signer::from_bytes(kKey))->public_pem()};
  return v;
}

Finding first_error(const VerifyReport& r) {
  REQUIRE_FALSE(r.ok);
  REQUIRE_FALSE(r.errors.empty());
  return r.errors.front();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

nlohmann::json body_of(const std::string& line) {
  auto j = nlohmann::json::parse(line);
  j.erase("hash");
  return j;
}

// What an attacker with write access but without the signing key can do:
// change records, then recompute every hash and prev (and checkpoint.hash)
// from there on so the chain is self-consistent again. `edit` gets
// (segment index, line index, body) and may change the body.
void rewrite_chain(const std::string& dir, const std::function<void(std::size_t, std::size_t, nlohmann::json&)>& edit,
                   const Signer* resign = nullptr) {
  std::string prev(kGenesisHash);
  auto segs = segment_files(dir);
  for (std::size_t s = 0; s < segs.size(); ++s) {
    std::string out;
    auto lines = split_lines(read_text(segs[s]));
    for (std::size_t l = 0; l < lines.size(); ++l) {
      auto b = body_of(lines[l]);
      edit(s, l, b);
      b["prev"] = prev;
      if (b["kind"] == "checkpoint") {
        auto& c = b["checkpoint"];
        c["hash"] = prev;
        if (resign) {
          c["public_key"] = encoding::base64_encode(resign->public_key());
          c["key_id"] = resign->key_id();
          c["signature"] = encoding::base64_encode(resign->sign(checkpoint_message(
              c["instance"].get<std::string>(), c["seq"].get<std::uint64_t>(), prev, c["time"].get<std::string>())));
        }
      }
      out += encode_line(canonical_json(b), &prev);
    }
    write_text(segs[s], out);
  }
}

TEST_CASE("an intact log verifies against its pinned key with no unsigned tail") {
  TempDir d;
  std::string dir = make_log(d);
  auto r = verify_audit_dirs({dir}, pinned());
  CHECK(r.ok);
  REQUIRE(r.chains.size() == 1);
  CHECK(r.chains[0].instance == "gw-1");
  CHECK(r.chains[0].first_seq == 1);
  CHECK(r.chains[0].records == r.chains[0].last_seq);
  CHECK(r.chains[0].unsigned_tail == 0);
  CHECK(r.warnings.empty());
}

TEST_CASE("an edited field is caught and the record is named") {
  TempDir d;
  std::string dir = make_log(d);
  auto segs = segment_files(dir);
  auto lines = split_lines(read_text(segs[1]));
  auto seq = nlohmann::json::parse(lines[2])["seq"].get<std::uint64_t>();
  auto pos = lines[2].find("\"decision\":\"allow\"");
  REQUIRE(pos != std::string::npos);
  lines[2].replace(pos, 18, "\"decision\":\"deny\" ");
  write_text(segs[1], join_lines(lines));
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(e.file == std::filesystem::path(segs[1]).filename().string());
  CHECK(e.seq == seq);
  CHECK(contains(e.reason, "hash mismatch"));
}

TEST_CASE("an edit with the whole chain recomputed is caught by the next checkpoint signature") {
  TempDir d;
  std::string dir = make_log(d);
  rewrite_chain(dir, [](std::size_t s, std::size_t l, nlohmann::json& b) {
    if (s == 0 && l == 3) b["decision"] = "deny";
  });
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(contains(e.reason, "checkpoint signature is invalid"));
  CHECK(e.seq == 8);  // the first checkpoint after seq 4
}

TEST_CASE("a chain re-signed with another key is caught by a pinned key") {
  TempDir d;
  std::string dir = make_log(d);
  auto attacker = Signer::generate();
  rewrite_chain(
      dir, [](std::size_t s, std::size_t l, nlohmann::json& b) {
        if (s == 0 && l == 3) b["decision"] = "deny";
      },
      attacker.get());
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(contains(e.reason, "untrusted key " + attacker->key_id()));
}

TEST_CASE("a deleted record is caught") {
  TempDir d;
  std::string dir = make_log(d);
  auto segs = segment_files(dir);
  auto lines = split_lines(read_text(segs[1]));
  auto seq = nlohmann::json::parse(lines[1])["seq"].get<std::uint64_t>();
  lines.erase(lines.begin() + 1);
  write_text(segs[1], join_lines(lines));
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(e.seq == seq + 1);
  CHECK(contains(e.reason, "expected seq " + std::to_string(seq)));
}

TEST_CASE("an inserted record is caught") {
  TempDir d;
  std::string dir = make_log(d);
  auto segs = segment_files(dir);
  auto lines = split_lines(read_text(segs[1]));
  lines.insert(lines.begin() + 2, lines[1]);  // a replayed copy
  write_text(segs[1], join_lines(lines));
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(contains(e.reason, "inserted"));
}

TEST_CASE("two reordered records are caught") {
  TempDir d;
  std::string dir = make_log(d);
  auto segs = segment_files(dir);
  auto lines = split_lines(read_text(segs[1]));
  std::swap(lines[1], lines[2]);
  write_text(segs[1], join_lines(lines));
  CHECK_FALSE(verify_audit_dirs({dir}, pinned()).ok);
}

TEST_CASE("a segment truncated in the middle of the chain is caught at a record boundary and mid-record") {
  TempDir d;
  std::string dir = make_log(d);
  auto segs = segment_files(dir);
  std::string original = read_text(segs[1]);
  auto lines = split_lines(original);
  lines.resize(lines.size() - 2);
  write_text(segs[1], join_lines(lines));
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(e.file == std::filesystem::path(segs[2]).filename().string());
  CHECK(contains(e.reason, "deleted"));

  write_text(segs[1], original.substr(0, original.size() - 40));
  const auto& e2 = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(e2.file == std::filesystem::path(segs[1]).filename().string());
  CHECK(contains(e2.reason, "segment truncated"));
}

TEST_CASE("two swapped segments are caught") {
  TempDir d;
  std::string dir = make_log(d);
  auto segs = segment_files(dir);
  std::string a = read_text(segs[1]), b = read_text(segs[2]);
  write_text(segs[1], b);
  write_text(segs[2], a);
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(contains(e.reason, "renamed or swapped"));
}

TEST_CASE("a deleted segment is caught") {
  TempDir d;
  std::string dir = make_log(d);
  auto segs = segment_files(dir);
  std::filesystem::remove(segs[2]);
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(e.file == std::filesystem::path(segs[3]).filename().string());
  CHECK(contains(e.reason, "deleted"));
}

TEST_CASE("a deleted first segment is caught unless pruning is allowed") {
  TempDir d;
  std::string dir = make_log(d);
  std::filesystem::remove(segment_files(dir)[0]);
  CHECK(contains(first_error(verify_audit_dirs({dir}, pinned())).reason, "not 1"));
  auto v = pinned();
  v.allow_pruned_head = true;
  CHECK(verify_audit_dirs({dir}, v).ok);
}

TEST_CASE("a replaced checkpoint signature is caught") {
  TempDir d;
  std::string dir = make_log(d);
  std::string other_sig;
  rewrite_chain(dir, [&](std::size_t, std::size_t, nlohmann::json& b) {
    if (b["kind"] != "checkpoint") return;
    if (other_sig.empty()) {
      other_sig = b["checkpoint"]["signature"];  // the first checkpoint's, reused on the second
    } else if (b["seq"] == 16) {
      b["checkpoint"]["signature"] = other_sig;
    }
  });
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(e.seq == 16);
  CHECK(contains(e.reason, "signature is invalid"));
}

TEST_CASE("a tail dropped after the last checkpoint is reported as an unsigned tail, not an error") {
  TempDir d;
  std::string dir = make_log(d);
  // Append two records after the final checkpoint, as a crash would leave them.
  {
    AuditLogOptions o;
    o.dir = dir;
    o.instance = "gw-1";
    o.signing_key = kKey;
    auto log = AuditLog::open(o);
    REQUIRE(log);
    REQUIRE(testing::append_sync(**log, testing::sample(100)));
    REQUIRE(testing::append_sync(**log, testing::sample(101)));
    (*log)->close();
  }
  auto segs = segment_files(dir);
  auto lines = split_lines(read_text(segs.back()));
  lines.pop_back();  // drop the closing checkpoint and one record
  lines.pop_back();
  write_text(segs.back(), join_lines(lines));
  auto r = verify_audit_dirs({dir}, pinned());
  CHECK(r.ok);
  CHECK(r.chains.at(0).unsigned_tail == 1);
  REQUIRE(r.warnings.size() == 1);
  CHECK(contains(r.warnings[0].reason, "unsigned tail of 1 records"));
}

TEST_CASE("a record spliced in from another instance is caught") {
  TempDir d;
  std::string dir = make_log(d);
  std::string other = make_log(d, "other", "gw-2");
  auto foreign = body_of(split_lines(read_text(segment_files(other)[0]))[0]);
  rewrite_chain(dir, [&](std::size_t s, std::size_t l, nlohmann::json& b) {
    if (s == 0 && l == 1) {
      foreign["seq"] = b["seq"];
      b = foreign;
    }
  });
  const auto& e = first_error(verify_audit_dirs({dir}, pinned()));
  CHECK(e.seq == 2);
  CHECK(contains(e.reason, "instance 'gw-2'"));
}

TEST_CASE("several replicas' directories are verified as separate chains") {
  TempDir d;
  std::string a = make_log(d, "a", "gw-1");
  std::string b = make_log(d, "b", "gw-2");
  auto r = verify_audit_dirs({a, b}, pinned());
  CHECK(r.ok);
  REQUIRE(r.chains.size() == 2);
  CHECK(r.chains[1].instance == "gw-2");
  auto segs = segment_files(b);
  std::filesystem::remove(segs[1]);
  auto r2 = verify_audit_dirs({a, b}, pinned());
  CHECK_FALSE(r2.ok);
  CHECK(r2.chains[0].ok);
  CHECK_FALSE(r2.chains[1].ok);
  CHECK(first_error(r2).dir == b);
}

TEST_CASE("an incomplete last line in the newest segment is a warning: the log may be mid-write") {
  TempDir d;
  std::string dir = make_log(d);
  auto segs = segment_files(dir);
  write_text(segs.back(), read_text(segs.back()) + "{\"hash\":\"sha256:ab");
  auto r = verify_audit_dirs({dir}, pinned());
  CHECK(r.ok);
  REQUIRE_FALSE(r.warnings.empty());
  CHECK(contains(r.warnings[0].reason, "incomplete last line"));
}

TEST_CASE("without a pinned key the directory's own key is trusted and the report says so") {
  TempDir d;
  std::string dir = make_log(d);
  auto r = verify_audit_dirs({dir});
  CHECK(r.ok);
  REQUIRE(r.warnings.size() == 1);
  CHECK(contains(r.warnings[0].reason, "pass --pubkey"));
  CHECK(contains(r.chains[0].trust, "audit-pubkey.pem"));
}

}  // namespace
}  // namespace portcullis::audit
