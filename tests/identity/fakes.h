// Fakes for identity tests: an HttpClient that records every request and
// answers from a table (now, or later when the test says so), a Scheduler
// that runs tasks when the test moves time, and a settable clock.
#pragma once

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "identity/clock.h"

namespace portcullis::identity::testing {

struct FakeClock {
  std::shared_ptr<std::chrono::system_clock::time_point> now =
      std::make_shared<std::chrono::system_clock::time_point>(std::chrono::seconds(1'800'000'000));
  Clock clock() const {
    auto n = now;
    return [n] { return *n; };
  }
  void advance(std::chrono::milliseconds d) { *now += d; }
  std::int64_t seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(now->time_since_epoch()).count();
  }
};

class FakeHttp : public HttpClient {
 public:
  struct Canned {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers = {};
    bool transport_error = false;
  };
  std::map<std::string, Canned> routes;  // by URL; absent: 404
  std::vector<HttpRequest> requests;
  bool deferred = false;  // true: answers wait for flush()
  std::deque<std::function<void()>> pending;

  void fetch(HttpRequest request, Callback done) override {
    requests.push_back(request);
    auto answer = [this, url = request.url, done = std::move(done)] {
      auto it = routes.find(url);
      if (it == routes.end()) return done(HttpResponse{404, {}, "not found"});
      if (it->second.transport_error) return done(Err("connection refused"));
      done(HttpResponse{it->second.status, it->second.headers, it->second.body});
    };
    if (deferred) pending.push_back(std::move(answer));
    else answer();
  }
  void flush() {
    while (!pending.empty()) {
      auto f = std::move(pending.front());
      pending.pop_front();
      f();
    }
  }
  std::size_t count(const std::string& url) const {
    std::size_t n = 0;
    for (const auto& r : requests) n += r.url == url;
    return n;
  }
};

class FakeScheduler : public Scheduler {
 public:
  explicit FakeScheduler(FakeClock clock) : clock_(clock) {}
  struct Task {
    std::chrono::system_clock::time_point due;
    std::function<void()> fn;
  };
  std::vector<Task> tasks;
  void run_after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    tasks.push_back({*clock_.now + delay, std::move(fn)});
  }
  // Moves the clock forward by `d`, running every task that falls due.
  void advance(std::chrono::milliseconds d) {
    const auto end = *clock_.now + d;
    for (;;) {
      auto it = std::min_element(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.due < b.due; });
      if (it == tasks.end() || it->due > end) break;
      Task t = std::move(*it);
      tasks.erase(it);
      if (t.due > *clock_.now) *clock_.now = t.due;
      t.fn();
    }
    *clock_.now = end;
  }

 private:
  FakeClock clock_;
};

}  // namespace portcullis::identity::testing
