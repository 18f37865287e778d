#include "shell/shell.h"

#include <elf.h>
#include <clocale>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include <charconv>
#include <cstring>
#include <fstream>
#include <system_error>

#include <editline/readline.h>

#include "commands/builtin.h"
#include "commands/support/json.h"
#include "kernel/kernel.h"
#include "kernel/session_flags.h"
#include "kernel/printk.h"
#include "kernel/tasks.h"
#include "shell/completion.h"
#include "shell/dmesg.h"
#include "shell/file_kind.h"
#include "shell/find_vmlinux.h"
#include "shell/history.h"

namespace coroner::shell {
namespace {

constexpr const char* kVersion = "0.1.0";

}  // namespace

// Finds the first occurrence of any of `chars` outside quotes and parentheses (as in crash,
// `eval (1 << 4)` and `eval (x | 1)` hold no redirection or pipe). A '>' right after '-' is
// C's `->` (`p init_task.mm->pgd`), never a redirection. Brackets protect nothing: crash cuts
// `p x[1>0]` at its '>' too.
size_t find_unquoted(const std::string& s, const char* chars) {
  char quote = 0;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '\\') {
      ++i;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (c == '>' && i > 0 && s[i - 1] == '-') {
      continue;
    } else if (depth == 0 && std::strchr(chars, c)) {
      return i;
    }
  }
  return std::string::npos;
}

