// portcullis: the command line. Each command is a thin shell over a module.
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "config/loader.h"
#include "gateway/log.h"
#include "gateway/server.h"

namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage = R"(portcullis: an MCP gateway that decides every tool call

Usage:
  portcullis run --config FILE      run the gateway (also: portcullis --config FILE)
  portcullis check --config FILE    validate the configuration; exit 0, or 1 with file:line:col: key: message lines
  portcullis --version | --help

Signals: SIGTERM/SIGINT drain and stop; SIGHUP reloads the configuration.
)";

// Finds `--name VALUE` or `--name=VALUE` in args.
std::string flag(const std::vector<std::string>& args, const std::string& name) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind(name + "=", 0) == 0) return args[i].substr(name.size() + 1);
  }
  return {};
}

int usage_error(const std::string& msg) {
  std::cerr << "portcullis: " << msg << "\n\n" << kUsage;
  return 2;
}

portcullis::Result<portcullis::config::ConfigPtr, portcullis::config::ConfigErrors> load(const std::string& path) {
  auto cfg = portcullis::config::load_config_file(path);
  if (!cfg)
    for (const auto& e : cfg.error()) std::cerr << e.to_string() << "\n";
  return cfg;
}

int cmd_check(const std::vector<std::string>& args) {
  auto path = flag(args, "--config");
  if (path.empty()) return usage_error("check needs --config FILE");
  auto cfg = load(path);
  if (!cfg) return 1;
  std::cout << path << ": OK (revision " << (*cfg)->revision.substr(0, 12) << ", " << (*cfg)->upstreams.size()
            << " upstreams)\n";
  return 0;
}

int cmd_run(const std::vector<std::string>& args) {
  auto path = flag(args, "--config");
  if (path.empty()) return usage_error("run needs --config FILE");
  auto cfg = load(path);
  if (!cfg) return 1;
  namespace log = portcullis::gateway::log;
  if (const char* lvl = std::getenv("PORTCULLIS_LOG_LEVEL")) {
    std::string l = lvl;
    log::set_level(l == "debug" ? log::Level::kDebug : l == "warn" ? log::Level::kWarn
                   : l == "error" ? log::Level::kError : log::Level::kInfo);
  }
  log::start();
  int rc;
  {
    portcullis::gateway::Server server(std::move(cfg.value()), path);
    rc = server.run();
  }
  log::stop();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("no command");
  const std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "--version" || cmd == "version") {
    std::cout << "portcullis " << kVersion << "\n";
    return 0;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "run") return cmd_run(rest);
  if (cmd == "--config" || cmd.rfind("--config=", 0) == 0) return cmd_run(args);
  if (cmd == "check") return cmd_check(rest);
  return usage_error("unknown command: " + cmd);
}
