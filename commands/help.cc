// help: the command list, one command's help, or the dump's header (-D).
#include "commands/builtin.h"
#include "kernel/kernel.h"

namespace coroner::commands {
namespace {

Result<void> run_help(Session& s, const Args& args, Output& out) {
  if (args.has('D') || args.has('d')) {
    const auto& info = s.kernel.dump().info();
    for (auto& [k, v] : info.header_fields) out.print("{:>20}: {}\n", k, v);
    if (info.header_fields.empty()) {
      out.print("{:>20}: {}\n", "format", info.format);
      out.print("{:>20}: {}\n", "page size", info.page_size);
    }
    return ok();
  }
  if (!args.positional.empty()) {
    for (auto& name : args.positional) {
      const Command* c = find_command(name);
      if (!c) {
        // An alias's help is its command's (`help px` shows p).
        for (auto& a : s.aliases)
          if (a.name == name) c = find_command(a.command.substr(0, a.command.find(' ')));
      }
      if (!c) return Error::make(Errc::not_found, "help: {}: no such command", name);
      out.write(format_help(c->spec));
    }
    return ok();
  }
  std::vector<std::string> names;
  for (const Command* c : every_command()) names.push_back(c->spec.name);
  names.push_back("exit");
  names.push_back("q");
  for (size_t i = 0; i < names.size(); ++i) out.print("{:<15}{}", names[i], (i % 5 == 4 || i + 1 == names.size()) ? "\n" : "");
  out.print("\n{} version: {}   gdb not used.\nFor help on any command above, enter \"help <command>\".\n", s.program, "0.1.0");
  return ok();
}

}  // namespace

static Command help_command() {
  return Command{CommandSpec{"help",
                             {"h"},
                             "get help",
                             "[command | all] [-D]",
                             {{'D', false, "display the dump file's header information"},
                              {'d', false, "same as -D"}},
                             {"help sym", "help -D"}},
                 run_help};
}

std::vector<Command> help_commands() { return {help_command()}; }

}  // namespace coroner::commands
