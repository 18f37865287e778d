// dis: disassemble kernel text as crash 9 prints it (gdb's AT&T text, crash's symbol labels).
// The bytes come from the dump, not the vmlinux: alternatives, static calls, jump labels and
// ftrace rewrite kernel text at run time, and crash shows what ran.
#include <elf.h>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>

#include <unistd.h>

#include "commands/builtin.h"
#include "commands/support/disasm.h"
#include "commands/support/gdb_lines.h"
#include "commands/support/gdb_symbolizer.h"
#include "kernel/kernel.h"
#include "kernel/modules.h"
#include "kernel/session_flags.h"

namespace coroner::commands {
namespace {

// Whole functions are bounded: no kernel function comes near this.
constexpr uint64_t kMaxFunctionBytes = 1u << 20;
// Instructions one `dis ADDR COUNT` may print.
constexpr uint64_t kMaxCount = 1u << 20;

std::optional<uint64_t> parse_number(std::string_view s, int base) {
  if (s.substr(0, 2) == "0x" || s.substr(0, 2) == "0X") {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool is_text(const symbols::Symbol& s) { return s.type == 't' || s.type == 'T' || s.type == 'W' || s.type == 'w'; }

// crash's symbol for an address: the last of equal-address aliases inside a symbol, the first
// when the address is the symbol's own (crash shows `<__memcpy>` then `<memcpy+5>`).
struct SymbolAt {
  const symbols::Symbol* symbol;
  uint64_t offset;
};

std::optional<SymbolAt> symbol_at(const symbols::SymbolTable& st, uint64_t addr) {
  auto hit = st.lookup(addr);
  if (!hit) return std::nullopt;
  const symbols::Symbol* s = hit->symbol;
  if (hit->offset == 0) {
    const symbols::Symbol* first = st.all().data();
    for (const symbols::Symbol* p = s; p != first;) {
      --p;
      if (p->link_addr != s->link_addr) break;
      if (!p->relocatable || p->type == 'A' || p->type == 'a') continue;
      s = p;
    }
    // crash passes over a region's start marker (`__noinstr_text_start`) and a syscall's
    // `SyS_` alias to the next symbol at the same address.
    const symbols::Symbol* last = first + st.all().size();
    for (int i = 0; i < 2; ++i) {
      bool marker = s->name.find("_text_start") != std::string_view::npos || s->name.substr(0, 4) == "SyS_" ||
                    s->name.substr(0, 11) == "compat_SyS_";
      const symbols::Symbol* next = s + 1;
      while (next < last && next->link_addr == s->link_addr && (!next->relocatable || next->type == 'A' || next->type == 'a')) ++next;
      if (!marker || next >= last || next->link_addr != s->link_addr) break;
      s = next;
    }
  }
  return SymbolAt{s, hit->offset};
}

// crash's name for a symbol: compiler clone suffixes cut as symbols::display_name says.
std::string_view crash_name(std::string_view name) { return symbols::display_name(name); }

std::string symstr(std::string_view name, uint64_t offset, bool hex_offsets) {
  if (offset == 0) return std::string(name);
  return hex_offsets ? fmt::format("{}+{:#x}", name, offset) : fmt::format("{}+{}", name, offset);
}

std::string symstr(const SymbolAt& at, bool hex_offsets) { return symstr(crash_name(at.symbol->name), at.offset, hex_offsets); }

bool in_kernel_image(kernel::Kernel& k, uint64_t addr) {
  auto text = k.symbols().address_of("_text");
  auto end = k.symbols().address_of("_end");
  return text && end && addr >= *text && addr < *end;
}

// The name crash gives an address in disassembly: a vmlinux symbol inside the kernel image,
// else a module's symbol (from the module's own kallsyms in the dump).
struct Located {
  std::string name;
  uint64_t offset = 0;
  bool text = false;
};

std::optional<Located> locate(kernel::Kernel& k, uint64_t addr) {
  if (in_kernel_image(k, addr) || !k.symbols().address_of("_end")) {
    auto at = symbol_at(k.symbols(), addr);
    if (!at) return std::nullopt;
    return Located{std::string(crash_name(at->symbol->name)), at->offset, is_text(*at->symbol)};
  }
  auto hit = kernel::symbol_at(k, addr);
  if (!hit || hit->module.empty() || hit->region_end) return std::nullopt;
  return Located{hit->name, hit->offset, hit->type == 't' || hit->type == 'T'};
}

// A module symbol by name (the first module holding it), for `dis NAME` on module text.
std::optional<kernel::ModuleSymbol> module_symbol(kernel::Kernel& k, std::string_view name) {
  auto mods = kernel::modules(k);
  if (!mods) return std::nullopt;
  for (const auto& m : (*mods)->modules())
    for (const auto& sym : m.symbols)
      if (sym.name == name) return sym;
  return std::nullopt;
}

// A symbol by crash's name: a vmlinux symbol whose name, cut as crash cuts clone suffixes, is
// `name` (ftrace_regex_write.part.0 names ftrace_regex_write.part.0.isra.0; the vmlinux's
// intel_pmu_hw_config.part.0 is crash's intel_pmu_hw_config).
const symbols::Symbol* find_symbol(const symbols::SymbolTable& st, std::string_view name) {
  if (const symbols::Symbol* s = st.find(name); s && crash_name(s->name) == name) return s;
  if (name.empty()) return nullptr;
  for (const auto& s : st.all())
    if (s.name.size() > name.size() && s.name.substr(0, name.size()) == name && crash_name(s.name) == name) return &s;
  return nullptr;
}

struct Target {
  uint64_t address;
  bool bare_text_symbol;  // a text symbol named without offset: the whole function by default
};

struct Context {
  kernel::Kernel& k;
  Output& out;
  std::string command;  // "dis"
};

// ADDR | SYMBOL | SYMBOL+OFF | (EXPRESSION): offsets after a symbol are decimal unless 0x,
// bare numbers are hexadecimal, as crash reads them.
Result<Target> resolve(Context& c, const std::string& arg) {
  const auto& st = c.k.symbols();
  std::string expr = arg;
  if (expr.size() >= 2 && expr.front() == '(' && expr.back() == ')') expr = expr.substr(1, expr.size() - 2);
  std::string_view e = expr;
  uint64_t value = 0;
  bool first = true, any_symbol = false, bare = true;
  const symbols::Symbol* named = nullptr;
  std::optional<kernel::ModuleSymbol> named_module;
  char sign = '+';
  while (!e.empty()) {
    while (!e.empty() && e.front() == ' ') e.remove_prefix(1);
    size_t cut = e.find_first_of("+-", 1);
    std::string term(e.substr(0, cut));
    while (!term.empty() && term.back() == ' ') term.pop_back();
    e.remove_prefix(cut == std::string_view::npos ? e.size() : cut);
    uint64_t v = 0;
    if (first) {
      // crash refuses a name shared by several text symbols (static functions in two files,
      // or a function and a clone whose suffix crash drops).
      std::vector<const symbols::Symbol*> text;
      if (!term.empty())
        for (const auto& s : st.all())
          if (is_text(s) && s.name.substr(0, term.size()) == term && crash_name(s.name) == term) text.push_back(&s);
      if (text.size() > 1) {
        c.out.print("{}: {}: duplicate text symbols found:\n", c.command, term);
        for (auto* s : text) {
          std::string line = fmt::format("{:x} ({}) {}", st.address(*s), s->type, crash_name(s->name));
          if (auto loc = c.k.source_lines().lookup(s->link_addr)) line += fmt::format(" {}: {}", loc->file, loc->line);
          c.out.print("{}\n", line);
        }
        return Error{Errc::usage, "", std::nullopt};
      }
    }
    std::optional<kernel::ModuleSymbol> msym;
    if (const symbols::Symbol* s = find_symbol(st, term)) {
      v = st.address(*s);
      any_symbol = true;
      if (first) named = s;
      else bare = false;
    } else if (!term.empty() && (msym = module_symbol(c.k, term))) {
      v = msym->value;
      any_symbol = true;
      if (first) named_module = msym;
      else bare = false;
    } else {
      bool has_hex_letters = std::any_of(term.begin(), term.end(), [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)) && ch != 'x' && ch != 'X'; });
      auto n = parse_number(term, (first || has_hex_letters || !any_symbol) ? 16 : 10);
      if (!n) {
        if (first && cut == std::string_view::npos) {
          // Like crash: the symbols whose names contain the name, as alternatives.
          c.out.print("symbol not found: {}\npossible alternatives:\n", term);
          bool found = false;
          for (const auto& sym : st.all())
            if (crash_name(sym.name).find(term) != std::string_view::npos) {
              c.out.print("  {:x} ({}) {}\n", st.address(sym), sym.type, crash_name(sym.name));
              found = true;
            }
          if (!found) c.out.print("  (none found)\n");
          return kernel::info_error(c.k, Error{Errc::not_found, "", std::nullopt});  // crash's error(INFO)
        }
        return Error::make(Errc::usage, "invalid expression: {}", arg);
      }
      v = *n;
      bare = false;
    }
    value = sign == '+' ? value + v : value - v;
    first = false;
    if (!e.empty()) {
      sign = e.front();
      e.remove_prefix(1);
    }
  }
  if (first) return Error::make(Errc::usage, "no address given");
  // SYMBOL+OFF must stay inside SYMBOL when SYMBOL is a function, as crash checks (data may
  // run on into the next symbol).
  if (named && !bare && is_text(*named)) {
    auto at = symbol_at(st, value);
    if (at && at->symbol->link_addr != named->link_addr && at->symbol->name != named->name)
      return Error::make(Errc::usage, "invalid expression: {} evaluates to: {}+{:x}", arg, crash_name(at->symbol->name), at->offset);
  }
  if (named_module) return Target{value, bare && (named_module->type == 't' || named_module->type == 'T')};
  return Target{value, named && bare && is_text(*named)};
}

// The function containing an address: [start, end) from its symbol's size (or the next symbol).
struct Function {
  uint64_t start;
  uint64_t end;
};

// A module function: from its symbol to the next symbol of the module (or the end of the
// symbol's region), as crash bounds it; module symbols carry no sizes.
Result<Function> module_function_of(kernel::Kernel& k, uint64_t addr) {
  auto hit = kernel::symbol_at(k, addr);
  const kernel::ModuleTable* mods = TRY(kernel::modules(k));
  const kernel::Module* m = mods->containing(addr);
  if (!hit || !m || hit->region_end) return Error::make(Errc::not_found, "no kernel or module symbol contains {:#x}", addr);
  uint64_t start = hit->symbol_address;
  uint64_t end = 0;
  for (const auto& sym : m->symbols)
    if (sym.value > start) {
      end = sym.value;
      break;
    }
  if (const kernel::ModuleRegion* r = m->region_of(start); r && (end == 0 || end > r->base + r->size)) end = r->base + r->size;
  if (end <= start || end - start > kMaxFunctionBytes)
    return Error::make(Errc::bad_data, "{}: cannot tell where the function at {:#x} ends", hit->name, start);
  return Function{start, end};
}

Result<Function> function_of(kernel::Kernel& k, uint64_t addr) {
  if (!in_kernel_image(k, addr) && k.symbols().address_of("_end")) return module_function_of(k, addr);
  const auto& st = k.symbols();
  auto at = symbol_at(st, addr);
  if (!at) return Error::make(Errc::not_found, "no kernel symbol contains {:#x}", addr);
  uint64_t start = st.address(*at->symbol);
  uint64_t size = at->symbol->size;
  if (size == 0) {
    const symbols::Symbol* last = st.all().data() + st.all().size();
    for (const symbols::Symbol* p = at->symbol + 1; p < last; ++p)
      if (p->link_addr > at->symbol->link_addr && p->relocatable) {
        size = p->link_addr - at->symbol->link_addr;
        break;
      }
  }
  if (size == 0 || size > kMaxFunctionBytes)
    return Error::make(Errc::bad_data, "{}: cannot tell where the function at {:#x} ends", at->symbol->name, start);
  return Function{start, start + size};
}

class Printer {
 public:
  Printer(kernel::Kernel& k, Output& out, const disasm::X86Disassembler& d, bool lines, bool hex_offsets)
      : k_(k), out_(out), d_(d), gdb_(k), gdb_lines_(k), lines_(lines), hex_(hex_offsets) {}

