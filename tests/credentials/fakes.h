// Fakes for provider tests: a clock moved by hand, a scheduler driven by that
// clock, and an HttpClient that records requests and answers when told.
#pragma once

#include <algorithm>
#include <map>
#include <stdexcept>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "credentials/clock.h"
#include "credentials/encoding.h"

namespace portcullis::credentials::testing {

class FakeClock : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1'900'000'000))) : now_(start) {}
  TimePoint now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void set(TimePoint t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_;
};

class FakeScheduler : public Scheduler {
 public:
  explicit FakeScheduler(FakeClock& clock) : clock_(clock) {}
  void run_after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    tasks_.push_back({clock_.now() + delay, std::move(fn)});
  }
  // Moves the clock forward by `d`, running due tasks in time order.
  void advance(std::chrono::milliseconds d) {
    TimePoint end = clock_.now() + d;
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mu_);
        auto it = std::min_element(tasks_.begin(), tasks_.end(), [](auto& a, auto& b) { return a.due < b.due; });
        if (it == tasks_.end() || it->due > end) break;
        clock_.set(std::max(clock_.now(), it->due));
        fn = std::move(it->fn);
        tasks_.erase(it);
      }
      fn();
    }
    clock_.set(end);
  }
  std::size_t pending() const {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }

 private:
  struct Task {
    TimePoint due;
    std::function<void()> fn;
  };
  FakeClock& clock_;
  mutable std::mutex mu_;
  std::vector<Task> tasks_;
};

class FakeHttpClient : public HttpClient {
 public:
  void fetch(HttpRequest request, Callback done) override {
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(request));
    pending_.push_back(std::move(done));
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  HttpRequest request(std::size_t i) const {
    std::lock_guard lock(mu_);
    return requests_.at(i);
  }
  std::size_t pending() const {
    std::lock_guard lock(mu_);
    return std::count_if(pending_.begin(), pending_.end(), [](auto& c) { return static_cast<bool>(c); });
  }
  // Answers the oldest unanswered request.
  void respond(int status, std::string body) {
    Callback cb = take();
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    cb(std::move(r));
  }
  void respond_token(const std::string& token, int expires_in) {
    respond(200, R"({"access_token":")" + token + R"(","token_type":"Bearer","expires_in":)" +
                     std::to_string(expires_in) + "}");
  }
  void fail(std::string message) { take()(Err(std::move(message))); }

 private:
  Callback take() {
    std::lock_guard lock(mu_);
    for (auto& c : pending_)
      if (c) return std::exchange(c, nullptr);
    throw std::runtime_error("no pending request");
  }
  mutable std::mutex mu_;
  std::vector<HttpRequest> requests_;
  std::vector<Callback> pending_;
};

// Form body -> map (decodes %XX and +).
inline std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  auto decode = [](std::string_view s) {
    std::string r;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') r += ' ';
      else if (s[i] == '%' && i + 2 < s.size()) {
        r += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else r += s[i];
    }
    return r;
  };
  std::size_t pos = 0;
  while (pos <= body.size()) {
    auto amp = body.find('&', pos);
    std::string_view pair(body.data() + pos, (amp == std::string::npos ? body.size() : amp) - pos);
    auto eq = pair.find('=');
    if (!pair.empty()) out[decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

inline std::string header_of(const HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

}  // namespace portcullis::credentials::testing