namespace {

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    // Like crash: single quotes stay in the word (`ps 'regex'` needs them), double quotes
    // group words and go; a backslash escapes a blank or a quote and is kept before anything
    // else (`ps \123` names a command made of digits).
    if (quote) {
      if (c == quote) {
        quote = 0;
        if (c == '\'') cur += c;
      } else {
        cur += c;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
      if (c == '\'') cur += c;
    } else if (c == '\\' && i + 1 < line.size()) {
      char n = line[++i];
      if (n != ' ' && n != '\t' && n != '"' && n != '\'') cur += c;
      cur += n;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(cur), cur.clear(), in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

std::string program_usage() {
  return "Usage: coroner [OPTIONS] VMLINUX DUMP [DUMP...]\n"
         "       coroner [OPTIONS] DUMP [DUMP...]      (finds the vmlinux by the dump's build ID)\n"
         "  (VMLINUX and DUMP may be given in either order)\n\n"
         "  -s               silent: no banner at start-up\n"
         "  -i FILE          run the commands in FILE first (then the prompt, on a terminal)\n"
         "  --stop-on-error  end a script (standard input, -i FILE) at its first failed command\n"
         "  --json           each command prints one JSON document on one line (no banner;\n"
         "                   docs/json.md); a command without JSON output prints an error one\n"
         "  --kaslr OFFSET   KASLR relocation offset (hex), or 'auto' (the default)\n"
         "  --force          open even when vmlinux and the dump do not match\n"
         "  --osrelease DUMP print the kernel release of the dump (VMCOREINFO OSRELEASE) and exit\n"
         "  --log DUMP       print the kernel log of the dump and exit (as --dmesg)\n"
         "  -h, --help       this help\n"
         "  --dmesg DUMP [DUMP...] [-o FILE|-]\n"
         "                   print the kernel log of the dump (makedumpfile --dump-dmesg's text)\n"
         "                   to standard output or FILE; needs no vmlinux on 5.10+ kernels (3.5+\n"
         "                   with makedumpfile's VMCOREINFO), uses one when given\n"
         "  -v, --version    print the version\n\n"
         "Commands are read from standard input when it is not a terminal; the exit status is 1\n"
         "when a command failed:\n"
         "  echo sys | coroner vmlinux vmcore\n"
         "Without a VMLINUX, one is looked for under /usr/lib/debug (.build-id, boot,\n"
         "lib/modules/RELEASE) and /boot; CORONER_DEBUG_ROOT (colon-separated) replaces \"/\".\n";
}

Result<ProgramOptions> parse_program_args(int argc, char** argv) {
  ProgramOptions o;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](const char* opt) -> Result<std::string> {
      if (i + 1 >= argc) return Error::make(Errc::usage, "option {} needs an argument", opt);
      return std::string(argv[++i]);
    };
    if (a == "-s") o.silent = true;
    else if (a == "-h" || a == "--help") o.help = true;
    else if (a == "-v" || a == "--version") o.version = true;
    else if (a == "--force") o.ignore_mismatch = true;
    else if (a == "--stop-on-error") o.stop_on_error = true;
    else if (a == "--json") o.json = true;
    else if (a == "--osrelease") o.osrelease_dump = TRY(need("--osrelease"));
    else if (a == "--log") o.log_dump = TRY(need("--log"));
    else if (a == "-i") o.input_files.push_back(TRY(need("-i")));
    else if (a == "--kaslr" || a.rfind("--kaslr=", 0) == 0) {
      std::string v = a == "--kaslr" ? TRY(need("--kaslr")) : a.substr(8);
      if (v != "auto") {
        std::string_view sv = v;
        if (sv.substr(0, 2) == "0x") sv.remove_prefix(2);
        uint64_t off = 0;
        auto [p, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), off, 16);
        if (ec != std::errc() || p != sv.data() + sv.size()) return Error::make(Errc::usage, "--kaslr: not a hex offset: {}", v);
        o.kaslr = off;
      }
    } else if (a.size() > 1 && a[0] == '-') {
      return Error::make(Errc::usage, "unknown option: {}", a);
    } else {
      files.push_back(a);
    }
  }
  if (o.help || o.version || !o.osrelease_dump.empty() || !o.log_dump.empty()) return o;
  for (auto& f : files) {
    switch (classify(f)) {
      case FileKind::missing: return Error::make(Errc::os, "{}: {}", f, std::strerror(errno ? errno : ENOENT));
      case FileKind::vmlinux:
        if (o.vmlinux.empty()) {
          o.vmlinux = f;
          break;
        }
        return Error::make(Errc::usage, "{}: a second kernel image (the first was {})", f, o.vmlinux);
      case FileKind::bzimage:
        return Error::make(Errc::unsupported,
                           "{}: a compressed kernel image (bzImage), which has no symbols: give the uncompressed "
                           "vmlinux with debug info (Debian: the linux-image-*-dbg package)", f);
      case FileKind::dump: o.dumps.push_back(f); break;
    }
  }
  if (o.dumps.empty()) {
    if (o.vmlinux.empty()) return Error::make(Errc::usage, "no vmlinux given (an ELF kernel image with symbols)");
    return Error::make(Errc::usage, "no dump file given");
  }
  if (o.vmlinux.empty()) o.vmlinux = TRY(find_vmlinux(o.dumps));
  return o;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { commands::interrupt_flag = 1; };
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

Shell::Shell(commands::Session& session) : session_(session) {
  // crash's scroll: on in an interactive session (a terminal on both ends; a script piped in
  // never waits on a pager); CRASHPAGER, then PAGER, then less.
  if (isatty(STDOUT_FILENO) && isatty(STDIN_FILENO)) {
    const char* crash_pager = getenv("CRASHPAGER");
    const char* pager = getenv("PAGER");
    if (crash_pager && *crash_pager) {
      pager_ = crash_pager;
      pager_label_ = std::string("CRASHPAGER: ") + crash_pager;
    } else if (pager && *pager) {
      pager_ = pager;
      pager_label_ = pager;
    } else if (access("/usr/bin/less", X_OK) == 0) {
      pager_ = "/usr/bin/less -E -X";
      pager_label_ = "/usr/bin/less";
    } else if (access("/bin/more", X_OK) == 0) {
      pager_ = "/bin/more";
      pager_label_ = "/bin/more";
    }
    scroll_ = !pager_.empty();
  }
  session_.scroll_state = [this] { return scroll_state(); };
}

Shell::~Shell() { session_.scroll_state = nullptr; }

std::string Shell::scroll_state() const {
  return fmt::format("{} ({})", scroll_ ? "on" : "off", pager_label_.empty() ? "none" : pager_label_);
}

namespace {

std::string history_path() {
  if (const char* p = getenv("CORONER_HISTORY"); p && *p) return p;
  if (const char* home = getenv("HOME"); home && *home) return std::string(home) + "/.coroner_history";
  return "";
}

// `foreach ... CMD [options]` under --json: CMD (foreach's first word that names a command) has
// JSON output, so foreach's output is CMD's documents.
bool foreach_json_capable(const std::vector<std::string>& argv) {
  for (size_t i = 1; i < argv.size(); ++i)
    if (commands::find_command(argv[i])) return commands::json::supported(argv[i]);
  return false;
}

}  // namespace

bool Shell::run_command(const std::vector<std::string>& argv, FILE* out) {
  const std::string& name = argv[0];
  if (name == "q" || name == "quit" || name == "exit") {
    quit_ = true;
    return true;
  }
  const commands::Command* cmd = commands::find_command(name);
  try {
    if (name == "set" && argv.size() >= 2 && argv[1] == "scroll") return run_set_scroll(argv, out);
    commands::Output o(out);
    // --json: every command answers with one JSON document; one without JSON output (and a
    // wrong command line) with an error document instead of its text.
    bool json_foreach = session_.json && cmd && name == "foreach" && foreach_json_capable(argv);
    if (session_.json && !json_foreach && (!cmd || !commands::json::supported(name))) {
      commands::json::print_error(o, name, cmd ? "no JSON output for this command" : "command not found");
      return false;
    }
    if (!cmd) {
      o.print("{}: command not found\n", name);
      return false;
    }
    auto args = commands::parse_args(cmd->spec, std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (!args) {
      if (session_.json) commands::json::print_error(o, cmd->spec.name, args.error().message);
      else {
        // As crash: getopt's complaint on stderr, the usage on the command's output.
        std::fflush(out);
        fmt::print(stderr, "{}\n", args.error().message);
        o.write(commands::usage_block(cmd->spec));
      }
      kernel::after_command(session_.kernel, true);  // crash's cmd_usage(): a restart
      return false;
    }
    if (json_foreach) {
      bool okay = run_json_foreach(*cmd, *args, out);
      kernel::after_command(session_.kernel, !okay);
      return okay;
    }
    auto r = cmd->run(session_, *args, o);
    // A failed command is crash's error(FATAL) restart: the session flags of kernel/session_flags.h
    // (the page header, vm -M) are reset, unless the command reported an error(INFO).
    kernel::after_command(session_.kernel, !r);
    warn_if_task_list_cut(cmd->spec.name);
    if (!r) {
      if (!r.error().message.empty()) o.print("{}: {}\n", cmd->spec.name, r.error().message);
      return false;
    }
  } catch (const commands::OutputStopped& stopped) {
    // Ctrl-C or a closed pipe: the command's output cannot go on; tell the terminal why.
    // A reader that has all it wanted (`foreach bt | head -2`) is no failure, as in a shell.
    if (stopped.reason != "interrupted") return true;
    kernel::after_command(session_.kernel, true);  // crash restarts after SIGINT
    fmt::print(stderr, "\n{}: interrupted\n", cmd ? cmd->spec.name : name);
    return false;
  } catch (const std::system_error&) {
    return false;  // fmt could not write (a closed pipe)
  }
  return true;
}

// foreach's output under --json: its command's documents, one per task (`foreach bt`) or one
// for all (`foreach ps`). foreach separates tasks with blank lines and names the selectors
// that match nothing in text; here the blank lines go and a text line becomes an error
// document, so standard output still holds documents only.
bool Shell::run_json_foreach(const commands::Command& cmd, const commands::Args& args, FILE* out) {
  char* buf = nullptr;
  size_t size = 0;
  FILE* mem = open_memstream(&buf, &size);
  if (!mem) {
    commands::Output o(out);
    commands::json::print_error(o, "foreach", std::strerror(errno));
    return false;
  }
  Result<void> r = ok();
  try {
    commands::Output o(mem);
    r = cmd.run(session_, args, o);
  } catch (...) {
    fclose(mem);
    free(buf);
    throw;
  }
  fclose(mem);
  std::string text(buf, size);
  free(buf);
  warn_if_task_list_cut(cmd.spec.name);
  commands::Output o(out);
  bool all_ok = static_cast<bool>(r);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty()) continue;
    if (line.front() == '{') {
      o.write(line);
      o.write("\n");
    } else {
      commands::json::print_error(o, "foreach", line);
      all_ok = false;
    }
  }
  if (!r && !r.error().message.empty()) commands::json::print_error(o, "foreach", r.error().message);
  return all_ok;
}