  // Decodes the instruction at `addr`, reading at most up to `limit` when the dump allows.
  Result<disasm::Instruction> decode(uint64_t addr) {
    std::array<uint8_t, disasm::kMaxInstructionBytes> buf{};
    size_t got = 0;
    // Read as much as the dump holds, byte by byte at the end of a readable range.
    if (k_.read(addr, buf)) {
      got = buf.size();
    } else {
      while (got < buf.size() && k_.read(addr + got, std::span(buf.data() + got, 1))) ++got;
      if (got == 0) return Error::fault(addr, fmt::format("cannot read kernel text at {:#x}", addr));
    }
    disasm::Symbolizer sym = [&](uint64_t a) -> std::optional<std::string> {
      // gdb knows no module symbols; crash names module addresses itself. Addresses in a
      // vmlinux section past _end (.init.scratch's sme_workarea) are gdb's to name.
      if (!in_kernel_image(k_, a) && !gdb_.annotates(a)) {
        auto at = locate(k_, a);
        if (!at) return std::nullopt;
        return symstr(at->name, at->offset, hex_);
      }
      if (!gdb_.annotates(a)) return std::nullopt;
      // crash rewrites gdb's `<...>` with its own name for the address.
      auto at = symbol_at(k_.symbols(), a);
      if (!at) return std::nullopt;
      return symstr(*at, hex_);
    };
    disasm::Instruction insn = d_.decode(addr, std::span<const uint8_t>(buf.data(), got), sym);
    // crash names the target of a jump or call gdb left bare (one gdb does not name: past a
    // sized symbol's end, after a zero-sized data label) when its own symbols cover it; loop
    // targets it leaves as they are.
    size_t sp = insn.text.rfind(' ');
    if (sp != std::string::npos && insn.text.compare(sp + 1, 2, "0x") == 0 && insn.text.back() != '>') {
      size_t mstart = insn.text.rfind(' ', insn.text.find_last_not_of(' ', sp));
      std::string_view mnemonic = std::string_view(insn.text).substr(mstart == std::string::npos ? 0 : mstart + 1);
      mnemonic = mnemonic.substr(0, mnemonic.find(' '));
      if (!mnemonic.empty() && (mnemonic[0] == 'j' || mnemonic.starts_with("call"))) {
        uint64_t target = std::strtoull(insn.text.c_str() + sp + 1, nullptr, 16);
        if (in_kernel_image(k_, target))
          if (auto at = symbol_at(k_.symbols(), target)) insn.text += " <" + symstr(*at, hex_) + ">";
      }
    }
    return insn;
  }

