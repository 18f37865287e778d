// sym: translate a symbol to its address or an address to symbol+offset.
#include <algorithm>
#include <cctype>
#include <charconv>

#include <elf.h>

#include "commands/builtin.h"
#include "commands/support/json.h"
#include "kernel/kernel.h"
#include "kernel/modules.h"
#include "kernel/session_flags.h"

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

// One symbol sym shows: the same values make its text line and its JSON object.
struct SymRow {
  uint64_t address = 0;  // the symbol's address + offset
  char type = '?';
  std::string_view name;
  uint64_t offset = 0;
  const kernel::Module* module = nullptr;  // a module's symbol
  bool show_module = false;                // text: " [module]"
  bool source_slot = false;                // text: a module text symbol's " " before its source line
  std::optional<symbols::SourceLocation> source;
};

// Where sym's rows go: text lines as crash prints them, or (--json, -j) one document with
// every row in "symbols" and what could not be found in "errors". Text-only remarks (crash's
// "(none found)") are dropped in JSON.
class SymSink {
 public:
  SymSink(Output& out, bool json) : out_(out) {
    if (!json) return;
    w_.emplace();
    w_->object().field("command", "sym").key("symbols").array();
  }
  bool json() const { return w_.has_value(); }
  // "ADDR (T) name[+off][ [module]][ file: line]"
  void row(const SymRow& r, std::string_view text_indent = "") {
    if (w_) {
      w_->object().address_field("address", r.address).field("type", std::string(1, r.type)).field("name", r.name);
      w_->field("offset", r.offset);
      if (r.module) w_->field("module", r.module->name);
      else w_->null_field("module");
      if (r.source) w_->field("file", r.source->file).field("line", r.source->line);
      else w_->null_field("file").null_field("line");
      w_->end();
      return;
    }
    std::string line = r.offset ? fmt::format("{}{:x} ({}) {}+{}", text_indent, r.address, r.type, r.name, r.offset)
                                : fmt::format("{}{:x} ({}) {}", text_indent, r.address, r.type, r.name);
    if (r.show_module && r.module) line += fmt::format(" [{}]", r.module->name);
    if (r.source_slot) line += " ";
    if (r.source) line += fmt::format("{}{}: {}", r.source_slot ? "" : " ", r.source->file, r.source->line);
    out_.print("{}\n", line);
  }
  void text(std::string_view s) {
    if (!w_) out_.write(s);
  }
  // A name or address that matched nothing (JSON only: the text says so in its own words).
  void error(std::string_view query, std::string_view message) {
    errors_.push_back({std::string(query), std::string(message)});
  }
  void finish() {
    if (!w_) return;
    w_->end().key("errors").array();
    for (const auto& [query, message] : errors_) w_->object().field("query", query).field("error", message).end();
    w_->end().end().print_line(out_);
  }

 private:
  Output& out_;
  std::optional<json::Writer> w_;
  std::vector<std::pair<std::string, std::string>> errors_;
};

