// help: the command list in crash's layout, one command's page in crash's sections (NAME,
// SYNOPSIS, DESCRIPTION with each option, EXAMPLES) made from its CommandSpec, the "input"
// and "output" topics the list's footer names, and of crash's internal-table options the
// ones that mean something here: -D/-n (the dump file's header), -r (the registers in the
// dump's CPU notes, as crash prints them) and -z (these options).
//
//   coroner> help
//   (the command names in five columns, sorted, "q" last)
//   coroner> help sym
//   coroner> help hex          (an alias: its command's page)
#include "commands/help.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "commands/builtin.h"
#include "dumpfmt/dump.h"
#include "kernel/kernel.h"

namespace coroner::commands {
namespace {

constexpr std::string_view kVersion = "0.1.0";
constexpr int kColumns = 5;       // crash's HELP_COLUMNS
constexpr size_t kNameWidth = 15;  // each name left-justified in 15 columns
constexpr size_t kLineWidth = 80;  // pages wrap option texts here

// crash's order: strcmp order, except "q", which has always been listed last.
std::vector<std::string> listed_names() {
  std::vector<std::string> names;
  for (const Command* c : every_command()) names.push_back(c->spec.name);
  names.push_back("exit");
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  names.push_back("q");
  return names;
}

// Column-major, as crash fills its menu: rows = ceil(n / 5), name i of column j is
// names[j * rows + i]; every name padded to 15 columns.
void print_menu(Session& s, Output& out) {
  std::vector<std::string> names = listed_names();
  size_t rows = (names.size() + kColumns - 1) / kColumns;
  std::string text = "\n";
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < static_cast<size_t>(kColumns); ++c) {
      size_t i = c * rows + r;
      if (i >= names.size()) break;
      text += fmt::format("{:<{}}", names[i], kNameWidth);
    }
    text += "\n";
  }
  text += fmt::format("\n{} version: {:<6}   gdb version: none\n", s.program, kVersion);
  text += "For help on any command above, enter \"help <command>\".\n";
  text += "For help on input options, enter \"help input\".\n";
  text += "For help on output options, enter \"help output\".\n\n";
  out.write(text);
}

// The word naming an option's argument, as the usage line spells it ("-m module" ->
// "module"); "arg" when the usage does not show one.
std::string argument_name(const CommandSpec& spec, char flag) {
  std::string key = std::string("-") + flag;
  for (size_t at = spec.usage.find(key); at != std::string::npos; at = spec.usage.find(key, at + 1)) {
    size_t from = at + key.size();
    if (from >= spec.usage.size() || spec.usage[from] != ' ') continue;
    ++from;
    size_t end = spec.usage.find_first_of(" ]|", from);
    std::string word = spec.usage.substr(from, end == std::string::npos ? std::string::npos : end - from);
    if (!word.empty() && word[0] != '-' && word[0] != '[') return word;
  }
  return "arg";
}

// Appends `text` to `page` wrapped at kLineWidth, the first line after `lead` (already
// `indent` columns wide), the others indented by `indent` spaces.
void append_wrapped(std::string& page, std::string_view lead, size_t indent, std::string_view text) {
  std::string line(lead);
  bool first_word = true;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) continue;
    if (!first_word && line.size() + 1 + word.size() > kLineWidth) {
      page += line + "\n";
      line = std::string(indent, ' ');
      first_word = true;
    }
    if (!first_word) line += ' ';
    line += word;
    first_word = false;
  }
  page += line + "\n";
}

std::string sentence(std::string_view text) {
  std::string s(text);
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  if (!s.empty() && s.back() != '.' && s.back() != ':' && s.back() != ')') s += '.';
  else if (!s.empty() && s.back() == ')' && s.find('(') == std::string::npos) s += '.';
  return s;
}

}  // namespace