// A damaged task list leaves every task command (bt -a, foreach, set, ...) with the tasks
// reached before the damage; say so once, on stderr, rather than let them answer as if the
// list were whole (ps says it itself, with its listing).
void Shell::warn_if_task_list_cut(const std::string& command) {
  if (warned_task_list_cut_) return;
  const kernel::TaskTable* tt = kernel::built_task_table(session_.kernel);
  if (!tt || !tt->cut) return;
  warned_task_list_cut_ = true;
  if (command == "ps") return;
  fflush(stdout);
  fmt::print(stderr, "WARNING: the task list is cut: task commands see only the {} tasks reached: {}\n",
             tt->tasks.size(), tt->cut->message);
}

// `set scroll [on|off]`: crash's variable, kept by the shell because the pager is the shell's.
// Answers as crash does: "scroll: off (/usr/bin/less)"; "(none)" when output is no terminal.
bool Shell::run_set_scroll(const std::vector<std::string>& words, FILE* out) {
  if (words.size() > 2) {
    const std::string& v = words[2];
    if (v == "on") set_scroll(true);
    else if (v == "off") set_scroll(false);
    else {
      commands::Output(out).print("set: invalid scroll setting: {}\n", v);
      return false;
    }
  }
  commands::Output(out).print("scroll: {}\n", scroll_state());
  return true;
}

