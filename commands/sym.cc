// sym: translate a symbol to its address or an address to symbol+offset.
#include <algorithm>
#include <cctype>
#include <charconv>

#include <elf.h>

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

// Every symbol crash lists under `name`: those whose name, clone suffix cut as crash cuts it,
// is `name` (ip_mc_del_src.isra.0 is ip_mc_del_src; ftrace_regex_write.part.0.isra.0 is
// ftrace_regex_write.part.0).
std::vector<const symbols::Symbol*> find_by_display_name(const symbols::SymbolTable& st, std::string_view name) {
  std::vector<const symbols::Symbol*> out;
  for (const auto& s : st.all())
    if (s.name.size() >= name.size() && s.name.substr(0, name.size()) == name && symbols::display_name(s.name) == name)
      out.push_back(&s);
  return out;  // st.all() is in address order
}

// crash's table has no local symbol at _text's address: not the .text section symbol, not
// 6.12's __pfx_sev_es_terminate there (crash 9 lists only _stext and _text at that address on
// 6.12, and _stext, _text and startup_64, all global, on 6.1).
bool dropped_at_text(const symbols::Symbol& s, std::optional<uint64_t> text_link) {
  return text_link && s.link_addr == *text_link && std::islower(static_cast<unsigned char>(s.type));
}

// The symbols crash's table gets from the vmlinux's section symbols: one per allocated
// section at a kernel address, named after it, typed by its flags as nm types them.
std::vector<symbols::Symbol> section_symbols(kernel::Kernel& k, std::optional<uint64_t> text_link) {
  std::vector<symbols::Symbol> out;
  for (const auto& sec : k.vmlinux().sections()) {
    if (!(sec.flags & SHF_ALLOC) || sec.addr == 0) continue;
    char type = sec.type == SHT_NOBITS ? 'b' : (sec.flags & SHF_EXECINSTR) ? 't' : (sec.flags & SHF_WRITE) ? 'd' : 'r';
    symbols::Symbol sym{sec.name, sec.addr, 0, type, true};
    if (!dropped_at_text(sym, text_link)) out.push_back(sym);
  }
  std::sort(out.begin(), out.end(), [](const symbols::Symbol& a, const symbols::Symbol& b) {
    return a.link_addr != b.link_addr ? a.link_addr < b.link_addr : a.name < b.name;
  });
  return out;
}

