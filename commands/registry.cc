#include "commands/command.h"

#include <algorithm>
#include <cerrno>
#include <list>

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

namespace {

bool answers_to(const Command& c, std::string_view name) {
  if (c.spec.name == name) return true;
  for (auto& a : c.spec.aliases)
    if (a == name) return true;
  return false;
}

struct ExtensionGroup {
  std::string owner;
  std::list<Command> commands;  // a list: pointers handed out stay valid while loaded
};
std::list<ExtensionGroup>& extensions() {
  static std::list<ExtensionGroup> groups;
  return groups;
}

}  // namespace

const Command* find_command(std::string_view name) {
  for (const Command& c : all_commands())
    if (answers_to(c, name)) return &c;
  for (auto& g : extensions())
    for (const Command& c : g.commands)
      if (answers_to(c, name)) return &c;
  return nullptr;
}

Result<void> add_extension_commands(const std::string& owner, std::vector<Command> cmds) {
  for (auto& g : extensions())
    if (g.owner == owner) return Error::make(Errc::usage, "{}: already loaded", owner);
  for (size_t i = 0; i < cmds.size(); ++i) {
    if (cmds[i].spec.name.empty()) return Error::make(Errc::bad_data, "{}: a command without a name", owner);
    if (find_command(cmds[i].spec.name))
      return Error::make(Errc::usage, "{}: command \"{}\" already exists", owner, cmds[i].spec.name);
    for (size_t j = 0; j < i; ++j)
      if (cmds[j].spec.name == cmds[i].spec.name)
        return Error::make(Errc::bad_data, "{}: command \"{}\" given twice", owner, cmds[i].spec.name);
  }
  ExtensionGroup g{owner, {}};
  for (auto& c : cmds) g.commands.push_back(std::move(c));
  extensions().push_back(std::move(g));
  return ok();
}

void remove_extension_commands(const std::string& owner) {
  extensions().remove_if([&](const ExtensionGroup& g) { return g.owner == owner; });
}

std::vector<std::pair<std::string, std::vector<const Command*>>> extension_commands() {
  std::vector<std::pair<std::string, std::vector<const Command*>>> out;
  for (auto& g : extensions()) {
    std::vector<const Command*> cs;
    for (auto& c : g.commands) cs.push_back(&c);
    out.emplace_back(g.owner, std::move(cs));
  }
  return out;
}

std::vector<const Command*> every_command() {
  std::vector<const Command*> out;
  for (const Command& c : all_commands()) out.push_back(&c);
  for (auto& g : extensions())
    for (const Command& c : g.commands) out.push_back(&c);
  std::stable_sort(out.begin(), out.end(), [](const Command* a, const Command* b) { return a->spec.name < b->spec.name; });
  return out;
}

Result<void> check_interrupt() {
  if (interrupt_requested()) return Error::make(Errc::os, "interrupted");
  return ok();
}

void Output::check_written() const {
  // A reader that went away (`| head -1`) makes every later write fail with EPIPE (SIGPIPE is
  // ignored by the shell): stop the command instead of computing output nobody reads.
  if (std::ferror(f_) && errno == EPIPE) throw OutputStopped{"broken pipe"};
}

std::vector<Alias> builtin_aliases() {
  // crash 9's built-in aliases, in its order (`alias` lists them first).
  return {{"builtin", "man", "help"},           {"builtin", "?", "help"},
          {"builtin", "quit", "q"},             {"builtin", "sf", "set scroll off"},
          {"builtin", "sn", "set scroll on"},   {"builtin", "hex", "set radix 16"},
          {"builtin", "dec", "set radix 10"},   {"builtin", "g", "gdb"},
          {"builtin", "px", "p -x"},            {"builtin", "pd", "p -d"},
          {"builtin", "for", "foreach"},        {"builtin", "size", "*"},
          {"builtin", "dmesg", "log"},          {"builtin", "lsmod", "mod"},
          {"builtin", "last", "ps -l"}};
}

Result<Args> parse_args(const CommandSpec& spec, const std::vector<std::string>& argv) {
  Args out;
  out.words = argv;
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
    if (spec.unknown_option_is_operand) {
      bool known = true;
      for (size_t j = 1; j < a.size(); ++j)
        known = known && std::any_of(spec.options.begin(), spec.options.end(), [&](const OptionSpec& s) { return s.flag == a[j]; });
      if (!known) {
        out.positional.push_back(a);
        options_done = true;
        continue;
      }
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

std::string usage_block(const CommandSpec& spec) {
  return fmt::format("Usage:\n  {} {}\nEnter \"help {}\" for details.\n", spec.name, spec.usage, spec.name);
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