// crash's aliases: a line whose first word is an alias runs its command string instead, with
// the rest of the line appended (so an alias may hold a pipe: `alias ksd "kmem -s | grep dentry"`).
std::string Shell::expand_alias(const std::string& line) const {
  std::string cur = line;
  for (int depth = 0; depth < 8; ++depth) {
    size_t end = cur.find_first_of(" \t");
    std::string first = cur.substr(0, end);
    const commands::Alias* hit = nullptr;
    for (auto& a : session_.aliases)
      if (a.name == first) hit = &a;
    if (!hit) break;
    std::string rest = end == std::string::npos ? "" : cur.substr(end);
    std::string expanded = hit->command + rest;
    if (expanded.substr(0, expanded.find_first_of(" \t")) == first) return expanded;  // `alias bt "bt -a"`
    cur = expanded;
  }
  return cur;
}

bool Shell::run_line(const std::string& raw) {
  std::string line = trim(raw);
  if (line.empty() || line[0] == '#') return true;
  if (line[0] == '!') {
    fflush(stdout);
    std::string cmd = trim(line.substr(1));
    if (cmd.empty()) cmd = getenv("SHELL") ? getenv("SHELL") : "/bin/sh";
    int status = std::system(cmd.c_str());
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  line = expand_alias(line);
  commands::interrupt_flag = 0;
  clearerr(stdout);
  FILE* out = stdout;
  FILE* opened = nullptr;
  bool is_pipe = false;
  size_t bar = find_unquoted(line, "|");
  size_t redir = find_unquoted(line, ">");
  std::string cmdpart = line;
  if (bar != std::string::npos && (redir == std::string::npos || bar < redir)) {
    cmdpart = line.substr(0, bar);
    std::string pipeline = line.substr(bar + 1);
    fflush(stdout);
    opened = popen(pipeline.c_str(), "w");
    if (!opened) {
      fmt::print("cannot run pipeline: {}\n", std::strerror(errno));
      return false;
    }
    is_pipe = true;
  } else if (redir != std::string::npos) {
    cmdpart = line.substr(0, redir);
    bool append = redir + 1 < line.size() && line[redir + 1] == '>';
    std::string path = trim(line.substr(redir + (append ? 2 : 1)));
    opened = std::fopen(path.c_str(), append ? "a" : "w");
    if (!opened) {
      fmt::print("{}: {}\n", path, std::strerror(errno));
      return false;
    }
  }
  auto words = split_words(cmdpart);
  bool quits = !words.empty() && (words[0] == "q" || words[0] == "quit" || words[0] == "exit");
  if (!opened && scroll_ && !quits && !words.empty()) {
    // crash's scroll: the whole output through the pager, which returns at its end (-E).
    fflush(stdout);
    opened = popen(pager_.c_str(), "w");
    is_pipe = opened != nullptr;
  }
  if (opened) out = opened;
  bool okay = words.empty() ? true : run_command(words, out);
  fflush(out);
  if (opened) {
    if (is_pipe) pclose(opened);
    else fclose(opened);
  }
  clearerr(stdout);
  fflush(stdout);
  return okay;
}

bool Shell::run_input(const std::string& raw) {
  std::string line = trim(raw);
  if (line.empty()) return true;
  HistoryRequest req = history_request(line, history_);
  commands::Output out(stdout);
  std::string word = line.substr(0, line.find_first_of(" \t"));
  switch (req.kind) {
    case HistoryRequest::Kind::list:
      if (session_.json) commands::json::print_error(out, word, "no JSON output for this command");
      else out.write(history_listing(history_));
      fflush(stdout);
      return !session_.json;
    case HistoryRequest::Kind::failed:
      // crash: "no commands entered!" and "command N not entered yet!" are its errors (named
      // after the program), "invalid repeat request: ..." a plain line.
      if (session_.json) commands::json::print_error(out, word, req.message);
      else if (req.message.starts_with("invalid")) out.print("{}\n", req.message);
      else out.print("{}: {}\n", session_.program, req.message);
      fflush(stdout);
      return false;
    case HistoryRequest::Kind::rerun:
      line = req.line;
      if (!session_.json) out.print("{}> {}\n", session_.program, line);
      fflush(stdout);
      break;
    case HistoryRequest::Kind::none:
      break;
  }
  history_.push_back(line);
  constexpr size_t kHistoryMax = 1000;  // as stifle_history below
  if (history_.size() > kHistoryMax) history_.erase(history_.begin());
  if (interactive_) {
    add_history(line.c_str());
    if (std::string path = history_path(); !path.empty()) write_history(path.c_str());
  }
  return run_line(line);
}

int Shell::run_stream(FILE* in) {
  int failures = 0;
  char* buf = nullptr;
  size_t cap = 0;
  while (!quit_ && getline(&buf, &cap, in) >= 0) {
    if (!run_input(buf)) {
      ++failures;
      if (stop_on_error_) break;
    }
  }
  free(buf);
  return failures;
}

namespace {

// libedit's completion hooks are plain functions: they reach the session's completer here.
Completer* active_completer = nullptr;
std::vector<std::string> pending_matches;

char* match_generator(const char*, int state) {
  static size_t index;
  if (!state) index = 0;
  if (index < pending_matches.size()) return strdup(pending_matches[index++].c_str());
  return nullptr;
}

char** complete(const char* text, int start, int end) {
  rl_attempted_completion_over = 1;
  if (!active_completer) return nullptr;
  std::string line(rl_line_buffer, static_cast<size_t>(std::max(end, 0)));
  std::string word = text;
  (void)start;
  pending_matches = active_completer->complete(line, word);
  // A member goes on (`task_struct.se.`, `init_task.mm->pgd`): no space after it.
  rl_completion_append_character = active_completer->offered_members() ? '\0' : ' ';
  if (pending_matches.empty()) return nullptr;
  return rl_completion_matches(text, match_generator);
}

}  // namespace

namespace {

// The prompt reads its keys here rather than through libedit's built-in reader: libedit's
// SIGINT handler puts the terminal in cooked mode and re-raises the signal to our handler,
// and when Ctrl-C lands while libedit is drawing rather than inside read(), its reader then
// waits in cooked mode behind our restarting handler: the prompt hangs (seen under ASan,
// where drawing is slow). Here SIGINT is blocked except inside ppoll, so a Ctrl-C at any
// moment ends the wait and readline() returns; run_interactive() drops the half-typed line.
// libedit keeps its handlers for the rest (Ctrl-Z and fg restore raw mode and redraw,
// window-size changes).
int prompt_getc(FILE*) {
  sigset_t block, saved, wait_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &saved);
  wait_mask = saved;
  sigdelset(&wait_mask, SIGINT);
  int result = EOF;
  for (;;) {
    if (commands::interrupt_requested()) break;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    int r = ppoll(&p, 1, nullptr, &wait_mask);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    unsigned char c;
    ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n == 1) {
      result = c;
      break;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    break;  // end of input or a read error: the session ends as at Ctrl-D
  }
  sigprocmask(SIG_SETMASK, &saved, nullptr);
  return result;
}

// libedit prints the prompt while the terminal is still in cooked mode and switches to raw
// mode only before its first read: a key typed in between is taken by the kernel's line
// discipline (a Ctrl-D there becomes a NUL byte and the session does not end). Raw mode before
// the prompt closes that window; libedit restores the terminal when the line is done.
int prompt_raw_first() {
  rl_prep_terminal(1);
  return 0;
}

}  // namespace

