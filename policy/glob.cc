#include "policy/glob.h"

namespace portcullis::policy {

Glob::Glob(std::string_view pattern) : pattern_(pattern) {
  std::vector<Segment> parts(1);
  int stars = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '*') {
      ++stars;
      parts.emplace_back();
      continue;
    }
    bool any = c == '?';
    if (c == '\\' && i + 1 < pattern.size()) c = pattern[++i];
    parts.back().bytes.push_back(c);
    parts.back().any.push_back(any);
    parts.back().has_any |= any;
  }
  const Segment& head = parts.front();
  for (std::size_t i = 0; i < head.bytes.size() && !head.any[i]; ++i) prefix_.push_back(head.bytes[i]);
  if (stars == 0) {
    literal_ = !head.has_any;
    segments_.push_back(head);
    return;
  }
  literal_ = false;
  lead_star_ = parts.front().bytes.empty();
  trail_star_ = parts.back().bytes.empty();
  for (Segment& s : parts) {
    if (!s.bytes.empty()) segments_.push_back(std::move(s));
  }
  everything_ = segments_.empty();
}

bool Glob::segment_at(const Segment& s, std::string_view subject, std::size_t pos) const {
  if (pos + s.bytes.size() > subject.size()) return false;
  if (!s.has_any) return subject.compare(pos, s.bytes.size(), s.bytes) == 0;
  for (std::size_t i = 0; i < s.bytes.size(); ++i) {
    if (!s.any[i] && subject[pos + i] != s.bytes[i]) return false;
  }
  return true;
}

// Leftmost position in [from, end) where `s` fits entirely before `end`, or npos.
std::size_t Glob::find_segment(const Segment& s, std::string_view subject, std::size_t from,
                               std::size_t end) const {
  if (s.bytes.size() > end || from > end - s.bytes.size()) return std::string_view::npos;
  std::string_view window = subject.substr(0, end);
  if (!s.has_any) return window.find(s.bytes, from);
  for (std::size_t p = from; p + s.bytes.size() <= end; ++p) {
    if (segment_at(s, window, p)) return p;
  }
  return std::string_view::npos;
}

bool Glob::matches(std::string_view subject) const {
  if (everything_) return true;
  if (literal_) return subject == prefix_;
  if (!lead_star_ && !trail_star_ && segments_.size() == 1) {
    // No star, only `?`: exact length.
    const Segment& s = segments_.front();
    return subject.size() == s.bytes.size() && segment_at(s, subject, 0);
  }
  // At least one star from here on.
  std::size_t first = 0;
  std::size_t last = segments_.size();
  std::size_t begin = 0;
  std::size_t end = subject.size();
  if (!lead_star_) {
    const Segment& s = segments_.front();
    if (!segment_at(s, subject, 0)) return false;
    begin = s.bytes.size();
    ++first;
  }
  if (!trail_star_) {
    const Segment& s = segments_.back();
    if (s.bytes.size() > end - begin) return false;  // head and tail may not overlap
    if (!segment_at(s, subject, end - s.bytes.size())) return false;
    end -= s.bytes.size();
    --last;
  }
  for (std::size_t i = first; i < last; ++i) {
    std::size_t at = find_segment(segments_[i], subject, begin, end);
    if (at == std::string_view::npos) return false;
    begin = at + segments_[i].bytes.size();
  }
  return true;
}

}  // namespace portcullis::policy
