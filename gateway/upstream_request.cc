#include "gateway/upstream_request.h"

namespace portcullis::gateway {

std::string host_header(const config::UpstreamConfig& up) {
  bool default_port = (up.scheme == "http" && up.port == 80) || (up.scheme == "https" && up.port == 443);
  std::string host = up.host.find(':') != std::string::npos ? "[" + up.host + "]" : up.host;
  return default_port ? host : host + ":" + std::to_string(up.port);
}

credentials::CallIdentity call_identity(const RequestContext& ctx) {
  credentials::CallIdentity w;
  if (ctx.principal) {
    w.agent_id = ctx.principal->agent_id;
    w.user = ctx.principal->user;
    w.subject_token_exp = ctx.principal->expires_at;
  } else {
    w.agent_id = "anonymous";
  }
  w.subject_token = ctx.bearer;
  return w;
}

}  // namespace portcullis::gateway