  // gdb's own layout for addresses crash found no symbol for (`dis 0`): its marker column,
  // three spaces, before each address without a label.
  // For an expression's address gdb writes an empty label instead (`dis (ADDR+4)`: `<>`).
  enum class Bare { no, indented, empty_label };
  void set_bare(Bare bare) { bare_ = bare; }

  std::string format(const disasm::Instruction& insn) {
    const auto& st = k_.symbols();
    auto at = locate(k_, insn.address);
    std::string line;
    if (lines_ && in_kernel_image(k_, insn.address)) {
      uint64_t link = insn.address - st.relocation();
      if (auto loc = gdb_lines_.lookup(link)) {
        if (!last_loc_ || loc->file != last_loc_->file || loc->line != last_loc_->line)
          line += fmt::format("{}: {}\n", loc->file, loc->line);
        last_loc_ = loc;
      }
    }
    if (at)
      line += fmt::format("{:#x} <{}>:\t{}", insn.address, symstr(at->name, at->offset, hex_), insn.text);
    else
      line += fmt::format("{}{:#x}{}:\t{}", bare_ == Bare::indented ? "   " : "", insn.address,
                          bare_ == Bare::empty_label ? " <>" : "", insn.text);
    if (insn.is_ftrace_nop_form && at && at->offset == 0 && at->text) line += " [FTRACE NOP]";
    line += "\n";
    return line;
  }

