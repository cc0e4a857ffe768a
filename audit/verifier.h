// Offline verification of audit directories (`portcullis audit verify`).
//
// Each directory holds the segments of one instance's chain. The verifier
// checks, per chain: every line's framing and hash; dense seq and prev links
// within and across segments; segment names against their first record; one
// instance per chain; every checkpoint's Ed25519 signature and that it signs
// the record before it; key_rotation hand-overs; and that the checkpoints are
// signed by a trusted key (pinned with trusted_public_keys, else the
// directory's audit-pubkey.pem, else the first checkpoint's key, each said in
// a warning). It stops a chain at its first error: later errors would only
// be consequences.
//
// Records after the last signed checkpoint can be dropped or rewritten
// without breaking anything checkable; they are reported as an unsigned tail
// (a warning). The log writes a checkpoint at every rotation and clean
// shutdown, so a clean log has no unsigned tail.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace portcullis::audit {

class Env;

struct VerifyOptions {
  // Trusted Ed25519 public keys (PEM or 32 raw bytes). Empty: trust the
  // directory's audit-pubkey.pem (or, failing that, the first checkpoint).
  std::vector<std::string> trusted_public_keys;
  // Accept a chain whose first segment starts after seq 1 (older segments
  // removed by retention). Otherwise that is an error.
  bool allow_pruned_head = false;
  Env* env = nullptr;  // default Env::posix()
};

struct Finding {
  std::string dir;
  std::string file;    // segment file name, empty for dir-level findings
  std::uint64_t seq = 0;  // 0 when no record is concerned
  std::string reason;
};

struct ChainReport {
  std::string dir;
  std::string instance;
  std::uint64_t segments = 0;
  std::uint64_t records = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t last_signed_seq = 0;  // seq of the last trusted checkpoint record
  std::uint64_t unsigned_tail = 0;    // records after it
  std::string trust;                  // which key(s) were trusted and why
  bool ok = true;
};

struct VerifyReport {
  bool ok = true;
  std::vector<Finding> errors;  // at most one per chain: its first bad record
  std::vector<Finding> warnings;
  std::vector<ChainReport> chains;
};

VerifyReport verify_audit_dirs(const std::vector<std::string>& dirs, const VerifyOptions& options = {});

// "file: seq N: reason" (or "dir: reason").
std::string describe(const Finding& f);

}  // namespace portcullis::audit
