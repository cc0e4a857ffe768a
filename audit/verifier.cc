#include "audit/verifier.h"

#include <map>
#include <optional>

#include "audit/env.h"
#include "audit/log_format.h"
#include "audit/record.h"
#include "audit/signer.h"
#include "common/encoding.h"

namespace portcullis::audit {
namespace {

class ChainVerifier {
 public:
  ChainVerifier(std::string dir, const VerifyOptions& opt, Env* env, VerifyReport& report)
      : dir_(std::move(dir)), opt_(opt), env_(env), report_(report) {
    chain_.dir = dir_;
  }

  void run() {
    if (setup_trust() && verify_segments()) finish();
    chain_.ok = !failed_;
    report_.chains.push_back(chain_);
  }

 private:
  bool error(const std::string& file, std::uint64_t seq, std::string reason) {
    report_.errors.push_back({dir_, file, seq, std::move(reason)});
    report_.ok = false;
    failed_ = true;
    return false;
  }
  void warn(const std::string& file, std::uint64_t seq, std::string reason) {
    report_.warnings.push_back({dir_, file, seq, std::move(reason)});
  }

  bool setup_trust() {
    if (!opt_.trusted_public_keys.empty()) {
      for (const auto& k : opt_.trusted_public_keys) {
        auto pub = ed25519_public_from_bytes(k);
        if (!pub) return error("", 0, "trusted public key: " + pub.error().message);
        trusted_[ed25519_key_id(*pub)] = *pub;
      }
      chain_.trust = "pinned key(s)";
      for (const auto& [id, _] : trusted_) chain_.trust += " " + id;
      return true;
    }
    std::string path = join_path(dir_, kPubkeyFile);
    if (env_->exists(path)) {
      auto data = env_->read_file(path);
      if (!data) return error(std::string(kPubkeyFile), 0, data.error().message);
      auto pub = ed25519_public_from_bytes(*data);
      if (!pub) return error(std::string(kPubkeyFile), 0, pub.error().message);
      trusted_[ed25519_key_id(*pub)] = *pub;
      chain_.trust = "the directory's own " + std::string(kPubkeyFile) + " (" + ed25519_key_id(*pub) + ")";
      warn(std::string(kPubkeyFile), 0,
           "no trusted key given: trusting the directory's own key " + ed25519_key_id(*pub) +
               " (anyone who can write the directory can replace it; pass --pubkey to pin the key)");
      return true;
    }
    trust_first_ = true;
    chain_.trust = "the first checkpoint's key (no key given, no " + std::string(kPubkeyFile) + ")";
    warn("", 0, "no trusted key and no " + std::string(kPubkeyFile) + ": trusting the first checkpoint's key");
    return true;
  }

  bool verify_segments() {
    auto names = env_->list_dir(dir_);
    if (!names) return error("", 0, names.error().message);
    auto segs = sorted_segments(*names);
    if (segs.empty()) return error("", 0, "no audit segments (audit-<seq>.log) in the directory");
    for (std::size_t i = 0; i < segs.size(); ++i) {
      const std::string& file = segs[i];
      bool last = i + 1 == segs.size();
      auto data = env_->read_file(join_path(dir_, file));
      if (!data) return error(file, 0, data.error().message);
      ++chain_.segments;
      SegmentScan scan = scan_segment(*data);
      if (scan.entries.empty() && !scan.bad) {
        if (!last) return error(file, expected_seq_.value_or(0), "empty segment in the middle of the chain");
        continue;
      }
      std::uint64_t name_seq = *parse_segment_name(file);
      if (!scan.entries.empty() && scan.entries.front().line.seq != name_seq)
        return error(file, scan.entries.front().line.seq,
                     "segment name says its first record is seq " + std::to_string(name_seq) + " but it is seq " +
                         std::to_string(scan.entries.front().line.seq) + " (segment renamed or swapped)");
      for (const auto& e : scan.entries)
        if (!verify_record(file, e.line)) return false;
      if (scan.bad) {
        std::uint64_t seq = expected_seq_.value_or(name_seq);
        std::string where = "offset " + std::to_string(scan.bad_offset) + ": ";
        if (last && scan.incomplete_tail && !scan.valid_after_bad) {
          warn(file, seq, where + scan.bad_reason + "; the log truncates it at its next open");
        } else if (scan.incomplete_tail) {
          return error(file, seq, where + "segment ends in the middle of a record (segment truncated)");
        } else {
          return error(file, seq, where + scan.bad_reason);
        }
      }
    }
    return true;
  }

