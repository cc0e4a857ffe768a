// Length-prefixed fields (2-byte big-endian length, then the bytes): how the
// session sealer and the legacy endpoint handle pack what they seal. Simple,
// unambiguous and cheap to parse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::gateway::length_prefixed {

inline void put(std::string& out, std::string_view s) {
  auto n = static_cast<std::uint32_t>(s.size());
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n & 0xff));
  out.append(s);
}

inline bool get(std::string_view& in, std::string& out) {
  if (in.size() < 2) return false;
  std::size_t n = (static_cast<unsigned char>(in[0]) << 8) | static_cast<unsigned char>(in[1]);
  if (in.size() < 2 + n) return false;
  out.assign(in.substr(2, n));
  in.remove_prefix(2 + n);
  return true;
}

}  // namespace portcullis::gateway::length_prefixed
