// portcullis: the command line. Each command is a thin shell over a module.
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "audit/audit_command.h"
#include "config/loader.h"
#include "credentials/secret.h"
#include "credentials/vault_command.h"
#include "policy/policy_commands.h"
#include "gateway/log.h"
#include "gateway/preflight.h"
#include "gateway/server.h"
#include "policy/policy_loader.h"

namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage = R"(portcullis: an MCP gateway that decides every tool call

Usage:
  portcullis run --config FILE      run the gateway (also: portcullis --config FILE)
  portcullis check --config FILE    validate the configuration and policy (and run the policy's tests);
                                    exit 0, or 1 with file:line:col: key: message lines
  portcullis policy test FILE...    run a policy file's tests
  portcullis policy explain --config FILE --agent ID [--user SUB] --tool UPSTREAM/TOOL [--args JSON]
  portcullis vault init|put NAME|list|delete NAME|rotate-key --config FILE
  portcullis audit verify DIR... [--pubkey FILE]
  portcullis audit tail DIR [--agent ID] [--limit N]
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

std::vector<portcullis::policy::AgentRecord> registry_of(const portcullis::config::Config& cfg) {
  std::vector<portcullis::policy::AgentRecord> out;
  for (const auto& a : cfg.agents) out.push_back({a.id, a.owner, a.groups, a.clearance});
  return out;
}

int cmd_check(const std::vector<std::string>& args) {
  auto path = flag(args, "--config");
  if (path.empty()) return usage_error("check needs --config FILE");
  auto cfg = load(path);
  if (!cfg) return 1;
  // What `run` checks before it serves: secrets, vault entries, key and
  // certificate files, clearances against the policy's levels.
  auto problems = portcullis::gateway::preflight_secrets_and_files(**cfg);
  if (!(*cfg)->policy.files.empty()) {
    portcullis::policy::LoadOptions opts;
    for (const auto& up : (*cfg)->upstreams) opts.known_upstreams.push_back(up.name);
    if (auto loaded = portcullis::policy::load_policy_files((*cfg)->policy.files, opts))
      for (auto& p : portcullis::gateway::preflight_clearances(**cfg, *loaded->snapshot)) problems.push_back(std::move(p));
    auto out = portcullis::policy::policy_test_command((*cfg)->policy.files, registry_of(**cfg), opts);
    std::cout << out.output;
    if (out.exit_code != 0) problems.push_back("the policy does not load or its tests fail (above)");
  }
  for (const auto& p : problems) std::cerr << path << ": " << p << "\n";
  if (!problems.empty()) return 1;
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

int cmd_policy(const std::vector<std::string>& args) {
  if (args.empty()) return usage_error("policy needs test or explain");
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "test") {
    std::vector<std::string> files;
    std::vector<portcullis::policy::AgentRecord> registry;
    auto cfg_path = flag(rest, "--config");
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == "--config") { ++i; continue; }
      if (rest[i].rfind("--", 0) != 0) files.push_back(rest[i]);
    }
    if (!cfg_path.empty()) {
      auto cfg = load(cfg_path);
      if (!cfg) return 1;
      registry = registry_of(**cfg);
      if (files.empty()) files = (*cfg)->policy.files;
    }
    if (files.empty()) return usage_error("policy test needs FILE");
    auto out = portcullis::policy::policy_test_command(files, registry);
    std::cout << out.output;
    return out.exit_code;
  }
  if (args[0] == "explain") {
    auto cfg_path = flag(rest, "--config");
    if (cfg_path.empty()) return usage_error("policy explain needs --config FILE");
    auto cfg = load(cfg_path);
    if (!cfg) return 1;
    portcullis::policy::ExplainRequest req;
    req.agent = flag(rest, "--agent");
    req.user = flag(rest, "--user");
    // As at run time: the user's clearance from `users:`, the lowest level
    // for a user it does not list.
    if (!req.user.empty()) {
      const auto* u = (*cfg)->user(req.user);
      req.user_clearance = u ? u->clearance : std::string();
    }
    req.tool = flag(rest, "--tool");
    req.arguments = flag(rest, "--args");
    auto method = flag(rest, "--method");
    if (!method.empty()) req.method = method;
    if (req.agent.empty() || req.tool.empty()) return usage_error("policy explain needs --agent and --tool");
    auto out = portcullis::policy::policy_explain_command((*cfg)->policy.files, registry_of(**cfg), req);
    std::cout << out.output;
    return out.exit_code;
  }
  return usage_error("unknown policy command: " + args[0]);
}

int cmd_vault(const std::vector<std::string>& args) {
  auto path = flag(args, "--config");
  if (path.empty()) return usage_error("vault needs --config FILE");
  auto cfg = load(path);
  if (!cfg) return 1;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config") { ++i; continue; }
    if (args[i].rfind("--config=", 0) == 0) continue;
    rest.push_back(args[i]);
  }
  return portcullis::credentials::vault_command(rest, **cfg, std::cin, std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  // Secrets live in this process's memory: no core dumps.
  portcullis::credentials::disable_core_dumps();
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
  if (cmd == "policy") return cmd_policy(rest);
  if (cmd == "vault") return cmd_vault(rest);
  if (cmd == "audit") return portcullis::audit::audit_command(rest, std::cout, std::cerr);
  return usage_error("unknown command: " + cmd);
}
