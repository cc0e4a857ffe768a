// The on-disk format of audit segments, defined once for the writer
// (audit_log.cc), the verifier and the reader. See audit/README.md,
// "Segment format", for the prose version auditors read.
//
// A segment `audit-<first seq, 20 digits>.log` is JSON lines. Each line is
//
//   {"hash":"sha256:<64 hex>",<rest of the body>\n
//
// where body = "{" + <rest of the body> is the record's canonical JSON (keys
// sorted, no whitespace) without the hash field, and hash = SHA-256(body).
// The body holds `prev`, the previous record's hash, so the hashes form one
// chain across all segments of an instance. A line is valid only when it
// ends in '\n' and its hash matches: that detects a torn tail without a
// separate CRC, and the file stays plain JSON lines for export.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace portcullis::audit {

inline constexpr std::string_view kLinePrefix = "{\"hash\":\"sha256:";
inline constexpr std::size_t kLineHeaderLen = kLinePrefix.size() + 64 + 2;  // prefix, hex, `",`
// prev of the first record of a chain.
inline constexpr std::string_view kGenesisHash =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";
inline constexpr std::string_view kPubkeyFile = "audit-pubkey.pem";
inline constexpr std::string_view kHmacKeyFile = "audit-hmac.key";

// Frames a canonical body (a JSON object text without "hash") as one line
// ending in '\n'; sets *hash to "sha256:<hex>".
std::string encode_line(std::string_view body, std::string* hash);
// Same, appending the line to `out` (the writer reuses one buffer per batch).
void append_line(std::string& out, std::string_view body, std::string* hash);

struct DecodedLine {
  std::string hash;     // "sha256:<hex>", verified
  nlohmann::json body;  // envelope fields checked present and typed
  std::uint64_t seq = 0;
};

// Decodes one line (without its '\n'). On failure returns nullopt and sets
// *why to a reason for the verifier's report.
std::optional<DecodedLine> decode_line(std::string_view line, std::string* why);

std::string segment_name(std::uint64_t first_seq);
std::optional<std::uint64_t> parse_segment_name(std::string_view name);
// The segment names in `names`, sorted by first seq.
std::vector<std::string> sorted_segments(const std::vector<std::string>& names);

// One pass over a segment's bytes.
struct SegmentScan {
  struct Entry {
    std::size_t offset = 0;
    std::size_t length = 0;  // without '\n'
    DecodedLine line;
  };
  std::vector<Entry> entries;  // valid lines up to the first bad one
  std::size_t valid_end = 0;   // offset just after the last valid line
  // Zero bytes from valid_end to the end: the unused, preallocated part of a
  // segment being written (or of one the log did not get to truncate). Not
  // damage; the log truncates it at its next open.
  std::size_t zero_tail = 0;
  bool bad = false;            // some bytes after valid_end are not a valid line
  bool incomplete_tail = false;  // the bad part is only an unterminated last line
  std::size_t bad_offset = 0;
  std::string bad_reason;
  bool valid_after_bad = false;  // a valid, complete line exists after the bad one
};
SegmentScan scan_segment(std::string_view data);

// The exact bytes an Ed25519 checkpoint signature covers.
std::string checkpoint_message(std::string_view instance, std::uint64_t seq, std::string_view hash,
                               std::string_view time);
// The exact bytes a key_rotation signature (by the old key) covers.
std::string rotation_message(std::string_view instance, std::uint64_t seq, std::string_view hash,
                             std::string_view new_public_key_b64);

// Canonical JSON text: sorted keys, compact, invalid UTF-8 replaced.
std::string canonical_json(const nlohmann::json& j);
void canonical_json_into(std::string& out, const nlohmann::json& j);  // appends
void canonical_string_into(std::string& out, std::string_view s);     // a JSON string

// The envelope the log adds to every record.
struct Envelope {
  std::string_view instance;
  std::string_view kind;
  std::string_view prev;
  std::uint64_t seq = 0;
  std::string_view time;
};
// Appends the canonical body of `fields` (an object without envelope names)
// merged with `env`: the same bytes as canonical_json of the merged object,
// without building it.
void canonical_record_into(std::string& out, const nlohmann::json& fields, const Envelope& env);

// A record's fields written straight into canonical text, member by member,
// for the records of every call (decision, outcome): building them as a JSON
// tree cost ~60 allocations each, freed later on the writer thread. Members
// must be added in ascending byte order of their keys (as std::map sorts
// nlohmann objects), none an envelope name; the result is then byte for
// byte what canonical_record_into writes for the same fields as JSON.
class CanonicalFields {
 public:
  void add_string(std::string_view key, std::string_view value);
  void add_int(std::string_view key, std::int64_t value);
  void add_uint(std::string_view key, std::uint64_t value);
  void add_null(std::string_view key);
  void add_json(std::string_view key, const nlohmann::json& value);
  // Writes `"key":` and returns the text to append the value to (canonical
  // JSON, e.g. with canonical_json_into).
  std::string& add_raw(std::string_view key);

  bool empty() const { return text_.empty(); }
  void reserve(std::size_t bytes) { text_.reserve(bytes); }
  // The fields as one JSON object (tests, tools; not the hot path).
  nlohmann::json to_json() const;

 private:
  friend void canonical_record_into(std::string&, const CanonicalFields&, const Envelope&);
  void key(std::string_view k);
  std::string text_;  // `,"key":value` per member
  std::array<std::uint32_t, 6> envelope_at_{};  // where each envelope member goes in text_
  std::size_t envelope_placed_ = 0;
  std::string_view last_key_;  // order check (keys are literals)
};
void canonical_record_into(std::string& out, const CanonicalFields& fields, const Envelope& env);

}  // namespace portcullis::audit