  bool verify_record(const std::string& file, const DecodedLine& d) {
    const auto& b = d.body;
    std::uint64_t seq = d.seq;
    const std::string& prev = b["prev"].get_ref<const std::string&>();
    const std::string& inst = b["instance"].get_ref<const std::string&>();
    if (b["schema"] != kSchema) return error(file, seq, "unknown schema " + b["schema"].dump());
    if (!expected_seq_) {
      chain_.first_seq = seq;
      chain_.instance = inst;
      if (seq == 1) {
        if (prev != kGenesisHash) return error(file, seq, "first record of the chain does not start from genesis");
      } else if (!opt_.allow_pruned_head) {
        return error(file, seq,
                     "chain starts at seq " + std::to_string(seq) +
                         ", not 1 (earlier segments deleted; use --allow-pruned if retention removed them)");
      }
    } else {
      if (seq != *expected_seq_)
        return error(file, seq,
                     "expected seq " + std::to_string(*expected_seq_) + ", found seq " + std::to_string(seq) +
                         (seq > *expected_seq_ ? " (records or a segment deleted)"
                                               : " (record inserted, duplicated or reordered)"));
      if (prev != prev_hash_)
        return error(file, seq,
                     "prev does not match the hash of seq " + std::to_string(seq - 1) +
                         " (record inserted, replaced or reordered)");
    }
    if (inst != chain_.instance)
      return error(file, seq, "record of instance '" + inst + "' in the chain of '" + chain_.instance + "'");
    const std::string& k = b["kind"].get_ref<const std::string&>();
    if (k == kind::kCheckpoint && !verify_checkpoint(file, seq, b)) return false;
    if (k == kind::kKeyRotation && !verify_rotation(file, seq, b)) return false;
    prev_hash_ = d.hash;
    expected_seq_ = seq + 1;
    chain_.last_seq = seq;
    ++chain_.records;
    return true;
  }

  static std::optional<std::string> b64_field(const nlohmann::json& o, const char* key) {
    if (!o.contains(key) || !o[key].is_string()) return std::nullopt;
    return encoding::base64_decode(o[key].get<std::string>(),
                                   {encoding::Base64Alphabet::kStandard, encoding::Base64Padding::kRequired});
  }

  bool verify_checkpoint(const std::string& file, std::uint64_t seq, const nlohmann::json& b) {
    if (!b.contains("checkpoint") || !b["checkpoint"].is_object())
      return error(file, seq, "checkpoint record without a checkpoint object");
    const auto& c = b["checkpoint"];
    auto pub = b64_field(c, "public_key");
    auto sig = b64_field(c, "signature");
    if (!pub || pub->size() != 32 || !sig || !c.contains("seq") || !c["seq"].is_number_unsigned() ||
        !c.contains("hash") || !c["hash"].is_string() || !c.contains("time") || !c["time"].is_string() ||
        !c.contains("instance") || !c["instance"].is_string() || !c.contains("key_id"))
      return error(file, seq, "checkpoint object incomplete");
    std::uint64_t cseq = c["seq"].get<std::uint64_t>();
    const std::string& chash = c["hash"].get_ref<const std::string&>();
    if (cseq + 1 != seq || chash != b["prev"].get<std::string>() || c["instance"] != b["instance"])
      return error(file, seq, "checkpoint does not sign the record before it");
    std::string kid = ed25519_key_id(*pub);
    if (c["key_id"] != kid) return error(file, seq, "checkpoint key_id does not match its public key");
    if (!ed25519_verify(*pub, checkpoint_message(c["instance"].get<std::string>(), cseq, chash,
                                                 c["time"].get<std::string>()),
                        *sig))
      return error(file, seq, "checkpoint signature is invalid");
    ++chain_.checkpoints;
    if (trust_first_ && trusted_.empty()) trusted_[kid] = *pub;
    if (trusted_.count(kid)) {
      // A trusted signature over this hash vouches, through the chain, for
      // every record before it, including earlier checkpoints by other keys.
      pending_untrusted_.clear();
      chain_.last_signed_seq = seq;
    } else {
      pending_untrusted_.push_back({dir_, file, seq, "checkpoint signed by untrusted key " + kid});
    }
    return true;
  }