// One command's page, in crash's sections; what crash writes as prose comes from the spec:
// the summary, each option (right-aligned as crash aligns them, its argument named as the
// usage line names it), the aliases, and the examples as typed at the prompt.
std::string help_page(const CommandSpec& spec, std::string_view program) {
  std::string page = fmt::format("\nNAME\n  {} - {}\n\nSYNOPSIS\n  {} {}\n\nDESCRIPTION\n", spec.name, spec.summary,
                                 spec.name, spec.usage);
  append_wrapped(page, "  ", 2, sentence(spec.summary));
  if (!spec.options.empty()) {
    std::vector<std::string> labels;
    size_t width = 0;
    for (auto& o : spec.options) {
      std::string label = std::string("-") + o.flag;
      if (o.takes_argument) label += " " + argument_name(spec, o.flag);
      width = std::max(width, label.size());
      labels.push_back(std::move(label));
    }
    width += 3;  // crash indents its option column
    page += "\n";
    for (size_t i = 0; i < spec.options.size(); ++i)
      append_wrapped(page, fmt::format("{:>{}}  ", labels[i], width), width + 2, sentence(spec.options[i].help));
  }
  if (!spec.aliases.empty()) {
    std::string list;
    for (auto& a : spec.aliases) list += (list.empty() ? "" : ", ") + fmt::format("\"{}\"", a);
    page += "\n";
    append_wrapped(page, "  ", 2, fmt::format("This command may also be entered as {}.", list));
  }
  if (!spec.examples.empty()) {
    page += "\nEXAMPLES\n";
    for (auto& e : spec.examples) page += fmt::format("    {}> {}\n", program, e);
  }
  page += "\n";
  return page;
}

