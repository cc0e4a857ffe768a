// The control loop: one event-loop thread for background work that is not a
// request (JWKS and discovery fetches, token endpoints, introspection,
// scheduled rotation). It implements the HttpClient and Scheduler that the
// identity and credentials modules use. Callbacks run on its thread; a
// request that waits for one resumes on its own worker.
#pragma once

#include <memory>

#include "common/http_client.h"

namespace portcullis::gateway {

class ControlLoop final : public HttpClient, public Scheduler {
 public:
  ControlLoop();
  ~ControlLoop() override;  // stops and joins

  void start();
  void stop();

  void fetch(HttpRequest request, Callback done) override;
  void run_after(std::chrono::milliseconds delay, std::function<void()> fn) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace portcullis::gateway
