// alias / unalias: crash's command aliases. The shell replaces a line's first word by the
// alias's command string (shell/shell.cc); this file keeps the table in the Session and
// prints it in crash's layout:
//
//   coroner> alias kp kmem -p
//   ORIGIN   ALIAS    COMMAND
//   runtime  kp       kmem -p
//
// `alias NAME ""` deletes (crash's way); `unalias NAME` is coroner's shorthand for it.
#include <algorithm>

#include "commands/builtin.h"
#include "kernel/session_flags.h"

namespace coroner::commands {
namespace {

void print_header(Output& out) { out.print("ORIGIN   ALIAS    COMMAND\n"); }

void print_alias(Output& out, const Alias& a) {
  // crash prints each word of the command followed by a blank.
  out.print("{:<9}{:<9}{} \n", a.origin, a.name, a.command);
}

Result<void> delete_alias(Session& s, const std::string& name, Output& out) {
  auto it = std::find_if(s.aliases.begin(), s.aliases.end(), [&](const Alias& a) { return a.name == name; });
  if (it == s.aliases.end()) {
    out.print("alias does not exist: {}\n", name);
    return Error::make(Errc::not_found, "");  // already said
  }
  s.aliases.erase(it);
  out.print("alias deleted: {}\n", name);
  return ok();
}

Result<void> run_alias(Session& s, const Args& args, Output& out) {
  const auto& p = args.positional;
  if (p.empty()) {
    print_header(out);
    for (auto& a : s.aliases) print_alias(out, a);
    return ok();
  }
  const std::string& name = p[0];
  if (p.size() == 1) {
    print_header(out);
    for (auto& a : s.aliases)
      if (a.name == name) {
        print_alias(out, a);
        return ok();
      }
    out.print("alias does not exist: {}\n", name);
    // Already said; crash's error(INFO): no restart (kernel/session_flags.h).
    return kernel::info_error(s.kernel, Error::make(Errc::not_found, ""));
  }
  std::string command;
  for (size_t i = 1; i < p.size(); ++i) {
    if (p[i].empty()) continue;
    command += (command.empty() ? "" : " ") + p[i];
  }
  if (command.empty()) return delete_alias(s, name, out);
  if (find_command(name)) return Error::make(Errc::usage, "cannot alias existing command name: {}", name);
  // A new definition replaces an old one (built-in or not) and goes to the end, as in crash.
  std::erase_if(s.aliases, [&](const Alias& a) { return a.name == name; });
  Alias entry{"runtime", name, command};
  s.aliases.push_back(entry);
  print_header(out);
  print_alias(out, entry);
  return ok();
}

Result<void> run_unalias(Session& s, const Args& args, Output& out) {
  if (args.positional.empty()) return Error::make(Errc::usage, "which alias? unalias NAME");
  for (auto& name : args.positional) TRY(delete_alias(s, name, out));
  return ok();
}

}  // namespace

std::vector<Command> alias_commands() {
  CommandSpec alias{"alias",
                    {},
                    "command aliases",
                    "[alias] [command string]",
                    {},
                    {"alias", "alias kp kmem -p", "alias ksd \"kmem -s | grep dentry\"", "alias kp \"\""}};
  alias.options_before_operands = true;  // `alias kp kmem -p`: -p belongs to the command string
  return {Command{alias, run_alias},
          Command{CommandSpec{"unalias",
                              {},
                              "delete command aliases",
                              "alias ...",
                              {},
                              {"unalias kp"}},
                  run_unalias}};
}

}  // namespace coroner::commands