namespace {

void print_input_help(Session& s, Output& out) {
  const std::string& p = s.program;
  std::string t;
  t += fmt::format("Interactive {} commands are read with line editing (libedit) and a\n", p);
  t += "command history, kept between sessions in ~/.coroner_history (or $CORONER_HISTORY).\n";
  t += "The up- and down-arrow keys (or CTRL-p and CTRL-n) recall earlier commands.\n\n";
  t += "The command history is a numbered list of the commands entered, which \"h\"\n";
  t += "shows at any time.  A command of the list runs again with:\n\n";
  t += "  1. \"r\" alone, or \"!!\": the last command;\n";
  t += "  2. \"r\" followed by a number (\"r 3\", \"r3\"), or \"!\" and the number: that command;\n";
  t += "  3. \"r\" followed by the first characters of a command (\"r sym\"): the latest\n";
  t += "     command starting with them.\n\n";
  t += "The command is shown after the prompt before it runs.  In a script (commands on\n";
  t += "standard input or from -i), the list holds the script's own commands.\n\n";
  t += "The TAB key completes command names, a command's options, symbol names, and\n";
  t += "structure and union names and members, as in \"struct task_struct.se.<TAB>\"\n";
  t += "and \"p init_task.mm-><TAB>\".\n\n";
  t += fmt::format("A file of {} commands, one per line, can be run from the command line:\n\n", p);
  t += fmt::format("  $ {} -i inputfile vmlinux vmcore\n\n", p);
  t += "or given on standard input, in which case the exit status tells whether a\n";
  t += "command failed:\n\n";
  t += fmt::format("  $ {} -s vmlinux vmcore < inputfile\n\n", p);
  t += "A line's first word may be an alias (see \"alias\"); a line starting with \"#\"\n";
  t += "is a comment.  To run a shell command, start the line with \"!\".\n";
  out.write(t);
}

void print_output_help(Session& s, Output& out) {
  const std::string& p = s.program;
  std::string t;
  t += fmt::format("\nWhen {} runs on a terminal, command output goes through a pager\n", p);
  t += "(CRASHPAGER, PAGER, or /usr/bin/less -E -X).  \"set scroll off\" (alias \"sf\")\n";
  t += "turns that off, \"set scroll on\" (alias \"sn\") back on.\n\n";
  t += "Command output may be piped to a shell command:\n\n";
  t += fmt::format("  {}> log | grep eth0\n\n", p);
  t += "or written to a file, or appended to one:\n\n";
  t += fmt::format("  {}> foreach bt > bt.all\n", p);
  t += fmt::format("  {}> ps >> {}.data\n\n", p, p);
  t += "The default output radix of p and struct is decimal.  \"set radix 16\" (alias\n";
  t += "\"hex\") makes it hexadecimal, \"set radix 10\" (alias \"dec\") decimal again.\n";
  t += "To run a shell command, start the line with \"!\".\n \n";
  out.write(t);
}

// Registers as the dump file's CPU notes hold them (crash's `help -r`), x86_64 only: the
// elf_prstatus form (kdump ELF and compressed dumps), or QEMU's own CPU state in the ELF dumps
// QEMU writes (every segment register and control register too).
uint64_t u64_at(const std::vector<uint8_t>& raw, size_t off) {
  uint64_t v = 0;
  if (off + 8 <= raw.size()) std::memcpy(&v, raw.data() + off, 8);
  return v;
}
uint32_t u32_at(const std::vector<uint8_t>& raw, size_t off) {
  uint32_t v = 0;
  if (off + 4 <= raw.size()) std::memcpy(&v, raw.data() + off, 4);
  return v;
}

// elf_prstatus (x86_64): pr_reg, a user_regs_struct, at offset 112: r15 r14 r13 r12 bp bx r11
// r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss ..., 27 words.
constexpr size_t kPrRegOffset = 112;
constexpr size_t kUserRegsWords = 27;

Result<void> print_prstatus_registers(const dumpfmt::CpuNote& n, Output& out) {
  if (n.raw.size() < kPrRegOffset + kUserRegsWords * 8)
    return Error::make(Errc::bad_data, "NT_PRSTATUS of CPU {}: {} bytes, too short", n.index, n.raw.size());
  auto r = [&](int i) { return u64_at(n.raw, kPrRegOffset + static_cast<size_t>(i) * 8); };
  out.print("CPU {}:\n", n.index);
  out.print("    RIP: {:016x}  RSP: {:016x}  RFLAGS: {:08x}\n", r(16), r(19), r(18));
  out.print("    RAX: {:016x}  RBX: {:016x}  RCX: {:016x}\n", r(10), r(5), r(11));
  out.print("    RDX: {:016x}  RSI: {:016x}  RDI: {:016x}\n", r(12), r(13), r(14));
  out.print("    RBP: {:016x}   R8: {:016x}   R9: {:016x}\n", r(4), r(9), r(8));
  out.print("    R10: {:016x}  R11: {:016x}  R12: {:016x}\n", r(7), r(6), r(3));
  out.print("    R13: {:016x}  R14: {:016x}  R15: {:016x}\n", r(2), r(1), r(0));
  out.print("    CS: {:04x}  SS: {:04x}\n", r(17), r(20));
  return ok();
}

// QEMUCPUState (QEMU's dump.c): version, size, then rax rbx rcx rdx rsi rdi rsp rbp r8-r15
// rip rflags, ten segments {selector, limit, flags, pad: u32; base: u64} (cs ds es fs gs ss
// ldt tr gdt idt), cr[5].
constexpr size_t kQemuRegs = 8, kQemuSegments = kQemuRegs + 18 * 8, kQemuSegmentSize = 24,
                 kQemuCr = kQemuSegments + 10 * kQemuSegmentSize;

Result<void> print_qemu_registers(const dumpfmt::CpuNote& n, Output& out) {
  if (n.raw.size() < kQemuCr + 5 * 8)
    return Error::make(Errc::bad_data, "QEMU CPU state of CPU {}: {} bytes, too short", n.index, n.raw.size());
  auto r = [&](int i) { return u64_at(n.raw, kQemuRegs + static_cast<size_t>(i) * 8); };
  out.print("CPU {}:\n", n.index);
  out.print("  RAX: {:016x}  RBX: {:016x}  RCX: {:016x}\n", r(0), r(1), r(2));
  out.print("  RDX: {:016x}  RSI: {:016x}  RDI:{:016x}\n", r(3), r(4), r(5));  // crash's missing space
  out.print("  RSP: {:016x}  RBP: {:016x}   R8: {:016x}\n", r(6), r(7), r(8));
  out.print("   R9: {:016x}  R10: {:016x}  R11: {:016x}\n", r(9), r(10), r(11));
  out.print("  R12: {:016x}  R13: {:016x}  R14: {:016x}\n", r(12), r(13), r(14));
  out.print("  R15: {:016x}  RIP: {:016x}  RFLAGS: {:08x}\n", r(15), r(16), r(17));
  static constexpr const char* kSegments[] = {"CS", "DS", "ES", "FS", "GS", "SS", "LDT", "TR", "GDT", "IDT"};
  for (size_t i = 0; i < 10; ++i) {
    size_t at = kQemuSegments + i * kQemuSegmentSize;
    out.print("{:>5}: selector: {:04x}  limit: {:08x}  flags: {:08x}\n", kSegments[i], u32_at(n.raw, at),
              u32_at(n.raw, at + 4), u32_at(n.raw, at + 8));
    out.print("       pad: {:08x}   base: {:016x}\n", u32_at(n.raw, at + 12), u64_at(n.raw, at + 16));
  }
  auto cr = [&](int i) { return u64_at(n.raw, kQemuCr + static_cast<size_t>(i) * 8); };
  out.print("  CR0: {:016x}  CR1: {:016x}  CR2: {:016x}\n", cr(0), cr(1), cr(2));
  out.print("  CR3: {:016x}  CR4: {:016x}\n\n", cr(3), cr(4));
  return ok();
}

Result<void> print_dump_registers(Session& s, Output& out) {
  const auto& info = s.kernel.dump().info();
  if (info.machine != EM_X86_64) return Error::make(Errc::unsupported, "-r option not supported on this dumpfile type");
  // QEMU's ELF dumps carry both note kinds; crash shows QEMU's there, the prstatus elsewhere.
  bool qemu = info.format.find("kdump") == std::string::npos &&
              std::any_of(info.cpus.begin(), info.cpus.end(),
                          [](auto& n) { return n.kind == dumpfmt::CpuNote::Kind::qemu_cpu_state; });
  auto kind = qemu ? dumpfmt::CpuNote::Kind::qemu_cpu_state : dumpfmt::CpuNote::Kind::prstatus;
  bool first = true;
  for (const auto& n : info.cpus) {
    if (n.kind != kind) continue;
    if (qemu) {
      TRY(print_qemu_registers(n, out));
    } else {
      if (!first) out.print("\n");
      TRY(print_prstatus_registers(n, out));
    }
    first = false;
  }
  if (first) return Error::make(Errc::not_found, "-r option not supported on this dumpfile type");
  return ok();
}

// crash's -z list, for the options that exist here.
void print_help_options(Output& out) {
  out.print("help options:\n");
  out.print(" -D - dumpfile contents/statistics\n");
  out.print(" -n - dumpfile contents/statistics\n");
  out.print(" -r - dump registers from dumpfile header\n");
  out.print(" -z - help options\n");
}

void print_dump_header(Session& s, Output& out) {
  const auto& info = s.kernel.dump().info();
  for (auto& [k, v] : info.header_fields) out.print("{:>20}: {}\n", k, v);
  if (info.header_fields.empty()) {
    out.print("{:>20}: {}\n", "format", info.format);
    out.print("{:>20}: {}\n", "page size", info.page_size);
  }
}

const Command* command_or_alias(Session& s, const std::string& name) {
  if (const Command* c = find_command(name)) return c;
  // An alias's help is its command's (`help px` shows p, `help hex` shows set), as crash
  // looks an alias up; bounded in case aliases name each other.
  std::string word = name;
  for (size_t hops = 0; hops <= s.aliases.size(); ++hops) {
    auto it = std::find_if(s.aliases.begin(), s.aliases.end(), [&](const Alias& a) { return a.name == word; });
    if (it == s.aliases.end()) return nullptr;
    word = it->command.substr(0, it->command.find(' '));
    if (const Command* c = find_command(word)) return c;
  }
  return nullptr;
}

Result<void> run_help(Session& s, const Args& args, Output& out) {
  if (args.has('z')) {
    print_help_options(out);
    return ok();
  }
  if (args.has('r')) return print_dump_registers(s, out);
  if (args.has('D') || args.has('n')) {
    print_dump_header(s, out);
    return ok();
  }
  if (args.positional.empty()) {
    print_menu(s, out);
    return ok();
  }
  for (auto& name : args.positional) {
    if (name == "input") {
      print_input_help(s, out);
    } else if (name == "output") {
      print_output_help(s, out);
    } else if (name == "all") {
      print_input_help(s, out);
      print_output_help(s, out);
      for (const std::string& n : listed_names())
        if (const Command* c = find_command(n)) out.write(help_page(c->spec, s.program));
    } else if (const Command* c = command_or_alias(s, name)) {
      out.write(help_page(c->spec, s.program));
    } else {
      // crash hands an unknown name to gdb's help, which knows none of these either.
      out.print("No help data for \"{}\" is available.\n", name);
    }
  }
  return ok();
}

}  // namespace

static Command help_command() {
  return Command{CommandSpec{"help",
                             {},
                             "get help",
                             "[command | all | input | output] [-D | -n | -r | -z]",
                             {{'D', false, "display the dump file's header information"},
                              {'n', false, "same as -D"},
                              {'r', false, "dump the registers of each CPU from the dump file's notes"},
                              {'z', false, "list the help command's options"}},
                             {"help", "help sym", "help hex", "help output", "help -D", "help -r"}},
                 run_help};
}

std::vector<Command> help_commands() { return {help_command()}; }

}  // namespace coroner::commands
