#include "credentials/token_endpoint.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/encoding.h"

namespace portcullis::credentials {
namespace {

using Code = CredentialError::Code;

// Removes every occurrence of each secret (and its form encoding) from `s`.
std::string scrub(std::string s, const std::vector<std::string_view>& secrets) {
  for (std::string_view secret : secrets) {
    if (secret.size() < 4) continue;
    for (const std::string& needle : {std::string(secret), encoding::form_urlencode(secret)}) {
      for (auto pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos))
        s.replace(pos, needle.size(), "[redacted]");
    }
  }
  return s;
}

// Printable ASCII only, at most 200 characters: the AS's words, safe for logs.
std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

void request_token(HttpClient& http, const Clock& clock, const TokenEndpoint& ep, const std::vector<FormField>& form,
                   TimePoint cap, TokenCache::Done done) {
  HttpRequest req;
  req.method = "POST";
  req.url = ep.url;
  req.timeout = ep.timeout;
  req.max_response_bytes = 64 * 1024;
  for (const auto& f : form) {
    if (!req.body.empty()) req.body += '&';
    req.body += encoding::form_urlencode(f.name);
    req.body += '=';
    req.body += encoding::form_urlencode(f.secret_value ? f.secret_value->reveal() : std::string_view(f.value));
  }
  std::string basic = encoding::form_urlencode(ep.client_id) + ":" + encoding::form_urlencode(ep.client_secret->reveal());
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"},
                 {"Authorization", "Basic " + encoding::base64_encode(basic)}};
  wipe(basic);

  // What to scrub from any message built from the answer.
  auto secrets = std::make_shared<std::vector<std::shared_ptr<const Secret>>>();
  secrets->push_back(ep.client_secret);
  for (const auto& f : form)
    if (f.secret_value) secrets->push_back(f.secret_value);

  TimePoint started = clock.now();
  std::string prefix = "credential provider " + ep.provider + ": token endpoint " + ep.url;
  auto default_lifetime = ep.default_lifetime;
  http.fetch(std::move(req), [done = std::move(done), secrets, started, cap, prefix,
                              default_lifetime](Result<HttpResponse> r) {
    std::vector<std::string_view> views;
    for (const auto& s : *secrets) views.push_back(s->reveal());
    auto fail = [&](Code code, const std::string& msg) { done(Err(CredentialError{code, scrub(msg, views)})); };
    if (!r.ok()) return fail(Code::kUnavailable, prefix + " unreachable: " + r.error().message);
    HttpResponse& resp = r.value();
    auto body = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
    wipe(resp.body);
    if (resp.status >= 500 || resp.status == 429)
      return fail(Code::kUnavailable, prefix + " answered HTTP " + std::to_string(resp.status));
    if (resp.status < 200 || resp.status >= 300) {
      std::string msg = prefix + " refused the request: HTTP " + std::to_string(resp.status);
      if (body.is_object() && body.contains("error") && body["error"].is_string()) {
        msg += ", " + sanitize(body["error"].get<std::string>());
        if (body.contains("error_description") && body["error_description"].is_string())
          msg += " (" + sanitize(body["error_description"].get<std::string>()) + ")";
      }
      return fail(Code::kRejected, msg);
    }
    if (!body.is_object() || !body.contains("access_token") || !body["access_token"].is_string() ||
        body["access_token"].get_ref<const std::string&>().empty())
      return fail(Code::kBadResponse, prefix + " answered without an access_token");
    std::string& token = body["access_token"].get_ref<std::string&>();
    std::string type = body.contains("token_type") && body["token_type"].is_string() ? body["token_type"].get<std::string>() : "";
    if (!iequals(type, "bearer") && !iequals(type, "N_A")) {
      wipe(token);
      return fail(Code::kBadResponse, prefix + " returned token_type '" + sanitize(type) + "' (only Bearer is supported)");
    }
    auto lifetime = std::chrono::seconds(default_lifetime);
    if (body.contains("expires_in")) {
      const auto& e = body["expires_in"];
      double secs = e.is_number() ? e.get<double>() : -1;
      if (e.is_string()) {  // some servers send a string
        char* end = nullptr;
        secs = std::strtod(e.get_ref<const std::string&>().c_str(), &end);
      }
      if (!(secs > 0) || secs > 1e9) {
        wipe(token);
        return fail(Code::kBadResponse, prefix + " returned an invalid expires_in");
      }
      lifetime = std::chrono::seconds(static_cast<long long>(secs));
    }
    TokenCache::Token t;
    t.value = std::make_shared<const Secret>(Secret::concat("Bearer ", token));
    wipe(token);
    t.expires_at = std::min(started + lifetime, cap);
    done(std::move(t));
  });
}

}  // namespace portcullis::credentials
