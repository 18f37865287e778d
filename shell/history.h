// history: crash's command history pseudo-commands, on the shell's list of the lines entered
// (the interactive prompt's history, loaded from ~/.coroner_history, plus what this session
// ran; a script's own lines). crash handles them before a line reaches a command, and so does
// the shell:
//
//   h, or any line starting with "hi"   the numbered list: "[1] sys", "[2] bt", ...
//   r, !!                               the last line again
//   rN, r N, !N                         line N again
//   r PREFIX                            the latest line starting with PREFIX again
//
// A line re-run is echoed after the prompt ("coroner> sys") and enters the history itself;
// `h` does not. Pure functions of their input, so tests call them directly:
//
//   std::vector<std::string> hist{"sys", "bt -a"};
//   auto a = shell::history_request("r sy", hist);  // {kind rerun, line "sys"}
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace coroner::shell {

struct HistoryRequest {
  enum class Kind {
    none,    // no history command: run the line as it is
    list,    // print history_listing()
    rerun,   // run `line` (echoed first)
    failed,  // print `message` (crash's words) and run nothing
  };
  Kind kind = Kind::none;
  std::string line;     // rerun: the history line
  std::string message;  // failed: "no commands entered!", "command 9 not entered yet!",
                        // "invalid repeat request: r xyz"
};

// What a (trimmed) input line asks of the history, crash's rules.
HistoryRequest history_request(std::string_view line, const std::vector<std::string>& history);

// crash's `h` listing: "[N] LINE\n" per line, the oldest first, numbered from 1.
std::string history_listing(const std::vector<std::string>& history);

}  // namespace coroner::shell
