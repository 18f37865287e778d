// shell: the coroner command line: program options, the REPL (libedit: history, completion),
// command files, commands on standard input, aliases, `CMD | shell pipeline`, `> file`,
// `>> file`, `!cmd`, the pager (crash's scroll), Ctrl-C. docs/shell.md describes it.
//
//   commands::Session session{*kernel};
//   Shell sh(session);
//   sh.run_line("sym jiffies | cat");   // false if the command failed
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "commands/command.h"

namespace coroner::shell {

struct ProgramOptions {
  bool silent = false;
  bool help = false;
  bool version = false;
  bool ignore_mismatch = false;
  bool stop_on_error = false;             // --stop-on-error: a script ends at its first failed command
  bool json = false;                      // --json: commands print JSON documents (docs/json.md)
  std::string osrelease_dump;             // --osrelease DUMP
  std::string log_dump;                   // --log DUMP
  std::vector<std::string> input_files;  // -i FILE
  std::optional<uint64_t> kaslr;          // --kaslr OFFSET (auto when absent)
  std::string vmlinux;
  std::vector<std::string> dumps;
};

// Parses argv; VMLINUX and DUMP may come in either order (told apart by content). Without a
// VMLINUX, one matching the dump is looked for (shell/find_vmlinux.h).
Result<ProgramOptions> parse_program_args(int argc, char** argv);
std::string program_usage();

class Shell {
 public:
  explicit Shell(commands::Session& session);
  ~Shell();
  Shell(const Shell&) = delete;
  Shell& operator=(const Shell&) = delete;
  // Runs one line: a command with optional pipe/redirection. Returns false on failure.
  bool run_line(const std::string& line);
  // Runs one line as typed at the prompt or read from a script: crash's history commands
  // first (`h`, `r`, `r N`, `r PREFIX`, `!!`, `!N`: shell/history.h), then run_line; the line
  // run (not `h`) enters the history. Returns false on failure.
  bool run_input(const std::string& line);
  // The lines entered so far, the oldest first (at the prompt: the saved history first).
  const std::vector<std::string>& history() const { return history_; }
  // Runs every line of a stream (command files, non-terminal stdin). Returns the number of
  // failed commands; with stop_on_error, stops after the first.
  int run_stream(FILE* in);
  // Interactive prompt with line editing, history and completion.
  int run_interactive();
  bool quit_requested() const { return quit_; }
  void set_stop_on_error(bool on) { stop_on_error_ = on; }
  // crash's scroll: output of commands goes through a pager when standard output is a terminal.
  bool scroll() const { return scroll_; }
  void set_scroll(bool on) { scroll_ = on && !pager_.empty(); }
  const std::string& pager() const { return pager_; }

 private:
  bool run_command(const std::vector<std::string>& argv, FILE* out);
  bool run_set_scroll(const std::vector<std::string>& words, FILE* out);
  std::string scroll_state() const;  // "on (/usr/bin/less)", as `set scroll` answers
  bool run_json_foreach(const commands::Command& cmd, const commands::Args& args, FILE* out);
  void warn_if_task_list_cut(const std::string& command);
  std::string expand_alias(const std::string& line) const;
  commands::Session& session_;
  bool quit_ = false;
  bool warned_task_list_cut_ = false;
  bool stop_on_error_ = false;
  bool scroll_ = false;
  std::string pager_;        // the command run as pager; empty when output is not a terminal
  std::string pager_label_;  // as crash's `set scroll` names it: "/usr/bin/less", "CRASHPAGER: ..."
  std::vector<std::string> history_;
  bool interactive_ = false;  // at the prompt: the history is libedit's too, and saved
};

// Installs the SIGINT handler that sets commands::interrupt_flag (and ignores SIGPIPE, so a
// closed pipe is an error on write instead of the end of the session).
void install_signal_handlers();

// Splits a command line into words (quotes group, backslash escapes).
std::vector<std::string> split_words(const std::string& line);

// Where a command line's pipe or redirection starts: the first of `chars` ("|" or ">") outside
// quotes and parentheses, a '>' of C's `->` excepted, as crash cuts its lines; npos if none.
size_t find_unquoted(const std::string& line, const char* chars);

// The whole `coroner` program: returns its exit status.
int coroner_main(int argc, char** argv);

}  // namespace coroner::shell