int Shell::run_interactive() {
  std::string history = history_path();
  rl_getc_function = prompt_getc;
  rl_pre_input_hook = prompt_raw_first;
  using_history();
  stifle_history(1000);
  if (!history.empty()) read_history(history.c_str());
  // The saved lines are the first of `h`'s list.
  history_.clear();
  for (int i = 0; i < history_length; ++i)
    if (HIST_ENTRY* e = history_get(history_base + i); e && e->line) history_.push_back(e->line);
  interactive_ = true;
  Completer completer(session_);
  active_completer = &completer;
  rl_attempted_completion_function = complete;
  int failures = 0;
  std::string prompt = session_.program + "> ";
  while (!quit_) {
    commands::interrupt_flag = 0;
    char* line = readline(prompt.c_str());
    if (commands::interrupt_requested()) {  // Ctrl-C at the prompt: a fresh line, not the end
      free(line);
      fmt::print("\n");
      continue;
    }
    if (!line) {
      fmt::print("\n");
      break;
    }
    std::string l = line;
    free(line);
    // crash runs restore_sanity() before each command typed at its prompt: the page header is
    // due again and a vm -M is forgotten (a script keeps both: kernel/session_flags.h).
    kernel::restart_session_flags(session_.kernel);
    if (!run_input(l)) ++failures;
  }
  active_completer = nullptr;
  interactive_ = false;
  if (!history.empty()) write_history(history.c_str());
  return failures;
}

