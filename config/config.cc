#include "config/config.h"

namespace portcullis::config {

const UpstreamConfig* Config::upstream_by_path(std::string_view path) const {
  for (const UpstreamConfig& u : upstreams) {
    if (u.path == path) return &u;
  }
  return nullptr;
}

const UpstreamConfig* Config::upstream_by_name(std::string_view name) const {
  for (const UpstreamConfig& u : upstreams) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

const AgentConfig* Config::agent(std::string_view id) const {
  for (const AgentConfig& a : agents) {
    if (a.id == id) return &a;
  }
  return nullptr;
}

const UserConfig* Config::user(std::string_view sub) const {
  for (const UserConfig& u : users) {
    if (u.sub == sub) return &u;
  }
  return nullptr;
}

}  // namespace portcullis::config
