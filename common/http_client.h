// Asynchronous outbound HTTP for modules that must not depend on gateway/
// (JWKS and discovery fetches, token endpoints, introspection). gateway/
// implements it with Beast; tests may implement it with a fake.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace portcullis {

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{5000};
  std::size_t max_response_bytes = 1 << 20;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Case-insensitive header lookup; empty when absent.
  std::string header(std::string_view name) const;
};

// Completion handlers run on an I/O thread of the gateway: they must not block
// and must be safe to call from any thread.
class HttpClient {
 public:
  using Callback = std::function<void(Result<HttpResponse>)>;
  virtual ~HttpClient() = default;
  virtual void fetch(HttpRequest request, Callback done) = 0;
};

// Runs a function later on an I/O thread (background refreshes).
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void run_after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
};

}  // namespace portcullis
