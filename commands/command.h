// commands: every shell command is declared here once, in one registry: its name,
// aliases, summary, usage, option spec and examples, plus a handler. Help text, option
// errors (and later completion) come from the spec, so a command file holds only what the
// command does.
//
//   const Command* c = find_command("sym");
//   Args a = TRY(parse_args(c->spec, {"-l"}));
//   TRY(c->run(session, a, out));
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/result.h"

namespace coroner::kernel {
class Kernel;
}

namespace coroner::commands {

struct OptionSpec {
  char flag;
  bool takes_argument;
  std::string help;
};

struct CommandSpec {
  std::string name;
  std::vector<std::string> aliases;
  std::string summary;
  std::string usage;  // after the name, e.g. "[-l] | [-q string] | symbol | vaddr"
  std::vector<OptionSpec> options;
  std::vector<std::string> examples;
  // Options end at the first operand (POSIX getopt's "+"): `foreach bt -f` hands -f to bt.
  bool options_before_operands = false;
};

struct Args {
  std::multimap<char, std::string> options;  // flag -> argument ("" for plain flags)
  std::vector<std::string> positional;
  bool has(char flag) const { return options.count(flag) > 0; }
  int count(char flag) const { return static_cast<int>(options.count(flag)); }
  std::string value(char flag) const {
    auto it = options.find(flag);
    return it == options.end() ? "" : it->second;
  }
};

// Where a command writes: the terminal, a file, or a shell pipe.
class Output {
 public:
  explicit Output(FILE* f) : f_(f) {}
  template <typename... A>
  void print(fmt::format_string<A...> f, A&&... a) {
    fmt::print(f_, f, std::forward<A>(a)...);
  }
  void write(std::string_view s) { fwrite(s.data(), 1, s.size(), f_); }
  FILE* file() const { return f_; }

 private:
  FILE* f_;
};

// State shared by the commands of one shell session.
struct Session {
  kernel::Kernel& kernel;
  std::string program = "coroner";
  int value_history = 0;  // gdb's $N, numbered as crash's `p` numbers them
  std::optional<uint64_t> current_task;  // `set`'s context; the panic task when unset
};

using Handler = std::function<Result<void>(Session&, const Args&, Output&)>;

struct Command {
  CommandSpec spec;
  Handler run;
};

// The registry: every command, in the order `help` lists them.
const std::vector<Command>& all_commands();
const Command* find_command(std::string_view name);

// getopt-style parsing against a spec: "-lq foo", "-q foo", "--" ends options. Negative
// numbers and addresses are positional.
Result<Args> parse_args(const CommandSpec& spec, const std::vector<std::string>& argv);
std::string format_help(const CommandSpec& spec);

}  // namespace coroner::commands
