#include "audit/audit_command.h"

#include <iostream>

#include "audit/env.h"
#include "audit/ocsf.h"
#include "audit/reader.h"
#include "audit/verifier.h"

namespace portcullis::audit {

int audit_verify_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  VerifyOptions opt;
  std::vector<std::string> dirs;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--pubkey") {
      if (++i >= args.size()) {
        err << "audit verify: --pubkey needs a file\n";
        return 2;
      }
      auto key = Env::posix()->read_file(args[i]);
      if (!key) {
        err << "audit verify: " << key.error().message << "\n";
        return 2;
      }
      opt.trusted_public_keys.push_back(*key);
    } else if (a == "--allow-pruned") {
      opt.allow_pruned_head = true;
    } else if (a == "--help" || a == "-h") {
      out << "usage: portcullis audit verify DIR... [--pubkey FILE]... [--allow-pruned]\n";
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      err << "audit verify: unknown option " << a << "\n";
      return 2;
    } else {
      dirs.push_back(a);
    }
  }
  if (dirs.empty()) {
    err << "usage: portcullis audit verify DIR... [--pubkey FILE]... [--allow-pruned]\n";
    return 2;
  }
  VerifyReport r = verify_audit_dirs(dirs, opt);
  for (const auto& c : r.chains) {
    out << c.dir << ": instance " << (c.instance.empty() ? "?" : c.instance) << ": " << c.segments
        << " segment(s), " << c.records << " record(s)";
    if (c.records) out << " (seq " << c.first_seq << ".." << c.last_seq << ")";
    out << ", " << c.checkpoints << " checkpoint(s), last signed seq " << c.last_signed_seq << "; trusted key: "
        << c.trust << (c.ok ? "" : " [FAILED]") << "\n";
  }
  for (const auto& w : r.warnings) out << "warning: " << describe(w) << "\n";
  if (!r.ok) {
    out << "FAILED: " << describe(r.errors.front()) << "\n";
    for (std::size_t i = 1; i < r.errors.size(); ++i) out << "also FAILED: " << describe(r.errors[i]) << "\n";
    return 1;
  }
  out << "OK\n";
  return 0;
}

int audit_tail_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ReadFilter f;
  f.limit = 20;
  std::string dir;
  bool ocsf = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool has_value = i + 1 < args.size();
    if (a == "--agent" && has_value) {
      f.agent = args[++i];
    } else if (a == "--limit" && has_value) {
      try {
        f.limit = std::stoul(args[++i]);
      } catch (...) {
        err << "audit tail: --limit needs a number\n";
        return 2;
      }
    } else if (a == "--kind" && has_value) {
      std::string k = args[++i];
      f.kinds = k == "all" ? std::vector<std::string>{} : std::vector<std::string>{k};
    } else if (a == "--ocsf") {
      ocsf = true;
    } else if (!a.empty() && a[0] != '-' && dir.empty()) {
      dir = a;
    } else {
      err << "usage: portcullis audit tail DIR [--agent ID] [--limit N] [--kind KIND|all] [--ocsf]\n";
      return 2;
    }
  }
  if (dir.empty()) {
    err << "usage: portcullis audit tail DIR [--agent ID] [--limit N] [--kind KIND|all] [--ocsf]\n";
    return 2;
  }
  auto recs = read_recent(dir, f);
  if (!recs) {
    err << "audit tail: " << recs.error().message << "\n";
    return 1;
  }
  for (const auto& r : *recs) out << (ocsf ? to_ocsf(r) : r).dump() << "\n";
  return 0;
}

int audit_export_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string dir;
  bool ocsf = false;
  for (const auto& a : args) {
    if (a == "--ocsf") {
      ocsf = true;
    } else if (!a.empty() && a[0] != '-' && dir.empty()) {
      dir = a;
    } else {
      err << "usage: portcullis audit export DIR [--ocsf]\n";
      return 2;
    }
  }
  if (dir.empty()) {
    err << "usage: portcullis audit export DIR [--ocsf]\n";
    return 2;
  }
  auto r = for_each_record(dir, [&](const nlohmann::json& rec) {
    out << (ocsf ? to_ocsf(rec) : rec).dump() << "\n";
    return true;
  });
  if (!r) {
    err << "audit export: " << r.error().message << "\n";
    return 1;
  }
  return 0;
}

int audit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << "usage: portcullis audit verify|tail|export ...\n";
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "verify") return audit_verify_command(rest, out, err);
  if (args[0] == "tail") return audit_tail_command(rest, out, err);
  if (args[0] == "export") return audit_export_command(rest, out, err);
  err << "portcullis audit: unknown subcommand " << args[0] << " (verify | tail | export)\n";
  return 2;
}

int audit_command(const std::vector<std::string>& args) { return audit_command(args, std::cout, std::cerr); }
int audit_verify_command(const std::vector<std::string>& args) {
  return audit_verify_command(args, std::cout, std::cerr);
}

}  // namespace portcullis::audit
