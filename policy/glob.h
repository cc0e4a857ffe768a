// Glob: a compiled `*`/`?` pattern over bytes, for upstream, tool, resource
// URI and argument-value patterns in policy files.
//
//   `*` matches any run of bytes (empty included, `/` included); `?` matches
//   exactly one byte; `\` escapes the next byte (`\*` is a literal star).
//   Everything else matches itself byte for byte: no case folding and no
//   Unicode normalization, so "reаd_x" (Cyrillic а, two bytes) never matches
//   "read_*" or "re?d_*".
//
// Matching is linear in the subject for a given pattern (segments between
// stars are placed leftmost, one pass, no backtracking across segments).
// Immutable after construction; safe to share between threads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::policy {

class Glob {
 public:
  Glob() = default;  // matches only the empty string
  explicit Glob(std::string_view pattern);

  bool matches(std::string_view subject) const;

  const std::string& pattern() const { return pattern_; }
  // No wildcard at all: the pattern is the literal string literal_prefix().
  bool is_literal() const { return literal_; }
  // The bytes every match starts with (up to the first wildcard, unescaped).
  const std::string& literal_prefix() const { return prefix_; }
  // "*", "**", ...: matches every subject.
  bool matches_everything() const { return everything_; }

 private:
  // One run of pattern between stars; kAny marks a `?` position.
  struct Segment {
    std::string bytes;
    std::vector<bool> any;  // any[i]: bytes[i] is a `?`
    bool has_any = false;
  };
  bool segment_at(const Segment& s, std::string_view subject, std::size_t pos) const;
  std::size_t find_segment(const Segment& s, std::string_view subject, std::size_t from,
                           std::size_t end) const;

  std::string pattern_;
  std::string prefix_;
  std::vector<Segment> segments_;
  bool lead_star_ = false;
  bool trail_star_ = false;
  bool literal_ = true;
  bool everything_ = false;
};

}  // namespace portcullis::policy
