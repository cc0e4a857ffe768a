#include "gateway/log.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/common/temp_files.h"

using namespace portcullis::gateway;

namespace {

// Runs `body` with stderr sent to a temp file; returns the file's lines.
template <class F>
std::vector<std::string> capture_stderr(F&& body) {
  portcullis::testing::TempDir dir;
  const std::string path = dir.path("stderr.log");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  int saved = ::dup(2);
  ::dup2(fd, 2);
  ::close(fd);
  body();
  ::dup2(saved, 2);
  ::close(saved);
  std::vector<std::string> lines;
  std::istringstream in(portcullis::testing::read_all(path));
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

}  // namespace

TEST_CASE("a log line is one JSON object with ts, level, msg and the fields") {
  auto lines = capture_stderr([] {
    log::info("request", {{"status", 200}, {"path", "/mcp/\"crm\"\n"}, {"bad_utf8", std::string("a\xff" "b")},
                          {"msg", "not the message"}});
  });
  REQUIRE(lines.size() == 1);
  auto j = nlohmann::json::parse(lines[0]);
  CHECK(j["msg"] == "request");
  CHECK(j["level"] == "info");
  CHECK(j["status"] == 200);
  CHECK(j["path"] == "/mcp/\"crm\"\n");
  CHECK(j["bad_utf8"] == "a\xEF\xBF\xBD" "b");  // replaced, never an invalid line
  std::string ts = j["ts"];
  CHECK(ts.size() == 27);
  CHECK(ts.back() == 'Z');
  CHECK(ts[10] == 'T');
}

TEST_CASE("lines below the level are not written") {
  auto lines = capture_stderr([] {
    log::set_level(log::Level::kWarn);
    log::info("hidden");
    log::warn("shown");
    log::set_level(log::Level::kInfo);
  });
  REQUIRE(lines.size() == 1);
  CHECK(nlohmann::json::parse(lines[0])["msg"] == "shown");
}

TEST_CASE("the writer thread writes every line, in order, by stop()") {
  auto lines = capture_stderr([] {
    log::start();
    for (int i = 0; i < 5000; ++i) log::info("n", {{"i", i}});
    log::stop();
  });
  REQUIRE(lines.size() == 5000);
  for (int i = 0; i < 5000; i += 499) CHECK(nlohmann::json::parse(lines[i])["i"] == i);
}
