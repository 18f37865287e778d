// shell: the coroner command line: program options, the REPL (libedit), command files,
// commands on standard input, `CMD | shell pipeline`, `> file`, `>> file`.
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
  std::vector<std::string> input_files;  // -i FILE
  std::optional<uint64_t> kaslr;          // --kaslr OFFSET (auto when absent)
  std::string vmlinux;
  std::vector<std::string> dumps;
};

// Parses argv; VMLINUX and DUMP may come in either order (told apart by content).
Result<ProgramOptions> parse_program_args(int argc, char** argv);
std::string program_usage();

class Shell {
 public:
  explicit Shell(commands::Session& session) : session_(session) {}
  // Runs one line: a command with optional pipe/redirection. Returns false on failure.
  bool run_line(const std::string& line);
  // Runs every line of a stream (command files, non-terminal stdin). Returns the number of
  // failed commands.
  int run_stream(FILE* in);
  // Interactive prompt with line editing and history.
  int run_interactive();
  bool quit_requested() const { return quit_; }

 private:
  bool run_command(const std::vector<std::string>& argv, FILE* out);
  commands::Session& session_;
  bool quit_ = false;
};

// Splits a command line into words (quotes group, backslash escapes).
std::vector<std::string> split_words(const std::string& line);

// The whole `coroner` program: returns its exit status.
int coroner_main(int argc, char** argv);

}  // namespace coroner::shell
