// sym: translate a symbol to its address or an address to symbol+offset.
#include <charconv>

#include "commands/builtin.h"
#include "kernel/kernel.h"

namespace coroner::commands {
namespace {

std::optional<uint64_t> parse_address(std::string_view s) {
  if (s.substr(0, 2) == "0x" || s.substr(0, 2) == "0X") s.remove_prefix(2);
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool is_text(const symbols::Symbol& s) { return s.type == 't' || s.type == 'T'; }

// "ADDR (T) name[+off][ file: line]": source lines only for text, like crash.
void print_symbol(Output& out, kernel::Kernel& k, const symbols::Symbol& s, uint64_t offset, bool with_line) {
  const auto& st = k.symbols();
  uint64_t addr = st.address(s) + offset;
  std::string line = offset ? fmt::format("{:x} ({}) {}+{}", addr, s.type, s.name, offset)
                            : fmt::format("{:x} ({}) {}", addr, s.type, s.name);
  if (with_line && is_text(s))
    if (auto loc = k.source_lines().lookup(s.link_addr + offset)) line += fmt::format(" {}: {}", loc->file, loc->line);
  out.print("{}\n", line);
}

// An address `sym` translates: inside the kernel image, [_text, _end).
bool in_kernel_image(kernel::Kernel& k, uint64_t addr) {
  auto text = k.symbols().address_of("_text");
  auto end = k.symbols().address_of("_end");
  return text && end && addr >= *text && addr < *end;
}

Result<void> run_sym(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  const auto& st = k.symbols();
  if (args.has('l')) {
    for (const auto& sym : st.all()) print_symbol(out, k, sym, 0, false);
    return ok();
  }
  if (args.has('q')) {
    std::string needle = args.value('q');
    for (const auto& sym : st.all())
      if (sym.name.find(needle) != std::string_view::npos) print_symbol(out, k, sym, 0, false);
    return ok();
  }
  if (args.positional.empty()) return Error::make(Errc::usage, "sym: no symbol or address given");
  bool failed = false;
  for (const std::string& arg : args.positional) {
    auto matches = st.find_all(arg);
    if (!matches.empty()) {
      for (const auto* m : matches) print_symbol(out, k, *m, 0, true);
      continue;
    }
    if (auto addr = parse_address(arg)) {
      if (in_kernel_image(k, *addr))
        if (auto hit = st.lookup(*addr)) {
          print_symbol(out, k, *hit->symbol, hit->offset, true);
          continue;
        }
      out.print("sym: invalid address: {}\n", arg);
      failed = true;
      continue;
    }
    // Like crash: the symbols whose names contain the name, as alternatives.
    out.print("symbol not found: {}\npossible alternatives:\n", arg);
    bool any = false;
    for (const auto& sym : st.all())
      if (sym.name.find(arg) != std::string_view::npos) {
        out.write("  ");
        print_symbol(out, k, sym, 0, false);
        any = true;
      }
    if (!any) out.print("  (none found)\n");
    failed = true;
  }
  if (failed) return Error{Errc::not_found, "", std::nullopt};
  return ok();
}

}  // namespace

static Command sym_command() {
  return Command{
      CommandSpec{"sym",
                  {},
                  "translate a symbol to its virtual address, or vice-versa",
                  "[-l] | [-q string] | [symbol | vaddr] ...",
                  {{'l', false, "dump all symbols and their values"},
                   {'q', true, "search for all symbols containing a string"}},
                  {"sym jiffies", "sym ffffffff81000000", "sym -q sysrq"}},
      run_sym};
}

std::vector<Command> sym_commands() { return {sym_command()}; }

}  // namespace coroner::commands
