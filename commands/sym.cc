// sym: translate a symbol to its address or an address to symbol+offset.
#include <charconv>

#include "commands/builtin.h"
#include "kernel/kernel.h"
#include "kernel/modules.h"

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

// A module symbol as crash's show_symbol prints it: " [module]" with SHOW_MODULE, and for
// text a " " where a source line would follow (modules have none without debuginfo).
void print_module_symbol(Output& out, const kernel::Module& m, const kernel::ModuleSymbol& sym, uint64_t offset,
                         bool with_module, bool with_line) {
  uint64_t addr = sym.value + offset;
  std::string line = offset ? fmt::format("{:x} ({}) {}+{}", addr, sym.type, sym.name, offset)
                            : fmt::format("{:x} ({}) {}", addr, sym.type, sym.name);
  if (with_module) line += fmt::format(" [{}]", m.name);
  if (with_line && m.in_text(addr)) line += " ";
  out.print("{}\n", line);
}

// `sym -m NAME` and the module part of `sym -l`: each region between its START and END lines.
void print_module_block(Output& out, const kernel::Module& m) {
  for (const auto& r : m.regions) {
    std::string label = r.label.empty() ? "MODULE" : fmt::format("MODULE {}", r.label);
    out.print("{:x} {} START: {}\n", r.base, label, m.name);
    for (const auto& sym : m.symbols)
      if (m.region_of(sym.value) == &r) print_module_symbol(out, m, sym, 0, false, false);
    out.print("{:x} {} END: {}\n", r.end_marker, label, m.name);
  }
}

// The module table, or nullptr when the module list cannot be read (the kernel's own symbols
// still answer; the reason is printed once).
const kernel::ModuleTable* module_table(kernel::Kernel& k, Output& out) {
  auto t = kernel::modules(k);
  if (!t) {
    out.print("sym: cannot read the module list: {}\n", t.error().message);
    return nullptr;
  }
  return *t;
}

Result<void> run_sym(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  const auto& st = k.symbols();
  if (args.has('l')) {
    for (const auto& sym : st.all()) print_symbol(out, k, sym, 0, false);
    if (const auto* mods = module_table(k, out))
      for (const auto& m : mods->modules()) print_module_block(out, m);
    return ok();
  }
  if (args.has('m')) {
    const auto* mods = module_table(k, out);
    if (!mods) return Error{Errc::fault, "", std::nullopt};
    // Like crash: an unknown module name prints nothing.
    if (const auto* m = mods->find(args.value('m'))) {
      print_module_block(out, *m);
      if (!m->symbols_error.empty()) return Error::make(Errc::bad_data, "{}", m->symbols_error);
    }
    return ok();
  }
  if (args.has('q')) {
    std::string needle = args.value('q');
    bool any = false;
    for (const auto& sym : st.all())
      if (sym.name.find(needle) != std::string_view::npos) {
        print_symbol(out, k, sym, 0, false);
        any = true;
      }
    if (const auto* mods = module_table(k, out))
      for (const auto& m : mods->modules())
        for (const auto& sym : m.symbols)
          if (sym.name.find(needle) != std::string::npos) {
            print_module_symbol(out, m, sym, 0, true, false);
            any = true;
          }
    if (!any) out.print("(none found)\n");
    return ok();
  }
  if (args.positional.empty()) return Error::make(Errc::usage, "sym: no symbol or address given");
  bool failed = false;
  for (const std::string& arg : args.positional) {
    // Kernel symbols first, then module symbols (modules by address), as crash lists them.
    auto matches = st.find_all(arg);
    bool found = !matches.empty();
    for (const auto* m : matches) print_symbol(out, k, *m, 0, true);
    const kernel::ModuleTable* mods = nullptr;
    if (auto t = kernel::modules(k)) mods = *t;
    if (mods)
      for (const auto& m : mods->modules())
        for (const auto& sym : m.symbols)
          if (sym.name == arg) {
            print_module_symbol(out, m, sym, 0, true, true);
            found = true;
          }
    if (found) continue;
    if (auto addr = parse_address(arg)) {
      if (in_kernel_image(k, *addr)) {
        if (auto hit = st.lookup(*addr)) {
          print_symbol(out, k, *hit->symbol, hit->offset, true);
          continue;
        }
      } else if (const kernel::Module* m = mods ? mods->containing(*addr) : nullptr) {
        if (auto hit = kernel::symbol_at(k, *addr)) {
          kernel::ModuleSymbol sym{hit->name, hit->symbol_address, hit->type};
          print_module_symbol(out, *m, sym, hit->offset, !hit->region_end, !hit->region_end);
          continue;
        }
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
    if (mods)
      for (const auto& m : mods->modules())
        for (const auto& sym : m.symbols)
          if (sym.name.find(arg) != std::string::npos) {
            out.write("  ");
            print_module_symbol(out, m, sym, 0, true, false);
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
                  "[-l] | [-m module] | [-q string] | [symbol | vaddr] ...",
                  {{'l', false, "dump all symbols and their values"},
                   {'m', true, "dump the symbols of a module"},
                   {'q', true, "search for all symbols containing a string"}},
                  {"sym jiffies", "sym ffffffff81000000", "sym -q sysrq", "sym -m virtio"}},
      run_sym};
}

std::vector<Command> sym_commands() { return {sym_command()}; }

}  // namespace coroner::commands
