// commands: every shell command is declared here once, in one registry: its name,
// aliases, summary, usage, option spec and examples, plus a handler. Help text, option
// errors (and later completion) come from the spec, so a command file holds only what the
// command does.
//
//   const Command* c = find_command("sym");
//   Args a = TRY(parse_args(c->spec, {"-l"}));
//   TRY(c->run(session, a, out));
#pragma once

#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/compile.h>
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
  // A word with a letter the command does not know is its first operand, with all after it
  // (crash's eval: `eval -Z` is the expression "-Z", not a usage error).
  bool unknown_option_is_operand = false;
};

struct Args {
  std::multimap<char, std::string> options;  // flag -> argument ("" for plain flags)
  std::vector<std::string> positional;
  std::vector<std::string> words;  // the arguments as typed (plugins parse them themselves)
  bool has(char flag) const { return options.count(flag) > 0; }
  int count(char flag) const { return static_cast<int>(options.count(flag)); }
  std::string value(char flag) const {
    auto it = options.find(flag);
    return it == options.end() ? "" : it->second;
  }
};

// Ctrl-C. The shell's SIGINT handler sets the flag (async-signal-safe); Output refuses to
// write once it is set, which stops any command that prints (foreach bt on thousands of
// tasks) without the command knowing; a long loop that prints nothing polls
// check_interrupt(). The shell clears the flag before each command.
inline volatile std::sig_atomic_t interrupt_flag = 0;
inline bool interrupt_requested() { return interrupt_flag != 0; }
Result<void> check_interrupt();  // fails with "interrupted" once Ctrl-C was pressed

// What Output throws to unwind a command whose output can no longer go anywhere: Ctrl-C was
// pressed, or the pipe's reader went away (`foreach bt | head -1`). Only the shell catches it,
// at the command boundary, and turns it into the command's failure.
struct OutputStopped {
  std::string reason;  // "interrupted", "broken pipe"
};

// Where a command writes: the terminal, a file, or a shell pipe.
class Output {
 public:
  explicit Output(FILE* f) : f_(f) {}
  template <typename... A>
  void print(fmt::format_string<A...> f, A&&... a) {
    check();
    // Formatted here and written with fwrite: fmt::print would throw its own error on a
    // closed pipe.
    fmt::memory_buffer buf;
    fmt::format_to(std::back_inserter(buf), f, std::forward<A>(a)...);
    fwrite(buf.data(), 1, buf.size(), f_);
    check_written();
  }
  // The same for a format compiled at build time, `out.print_compiled(FMT_COMPILE("..."), ...)`:
  // no format parsing at run time, for the lines printed per frame and per task (foreach bt
  // over thousands of tasks).
  template <typename S, typename... A>
  void print_compiled(const S& f, A&&... a) {
    check();
    fmt::memory_buffer buf;
    fmt::format_to(std::back_inserter(buf), f, std::forward<A>(a)...);
    fwrite(buf.data(), 1, buf.size(), f_);
    check_written();
  }
  void write(std::string_view s) {
    check();
    fwrite(s.data(), 1, s.size(), f_);
    check_written();
  }
  FILE* file() const { return f_; }

 private:
  void check() const {
    if (interrupt_requested()) throw OutputStopped{"interrupted"};
  }
  void check_written() const;
  FILE* f_;
};

// A command alias (crash's `alias`): "builtin" ones exist at start-up, "runtime" ones come
// from the alias command; the shell replaces a line's first word NAME by COMMAND.
struct Alias {
  std::string origin;  // "builtin" or "runtime"
  std::string name;
  std::string command;
};
std::vector<Alias> builtin_aliases();

// State shared by the commands of one shell session.
struct Session {
  kernel::Kernel& kernel;
  std::string program = "coroner";
  int value_history = 0;  // gdb's $N, numbered as crash's `p` numbers them
  std::optional<uint64_t> current_task;  // `set`'s context; the panic task when unset
  std::vector<Alias> aliases = builtin_aliases();
  int output_radix = 10;  // crash's `set radix`: how p/struct print integers without -x/-d
  bool json = false;      // `--json`: commands that support it print one JSON document each
  // crash's `scroll` as `set scroll` shows it ("on (/usr/bin/less)", "off (none)"): the pager
  // is the shell's, which sets this; unset without a shell in front (tests).
  std::function<std::string()> scroll_state;
};

using Handler = std::function<Result<void>(Session&, const Args&, Output&)>;

struct Command {
  CommandSpec spec;
  Handler run;
};

// The registry: every built-in command, in the order `help` lists them.
const std::vector<Command>& all_commands();
// Built-in commands first, then those loaded at run time (`extend FILE.so`).
const Command* find_command(std::string_view name);

// Commands loaded at run time, grouped by what loaded them (a shared object's path).
// Extension commands never replace a built-in one of the same name (add fails instead).
Result<void> add_extension_commands(const std::string& owner, std::vector<Command> cmds);
void remove_extension_commands(const std::string& owner);
// Owners in load order, each with its commands.
std::vector<std::pair<std::string, std::vector<const Command*>>> extension_commands();
// Built-in and extension commands together, sorted by name (help, completion).
std::vector<const Command*> every_command();

// getopt-style parsing against a spec: "-lq foo", "-q foo", "--" ends options. Negative
// numbers and addresses are positional.
Result<Args> parse_args(const CommandSpec& spec, const std::vector<std::string>& argv);
std::string format_help(const CommandSpec& spec);
// crash's answer to a bad command line, on standard output after getopt's message on standard
// error: "Usage:\n  NAME USAGE\nEnter \"help NAME\" for details.\n".
std::string usage_block(const CommandSpec& spec);

}  // namespace coroner::commands