namespace {

// `coroner --dmesg ... VMLINUX`: the log through the full Kernel (types from the vmlinux).
Result<std::vector<kernel::LogRecord>> log_with_vmlinux(const std::string& vmlinux, const std::vector<std::string>& dumps) {
  auto k = TRY(kernel::Kernel::open(vmlinux, dumps, {}));
  return kernel::read_log(*k);
}

}  // namespace

// coroner --osrelease DUMP: the release the dump's VMCOREINFO names, as crash prints it.
int osrelease_main(const std::string& path) {
  auto dump = dumpfmt::open_dump({path});
  if (!dump) {
    fmt::print(stderr, "coroner: {}\n", dump.error().message);
    return 1;
  }
  dumpfmt::VmcoreInfo vi((*dump)->info().vmcoreinfo);
  auto release = vi.get("OSRELEASE");
  if (!release) {
    fmt::print(stderr, "coroner: {}: no OSRELEASE in the dump ({})\n", path,
               vi.empty() ? "it has no VMCOREINFO" : "VMCOREINFO has none");
    return 1;
  }
  fmt::print("{}\n", *release);
  return 0;
}

// The session's Kernel, left to the process's exit (see coroner_main). External linkage, so
// the compiler keeps the store and leak checkers find the Kernel reachable from here.
kernel::Kernel* kept_kernel = nullptr;

