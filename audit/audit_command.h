// The `portcullis audit ...` subcommands, for main.cc to call. Each takes the
// arguments after its own name and returns the process exit code:
//   audit verify DIR... [--pubkey FILE]... [--allow-pruned]
//       0 every chain intact, 1 the first bad record printed, 2 usage error
//   audit tail DIR [--agent ID] [--limit N] [--kind KIND|all] [--ocsf]
//       newest first, one JSON line per record; 0, or 1 on read error
//   audit export DIR [--ocsf]
//       every record, oldest first, as JSON lines (or OCSF events)
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace portcullis::audit {

int audit_verify_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int audit_tail_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int audit_export_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// Dispatches on args[0] (verify | tail | export); std::cout / std::cerr
// when streams are not given.
int audit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int audit_command(const std::vector<std::string>& args);
int audit_verify_command(const std::vector<std::string>& args);

}  // namespace portcullis::audit