  bool verify_rotation(const std::string& file, std::uint64_t seq, const nlohmann::json& b) {
    if (!b.contains("key_rotation") || !b["key_rotation"].is_object())
      return error(file, seq, "key_rotation record without a key_rotation object");
    const auto& r = b["key_rotation"];
    auto pub = b64_field(r, "new_public_key");
    if (!pub || pub->size() != 32 || !r.contains("old_key_id") || !r["old_key_id"].is_string())
      return error(file, seq, "key_rotation object incomplete");
    std::string old_id = r["old_key_id"].get<std::string>();
    std::string new_id = ed25519_key_id(*pub);
    if (!r.contains("signature") || r["signature"].is_null()) {
      warn(file, seq,
           "signing key changed from " + old_id + " to " + new_id +
               " without a hand-over signed by the previous key");
      return true;
    }
    auto sig = b64_field(r, "signature");
    auto old_pub = b64_field(r, "old_public_key");
    if (!old_pub || old_pub->size() != 32 || ed25519_key_id(*old_pub) != old_id)
      return error(file, seq, "key_rotation old_public_key missing or not matching old_key_id");
    if (!sig || !ed25519_verify(*old_pub,
                                rotation_message(b["instance"].get<std::string>(), seq - 1,
                                                 b["prev"].get<std::string>(), r["new_public_key"].get<std::string>()),
                                *sig))
      return error(file, seq, "key_rotation signature by " + old_id + " is invalid");
    if (trusted_.count(old_id)) trusted_[new_id] = *pub;
    return true;
  }

  void finish() {
    if (!pending_untrusted_.empty()) {
      auto f = pending_untrusted_.front();
      error(f.file, f.seq, f.reason + " and not covered by a later trusted checkpoint");
      return;
    }
    chain_.unsigned_tail = chain_.last_seq - chain_.last_signed_seq;
    if (chain_.records > 0 && chain_.last_signed_seq == 0)
      warn("", 0, "no trusted signed checkpoint: only the hash chain was checked");
    else if (chain_.unsigned_tail > 0)
      warn("", chain_.last_signed_seq,
           "unsigned tail of " + std::to_string(chain_.unsigned_tail) +
               " records after the last signed checkpoint (seq " + std::to_string(chain_.last_signed_seq) +
               "); they could be dropped or altered undetectably");
  }

  std::string dir_;
  const VerifyOptions& opt_;
  Env* env_;
  VerifyReport& report_;
  ChainReport chain_;
  bool failed_ = false;
  bool trust_first_ = false;
  std::map<std::string, std::string> trusted_;  // key id -> raw public key
  std::vector<Finding> pending_untrusted_;
  std::optional<std::uint64_t> expected_seq_;
  std::string prev_hash_;
};

}  // namespace

VerifyReport verify_audit_dirs(const std::vector<std::string>& dirs, const VerifyOptions& options) {
  VerifyReport report;
  Env* env = options.env ? options.env : Env::posix();
  if (dirs.empty()) {
    report.ok = false;
    report.errors.push_back({"", "", 0, "no directory given"});
  }
  for (const auto& d : dirs) ChainVerifier(d, options, env, report).run();
  return report;
}

std::string describe(const Finding& f) {
  std::string s = f.dir;
  if (!f.file.empty()) s = join_path(f.dir, f.file);
  if (f.seq) s += ": seq " + std::to_string(f.seq);
  return s + ": " + f.reason;
}

}  // namespace portcullis::audit