int coroner_main(int argc, char** argv) {
  // The user's character set, as gdb under crash uses it: strings in kernel memory print
  // their printable multibyte characters as they are under a UTF-8 locale (LC_CTYPE only).
  std::setlocale(LC_CTYPE, "");
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--dmesg") return dmesg_main(argc, argv, log_with_vmlinux);
  auto opts = parse_program_args(argc, argv);
  if (!opts) {
    fmt::print(stderr, "coroner: {}\n", opts.error().message);
    if (opts.error().code == Errc::usage) fmt::print(stderr, "\n{}", program_usage());
    return 2;
  }
  if (opts->help) {
    fmt::print("{}", program_usage());
    return 0;
  }
  if (opts->version) {
    fmt::print("coroner {}\n", kVersion);
    return 0;
  }
  if (!opts->osrelease_dump.empty()) return osrelease_main(opts->osrelease_dump);
  if (!opts->log_dump.empty()) {
    // crash's --log: the log of the dump alone, which coroner --dmesg already prints.
    std::string dmesg = "--dmesg";
    std::vector<char*> args{argv[0], dmesg.data(), opts->log_dump.data()};
    return dmesg_main(static_cast<int>(args.size()), args.data(), log_with_vmlinux);
  }
  kernel::OpenOptions ko;
  ko.kaslr_offset = opts->kaslr;
  ko.ignore_mismatch = opts->ignore_mismatch;
  auto k = kernel::Kernel::open(opts->vmlinux, opts->dumps, ko);
  if (!k) {
    fmt::print(stderr, "coroner: {}\n", k.error().message);
    return 1;
  }
  // The Kernel (symbol tables, type indexes, caches: many small allocations) is not freed at
  // exit: handing the pages back with the process is immediate, freeing them one by one took
  // a sixth of a start+exit session. It stays reachable (kept_kernel), so leak checkers do not
  // report it. Declared here, the guard runs after the shell and session are gone.
  struct KeepKernel {
    std::unique_ptr<kernel::Kernel>& k;
    ~KeepKernel() { kept_kernel = k.release(); }
  } keep{*k};
  install_signal_handlers();
  commands::Session session{**k};
  session.json = opts->json;
  Shell sh(session);
  sh.set_stop_on_error(opts->stop_on_error);
  commands::Output out(stdout);
  if (!opts->silent && !opts->json) {  // with --json, standard output holds JSON documents only
    fmt::print("\ncoroner {}\n\n", kVersion);
    commands::print_sys_banner(session, out);
    fmt::print("\n");
    fflush(stdout);
  }
  int failures = 0;
  for (auto& f : opts->input_files) {
    FILE* in = std::fopen(f.c_str(), "r");
    if (!in) {
      fmt::print(stderr, "coroner: {}: {}\n", f, std::strerror(errno));
      return 1;
    }
    failures += sh.run_stream(in);
    std::fclose(in);
    if (sh.quit_requested() || (failures && opts->stop_on_error)) return failures ? 1 : 0;
  }
  // At the prompt a failed command is the user's to see, not the session's exit status.
  if (isatty(STDIN_FILENO)) sh.run_interactive();
  else failures += sh.run_stream(stdin);
  return failures ? 1 : 0;
}

}  // namespace coroner::shell
