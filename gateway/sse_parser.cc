#include "gateway/sse_parser.h"

namespace portcullis::gateway {

bool SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  buf_.append(bytes);
  // Line by line from the start of the current unterminated line; an event
  // ends at an empty line ("\n", "\r\n" or "\r").
  std::size_t i = line_;
  while (true) {
    std::size_t t = buf_.find_first_of("\r\n", i);
    if (t == std::string::npos) break;
    std::size_t next = t + 1;
    if (buf_[t] == '\r') {
      if (next >= buf_.size()) break;  // cannot tell "\r" from "\r\n" yet
      if (buf_[next] == '\n') ++next;
    }
    if (t == i) {
      if (t > start_) {  // a blank line right after another one is no event
        SseEvent ev;
        ev.raw.assign(buf_, start_, next - start_);
        parse_fields(ev);
        out.push_back(std::move(ev));
      }
      start_ = next;
    }
    i = next;
  }
  line_ = i;
  if (start_ == buf_.size()) {
    buf_.clear();
    start_ = line_ = 0;
  } else if (start_ > 64 * 1024) {
    buf_.erase(0, start_);
    line_ -= start_;
    start_ = 0;
  }
  return pending() <= max_event_;
}

void SseParser::parse_fields(SseEvent& ev) const {
  std::string_view s(ev.raw);
  bool any_field = false, first_data = true;
  while (!s.empty()) {
    std::size_t n = s.find_first_of("\r\n");
    std::string_view line = s.substr(0, n);
    if (n == std::string_view::npos) {
      s = {};
    } else {
      s.remove_prefix(n + ((s[n] == '\r' && n + 1 < s.size() && s[n + 1] == '\n') ? 2 : 1));
    }
    if (line.empty() || line[0] == ':') continue;
    any_field = true;
    std::size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (!first_data) ev.data += '\n';
      ev.data.append(value);
      first_data = false;
    } else if (field == "id") {
      ev.id.assign(value);
    } else if (field == "event") {
      ev.type.assign(value);
    }
  }
  ev.comment_only = !any_field;
}

std::string sse_message(std::string_view json, std::string_view id) {
  std::string out;
  out.reserve(json.size() + 32);
  out += "event: message\n";
  if (!id.empty()) {
    out += "id: ";
    out += id;
    out += '\n';
  }
  out += "data: ";
  out += json;
  out += "\n\n";
  return out;
}

void append_data_lines(std::string& out, std::string_view json_piece) {
  for (char ch : json_piece) {
    if (ch == '\n' || ch == '\r') out += "\ndata: ";
    else out += ch;
  }
}

}  // namespace portcullis::gateway