// A symbol of the vmlinux: source lines only for text, like crash.
void print_symbol(SymSink& out, kernel::Kernel& k, const symbols::Symbol& s, uint64_t offset, bool with_line,
                  std::string_view text_indent = "") {
  SymRow r;
  r.address = k.symbols().address(s) + offset;
  r.type = s.type;
  r.name = symbols::display_name(s.name);
  r.offset = offset;
  if (with_line && is_text(s)) r.source = k.source_lines().lookup(s.link_addr + offset);
  out.row(r, text_indent);
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
void print_module_symbol(SymSink& out, kernel::Kernel& k, const kernel::Module& m, const kernel::ModuleSymbol& sym,
                         uint64_t offset, bool with_module, bool with_line, std::string_view text_indent = "") {
  SymRow r;
  r.address = sym.value + offset;
  r.type = sym.type;
  r.name = sym.name;
  r.offset = offset;
  r.module = &m;
  r.show_module = with_module;
  if (with_line && m.in_text(r.address)) {
    r.source_slot = true;
    r.source = kernel::module_source_line(k, r.address);
  }
  out.row(r, text_indent);
}

// `sym -m NAME` and the module part of `sym -l`: each region between its START and END lines.
// In JSON only the symbols (no START/END markers).
void print_module_block(SymSink& out, kernel::Kernel& k, const kernel::Module& m) {
  for (const auto& r : m.regions) {
    std::string label = r.label.empty() ? "MODULE" : fmt::format("MODULE {}", r.label);
    out.text(fmt::format("{:x} {} START: {}\n", r.base, label, m.name));
    for (const auto& sym : m.symbols)
      if (m.region_of(sym.value) == &r) print_module_symbol(out, k, m, sym, 0, false, false);
    out.text(fmt::format("{:x} {} END: {}\n", r.end_marker, label, m.name));
  }
}

// The module table, or nullptr when the module list cannot be read (the kernel's own symbols
// still answer; the reason is printed once, in JSON as an error with the query "modules").
const kernel::ModuleTable* module_table(kernel::Kernel& k, SymSink& out) {
  auto t = kernel::modules(k);
  if (!t) {
    out.text(fmt::format("sym: cannot read the module list: {}\n", t.error().message));
    if (out.json()) out.error("modules", fmt::format("cannot read the module list: {}", t.error().message));
    return nullptr;
  }
  return *t;
}

Result<void> run_sym_rows(Session& s, const Args& args, SymSink& out) {
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
    if (!any) out.text("(none found)\n");
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
      out.text(fmt::format("sym: invalid address: {}\n", arg));
      out.error(arg, "invalid address");
      failed = true;
      continue;
    }
    // Like crash: the symbols whose names contain the name, as alternatives.
    // In JSON the name's error alone: the alternatives are sym -q's answer.
    out.text(fmt::format("symbol not found: {}\npossible alternatives:\n", arg));
    out.error(arg, "symbol not found");
    failed = true;
    if (out.json()) continue;
    bool any = false;
    for (const auto& sym : st.all())
      if (symbols::display_name(sym.name).find(arg) != std::string_view::npos) {
        print_symbol(out, k, sym, 0, false, "  ");
        any = true;
      }
    if (mods)
      for (const auto& m : mods->modules())
        for (const auto& sym : m.symbols)
          if (sym.name.find(arg) != std::string::npos) {
            print_module_symbol(out, k, m, sym, 0, true, false, "  ");
            any = true;
          }
    if (!any) out.text("  (none found)\n");
  }
  // crash's "symbol not found" and "invalid address" are error(INFO)s: no restart
  // (kernel/session_flags.h).
  if (failed) return kernel::info_error(k, Error{Errc::not_found, "", std::nullopt});
  return ok();
}

// In JSON the document is printed even when a name was not found (its "errors" say which),
// and the command still fails (exit status), with nothing more printed.
Result<void> run_sym(Session& s, const Args& args, Output& out) {
  SymSink sink(out, json::wanted(s, args));
  auto r = run_sym_rows(s, args, sink);
  if (!r && sink.json() && !r.error().message.empty()) return r;  // json::capable prints it
  sink.finish();
  return r;
}

}  // namespace

static Command sym_command() {
  return Command{
      CommandSpec{"sym",
                  {},
                  "translate a symbol to its virtual address, or vice-versa",
                  "[-l] | [-M] | [-m module] | [-p|-n] | [-q string] | [symbol | vaddr]",
                  {{'l', false, "dump all symbols and their values"},
                   {'m', true, "dump the symbols of a module"},
                   {'q', true, "search for all symbols containing a string"},
                   {'j', false, "JSON: one document with every symbol (address, type, name, offset, module, file, line)"}},
                  {"sym jiffies", "sym ffffffff81000000", "sym -q sysrq", "sym -m virtio"}},
      run_sym};
}

std::vector<Command> sym_commands() { return {json::capable(sym_command())}; }

}  // namespace coroner::commands
