#include "commands/command.h"

#include <algorithm>

#include "commands/builtin.h"

namespace coroner::commands {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> registry = [] {
    std::vector<Command> all;
    collect_plugins(all);
    std::sort(all.begin(), all.end(), [](const Command& a, const Command& b) { return a.spec.name < b.spec.name; });
    return all;
  }();
  return registry;
}

const Command* find_command(std::string_view name) {
  for (const Command& c : all_commands()) {
    if (c.spec.name == name) return &c;
    for (auto& a : c.spec.aliases)
      if (a == name) return &c;
  }
  return nullptr;
}

Result<Args> parse_args(const CommandSpec& spec, const std::vector<std::string>& argv) {
  Args out;
  bool options_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (options_done || a.size() < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9')) {
      out.positional.push_back(a);
      if (spec.options_before_operands) options_done = true;
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    for (size_t j = 1; j < a.size(); ++j) {
      char f = a[j];
      const OptionSpec* o = nullptr;
      for (auto& s : spec.options)
        if (s.flag == f) o = &s;
      if (!o) return Error::make(Errc::usage, "{}: invalid option -- '{}'", spec.name, f);
      if (o->takes_argument) {
        std::string arg = a.substr(j + 1);
        if (arg.empty()) {
          if (i + 1 >= argv.size()) return Error::make(Errc::usage, "{}: option requires an argument -- '{}'", spec.name, f);
          arg = argv[++i];
        }
        out.options.emplace(f, arg);
        break;
      }
      out.options.emplace(f, "");
    }
  }
  return out;
}

std::string format_help(const CommandSpec& spec) {
  std::string s = fmt::format("NAME\n  {} - {}\n\nSYNOPSIS\n  {} {}\n", spec.name, spec.summary, spec.name, spec.usage);
  if (!spec.aliases.empty()) {
    s += "\nALIASES\n ";
    for (auto& a : spec.aliases) s += " " + a;
    s += "\n";
  }
  if (!spec.options.empty()) {
    s += "\nOPTIONS\n";
    for (auto& o : spec.options) s += fmt::format("  -{}{}  {}\n", o.flag, o.takes_argument ? " ARG" : "", o.help);
  }
  if (!spec.examples.empty()) {
    s += "\nEXAMPLES\n";
    for (auto& e : spec.examples) s += fmt::format("  {}\n", e);
  }
  return s;
}

}  // namespace coroner::commands