// "ADDR (T) name[+off][ file: line]": source lines only for text, like crash.
void print_symbol(Output& out, kernel::Kernel& k, const symbols::Symbol& s, uint64_t offset, bool with_line) {
  const auto& st = k.symbols();
  uint64_t addr = st.address(s) + offset;
  std::string_view name = symbols::display_name(s.name);
  std::string line = offset ? fmt::format("{:x} ({}) {}+{}", addr, s.type, name, offset)
                            : fmt::format("{:x} ({}) {}", addr, s.type, name);
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
// text a " " where a source line follows: "file: line" once `mod -s/-S` loaded the module's
// object file, nothing without debuginfo.
void print_module_symbol(Output& out, kernel::Kernel& k, const kernel::Module& m, const kernel::ModuleSymbol& sym,
                         uint64_t offset, bool with_module, bool with_line) {
  uint64_t addr = sym.value + offset;
  std::string line = offset ? fmt::format("{:x} ({}) {}+{}", addr, sym.type, sym.name, offset)
                            : fmt::format("{:x} ({}) {}", addr, sym.type, sym.name);
  if (with_module) line += fmt::format(" [{}]", m.name);
  if (with_line && m.in_text(addr)) {
    line += " ";
    if (auto loc = kernel::module_source_line(k, addr)) line += fmt::format("{}: {}", loc->file, loc->line);
  }
  out.print("{}\n", line);
}

// `sym -m NAME` and the module part of `sym -l`: each region between its START and END lines.
void print_module_block(Output& out, kernel::Kernel& k, const kernel::Module& m) {
  for (const auto& r : m.regions) {
    std::string label = r.label.empty() ? "MODULE" : fmt::format("MODULE {}", r.label);
    out.print("{:x} {} START: {}\n", r.base, label, m.name);
    for (const auto& sym : m.symbols)
      if (m.region_of(sym.value) == &r) print_module_symbol(out, k, m, sym, 0, false, false);
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
    // crash's list: the symbol table with absolute symbols outside the kernel image left out
    // and each allocated section's own symbol (".data", "__ksymtab") in address order, names
    // ordering equal addresses.
    std::optional<uint64_t> text_link;
    if (const symbols::Symbol* text = st.find("_text")) text_link = text->link_addr;
    auto sections = section_symbols(k, text_link);
    size_t next = 0;
    for (const auto& sym : st.all()) {
      if ((sym.type == 'a' || sym.type == 'A') && !sym.relocatable) continue;
      if (dropped_at_text(sym, text_link)) continue;
      for (; next < sections.size() && (sections[next].link_addr < sym.link_addr ||
                                        (sections[next].link_addr == sym.link_addr && sections[next].name < sym.name));
           ++next)
        print_symbol(out, k, sections[next], 0, false);
      print_symbol(out, k, sym, 0, false);
    }
    for (; next < sections.size(); ++next) print_symbol(out, k, sections[next], 0, false);
    if (const auto* mods = module_table(k, out))
      for (const auto& m : mods->modules()) print_module_block(out, k, m);
    return ok();
  }
  if (args.has('m')) {
    const auto* mods = module_table(k, out);
    if (!mods) return Error{Errc::fault, "", std::nullopt};
    // Like crash: an unknown module name prints nothing.
    if (const auto* m = mods->find(args.value('m'))) {
      print_module_block(out, k, *m);
      if (!m->symbols_error.empty()) return Error::make(Errc::bad_data, "{}", m->symbols_error);
    }
    return ok();
  }
  if (args.has('q')) {
    std::string needle = args.value('q');
    bool any = false;
    for (const auto& sym : st.all())
      if (symbols::display_name(sym.name).find(needle) != std::string_view::npos) {
        print_symbol(out, k, sym, 0, false);
        any = true;
      }
    if (const auto* mods = module_table(k, out))
      for (const auto& m : mods->modules())
        for (const auto& sym : m.symbols)
          if (sym.name.find(needle) != std::string::npos) {
            print_module_symbol(out, k, m, sym, 0, true, false);
            any = true;
          }
    if (!any) out.print("(none found)\n");
    return ok();
  }
  if (args.positional.empty()) return Error::make(Errc::usage, "sym: no symbol or address given");
  bool failed = false;
  for (const std::string& arg : args.positional) {
    // Kernel symbols first, then module symbols (modules by address), as crash lists them.
    // crash knows compiler clones by their cut names (ip_mc_del_src.isra.0 is ip_mc_del_src).
    auto matches = find_by_display_name(st, arg);
    bool found = !matches.empty();
    for (const auto* m : matches) print_symbol(out, k, *m, 0, true);
    const kernel::ModuleTable* mods = nullptr;
    if (auto t = kernel::modules(k)) mods = *t;
    if (mods)
      for (const auto& m : mods->modules())
        for (const auto& sym : m.symbols)
          if (sym.name == arg) {
            print_module_symbol(out, k, m, sym, 0, true, true);
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
          print_module_symbol(out, k, *m, sym, hit->offset, !hit->region_end, !hit->region_end);
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
      if (symbols::display_name(sym.name).find(arg) != std::string_view::npos) {
        out.write("  ");
        print_symbol(out, k, sym, 0, false);
        any = true;
      }
    if (mods)
      for (const auto& m : mods->modules())
        for (const auto& sym : m.symbols)
          if (sym.name.find(arg) != std::string::npos) {
            out.write("  ");
            print_module_symbol(out, k, m, sym, 0, true, false);
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