 private:
  kernel::Kernel& k_;
  Output& out_;
  const disasm::X86Disassembler& d_;
  disasm::GdbSymbolizer gdb_;
  disasm::GdbLines gdb_lines_;
  bool lines_;
  bool hex_;
  Bare bare_ = Bare::no;
  std::optional<symbols::SourceLocation> last_loc_;
};

// -s: the source file (as the unit names it) and line of an address, as crash heads its
// listing. The listing itself needs the kernel's source tree, which a dump's host rarely has.
Result<void> show_source(kernel::Kernel& k, Output& out, uint64_t addr, const std::string& arg) {
  uint64_t link = addr - k.symbols().relocation();
  auto loc = k.source_lines().lookup(link);
  if (!loc) return Error::make(Errc::no_debug_info, "{}: no source line information", arg);
  disasm::GdbSymbolizer g(k);
  std::string file = loc->file;
  std::string full = file;
  if (auto dir = g.comp_dir(link); dir && file.size() > dir->size() + 1 && file.compare(0, dir->size(), *dir) == 0 &&
                                     file[dir->size()] == '/')
    file = file.substr(dir->size() + 1);
  out.print("FILE: {}\nLINE: {}\n\n", file, loc->line);
  if (access(full.c_str(), R_OK) == 0)
    return Error::make(Errc::unsupported, "{}: listing source files is not supported", arg);
  // crash reports this on the console, not in the command's output.
  fmt::print(stderr, "dis: {}: source code is not available\n", arg);
  return Error{Errc::not_found, "", std::nullopt};
}

Result<void> run_dis(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  Context c{k, out, "dis"};
  if (args.has('u')) return Error::make(Errc::unsupported, "-u (user addresses) is not supported");
  if (args.positional.empty() || args.positional.size() > 2)
    return Error::make(Errc::usage, "Usage:\n  dis [-rfludxs][-b [num]] [address | symbol | (expression)] [count]\nEnter \"help dis\" for details.");
  std::optional<uint64_t> count;
  if (args.positional.size() == 2) {
    const std::string& cs = args.positional[1];
    auto n = parse_number(cs, 10);
    if (!n || *n == 0) return Error::make(Errc::usage, "invalid count argument: {}", cs);
    if (*n > kMaxCount) return Error::make(Errc::out_of_bounds, "count {} exceeds {}", *n, kMaxCount);
    count = *n;
  }
  Target t = TRY(resolve(c, args.positional[0]));
  if (args.has('s')) return show_source(k, out, t.address, args.positional[0]);
  // Only an x86-64 decoder so far: never decode another architecture's code as x86.
  if (k.arch().machine() != EM_X86_64)
    return Error::make(Errc::unsupported, "disassembly of {} code is not supported yet (dis -s shows the source)",
                       k.arch().name());
  auto dis = TRY(disasm::X86Disassembler::create());
  Printer p(k, out, dis, args.has('l'), args.has('x') && !args.has('d'));

  // Decodes forward from `from`; `keep` says whether to go on after an instruction.
  std::optional<Error> unreadable;
  uint64_t unreadable_at = 0;
  auto walk = [&](uint64_t from, uint64_t max_insns, auto&& keep) -> Result<std::vector<disasm::Instruction>> {
    std::vector<disasm::Instruction> v;
    uint64_t a = from;
    while (v.size() < max_insns) {
      auto decoded = p.decode(a);
      if (!decoded && decoded.error().code == Errc::fault && !unreadable) {
        // gdb has printed the address and its label when it finds the bytes missing (freed
        // init text a filtered dump left out): crash shows that much, then stops.
        unreadable = decoded.error();
        unreadable_at = a;
        break;
      }
      auto insn = TRY(std::move(decoded));
      a += insn.size;
      bool go_on = keep(insn);
      v.push_back(std::move(insn));
      if (!go_on) break;
    }
    return v;
  };

  std::vector<disasm::Instruction> insns;
  if (args.has('r')) {
    Function f = TRY(function_of(k, t.address));
    if (t.address - f.start > kMaxFunctionBytes)
      return Error::make(Errc::out_of_bounds, "{:#x} is more than {:#x} bytes past its symbol", t.address, kMaxFunctionBytes);
    // From the function's start through the instruction at (or first past) the address.
    insns = TRY(walk(f.start, kMaxCount, [&](const disasm::Instruction& i) { return i.address < t.address; }));
    if (count && insns.size() > *count) insns.erase(insns.begin(), insns.end() - static_cast<ptrdiff_t>(*count));
  } else if (!count && (args.has('f') || t.bare_text_symbol)) {
    // Decoded from the function's start, so an address inside an instruction starts at the
    // next one, as crash shows it.
    Function f = TRY(function_of(k, t.address));
    insns = TRY(walk(f.start, kMaxCount, [&](const disasm::Instruction& i) { return i.address + i.size < f.end; }));
    std::erase_if(insns, [&](const disasm::Instruction& i) { return i.address < t.address; });
  } else {
    // An address in no symbol: crash's warning (in the command's output), and gdb's lines as
    // they come, indented.
    // Not for an address inside the image up to _end itself, which crash names by the last
    // symbol there; an expression's address gdb labels `<>` instead, with no warning.
    bool at_end = k.symbols().address_of("_end") == t.address;
    if (!in_kernel_image(k, t.address) && !at_end && !locate(k, t.address)) {
      bool expression = args.positional[0].starts_with("(");
      if (!expression) out.print("WARNING: {}: no associated kernel symbol found\n", args.positional[0]);
      p.set_bare(expression ? Printer::Bare::empty_label : Printer::Bare::indented);
    }
    // COUNT instructions decoded from the address itself (with -f too, as crash does).
    insns = TRY(walk(t.address, count.value_or(1), [](const disasm::Instruction&) { return true; }));
  }
  for (const auto& i : insns) out.write(p.format(i));
  if (unreadable) {
    disasm::Instruction label;
    label.address = unreadable_at;
    std::string line = p.format(label);
    out.write(line);
    fmt::print(stderr, "dis: {}\n", unreadable->message);
    // gdb's failed read ends crash's dis without a restart (`dis 0`): an error(INFO) here.
    return kernel::info_error(k, Error{Errc::fault, "", unreadable->address});
  }
  return ok();
}

}  // namespace

std::vector<Command> dis_commands() {
  return {Command{CommandSpec{"dis",
                              {},
                              "disassemble",
                              "[-rfludxs][-b [num]] [address | symbol | (expression)] [count]",
                              {{'r', false, "from the start of the routine up to and including the address"},
                               {'f', false, "from the address to the end of the routine"},
                               {'l', false, "show source file and line numbers"},
                               {'u', false, "user virtual address (not supported)"},
                               {'d', false, "decimal symbol offsets (the default)"},
                               {'x', false, "hexadecimal symbol offsets"},
                               {'s', false, "source file and line of the address (the listing is not supported)"}},
                              {"dis schedule", "dis -l sysrq_handle_crash", "dis -r (do_exit+100)", "dis panic 20"}},
                  run_dis}};
}

}  // namespace coroner::commands
