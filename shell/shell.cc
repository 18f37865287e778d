#include "shell/shell.h"

#include <elf.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <fstream>

#include <editline/readline.h>

#include "commands/builtin.h"
#include "kernel/kernel.h"
#include "kernel/printk.h"
#include "shell/dmesg.h"
#include "shell/file_kind.h"

namespace coroner::shell {
namespace {

constexpr const char* kVersion = "0.1.0";


// Finds the first unquoted occurrence of any of `chars`.
size_t find_unquoted(const std::string& s, const char* chars) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '\\') {
      ++i;
    } else if (std::strchr(chars, c)) {
      return i;
    }
  }
  return std::string::npos;
}

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
         "  (VMLINUX and DUMP may be given in either order)\n\n"
         "  -s               silent: no banner at start-up\n"
         "  -i FILE          run the commands in FILE first\n"
         "  --kaslr OFFSET   KASLR relocation offset (hex), or 'auto' (the default)\n"
         "  --force          open even when vmlinux and the dump do not match\n"
         "  -h, --help       this help\n"
         "  --dmesg DUMP [DUMP...] [-o FILE|-]\n"
         "                   print the kernel log of the dump (makedumpfile --dump-dmesg's text)\n"
         "                   to standard output or FILE; needs no vmlinux on 5.10+ kernels (3.5+\n"
         "                   with makedumpfile's VMCOREINFO), uses one when given\n"
         "  -v, --version    print the version\n\n"
         "Commands are read from standard input when it is not a terminal:\n"
         "  echo sys | coroner vmlinux vmcore\n";
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
  if (o.help || o.version) return o;
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
  if (o.vmlinux.empty()) return Error::make(Errc::usage, "no vmlinux given (an ELF kernel image with symbols)");
  if (o.dumps.empty()) return Error::make(Errc::usage, "no dump file given");
  return o;
}

bool Shell::run_command(const std::vector<std::string>& argv, FILE* out) {
  const std::string& name = argv[0];
  if (name == "q" || name == "quit" || name == "exit") {
    quit_ = true;
    return true;
  }
  const commands::Command* cmd = commands::find_command(name);
  commands::Output o(out);
  if (!cmd) {
    o.print("{}: command not found\n", name);
    return false;
  }
  auto args = commands::parse_args(cmd->spec, std::vector<std::string>(argv.begin() + 1, argv.end()));
  if (!args) {
    o.print("{}\nUsage: {} {}\n", args.error().message, cmd->spec.name, cmd->spec.usage);
    return false;
  }
  auto r = cmd->run(session_, *args, o);
  if (!r) {
    if (!r.error().message.empty()) o.print("{}: {}\n", cmd->spec.name, r.error().message);
    return false;
  }
  return true;
}

bool Shell::run_line(const std::string& raw) {
  std::string line = trim(raw);
  if (line.empty() || line[0] == '#') return true;
  if (line[0] == '!') {
    fflush(stdout);
    return std::system(line.c_str() + 1) == 0;
  }
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
  if (opened) out = opened;
  auto words = split_words(cmdpart);
  bool okay = words.empty() ? true : run_command(words, out);
  fflush(out);
  if (opened) {
    if (is_pipe) pclose(opened);
    else fclose(opened);
  }
  fflush(stdout);
  return okay;
}

int Shell::run_stream(FILE* in) {
  int failures = 0;
  char* buf = nullptr;
  size_t cap = 0;
  while (!quit_ && getline(&buf, &cap, in) >= 0)
    if (!run_line(buf)) ++failures;
  free(buf);
  return failures;
}

namespace {
char* command_generator(const char* text, int state) {
  static size_t index;
  if (!state) index = 0;
  const auto& all = commands::all_commands();
  size_t len = std::strlen(text);
  while (index < all.size()) {
    const auto& name = all[index++].spec.name;
    if (name.compare(0, len, text) == 0) return strdup(name.c_str());
  }
  return nullptr;
}
char** complete(const char* text, int start, int) {
  rl_attempted_completion_over = 1;
  if (start == 0) return rl_completion_matches(text, command_generator);
  return nullptr;
}
}  // namespace

int Shell::run_interactive() {
  std::string history;
  if (const char* home = getenv("HOME")) history = std::string(home) + "/.coroner_history";
  using_history();
  if (!history.empty()) read_history(history.c_str());
  rl_attempted_completion_function = complete;
  int failures = 0;
  std::string prompt = session_.program + "> ";
  while (!quit_) {
    char* line = readline(prompt.c_str());
    if (!line) {
      fmt::print("\n");
      break;
    }
    std::string l = line;
    free(line);
    if (!trim(l).empty()) add_history(l.c_str());
    if (!run_line(l)) ++failures;
  }
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

int coroner_main(int argc, char** argv) {
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
  kernel::OpenOptions ko;
  ko.kaslr_offset = opts->kaslr;
  ko.ignore_mismatch = opts->ignore_mismatch;
  auto k = kernel::Kernel::open(opts->vmlinux, opts->dumps, ko);
  if (!k) {
    fmt::print(stderr, "coroner: {}\n", k.error().message);
    return 1;
  }
  commands::Session session{**k};
  Shell sh(session);
  commands::Output out(stdout);
  if (!opts->silent) {
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
    if (sh.quit_requested()) return failures ? 1 : 0;
  }
  if (isatty(STDIN_FILENO)) failures += sh.run_interactive();
  else failures += sh.run_stream(stdin);
  return failures ? 1 : 0;
}

}  // namespace coroner::shell
