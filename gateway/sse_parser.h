// Splits a text/event-stream into whole events as bytes arrive, so the relay
// forwards event by event (never half an event, never the whole stream) and
// can look inside an event when a later stage needs to.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::gateway {

struct SseEvent {
  std::string raw;   // the event's bytes including its terminating blank line
  std::string id;    // last `id:` field
  std::string type;  // `event:` field, empty means "message"
  std::string data;  // `data:` lines joined with '\n'
  bool comment_only = false;  // only comments/keepalives (": ping")
};

class SseParser {
 public:
  explicit SseParser(std::size_t max_event_bytes = 4 << 20) : max_event_(max_event_bytes) {}

  // Appends bytes and moves every event they complete into `out`. Returns
  // false when one event exceeds the bound (the stream should be dropped).
  bool feed(std::string_view bytes, std::vector<SseEvent>& out);

  // Bytes of an incomplete trailing event.
  std::size_t pending() const { return buf_.size() - start_; }

 private:
  void parse_fields(SseEvent& ev) const;
  std::string buf_;
  std::size_t start_ = 0;  // start of the current event in buf_
  std::size_t line_ = 0;   // start of the current unterminated line
  std::size_t max_event_;
};

// Serializes one `message` event (what the gateway emits for its own replies).
std::string sse_message(std::string_view json, std::string_view id = {});

// Appends a piece of a JSON text as the continuation of an event's `data:`
// field: each line break (CR or LF: in JSON only whitespace between tokens,
// since strings escape them) starts a new `data:` line, which a client joins
// back with a newline. Lets a JSON body be streamed into one event.
void append_data_lines(std::string& out, std::string_view json_piece);

}  // namespace portcullis::gateway
