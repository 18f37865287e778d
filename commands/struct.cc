// struct, union, whatis: type definitions as crash prints them (gdb's ptype layout), from
// the kernel's BTF, and contents at an address or symbol, per-CPU ones with :CPUSPEC.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "commands/builtin.h"
#include "commands/support/parse.h"
#include "commands/support/type_layout.h"

#include "kernel/kernel.h"
#include "kernel/modules.h"
#include "kernel/object_sizes.h"
#include "kernel/value_context.h"

namespace coroner::commands {
namespace {

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t c = s.find(',');
    out.emplace_back(s.substr(0, c));
    s = c == std::string_view::npos ? std::string_view() : s.substr(c + 1);
  }
  return out;
}

// crash's :CPUSPEC for per-CPU data: "a"/"all", or CPU numbers and ranges among the
// present CPUs; its errors otherwise ("invalid cpu specification: 5").
Result<std::vector<int>> cpu_list(kernel::Kernel& k, std::string_view keyword, const std::string& spec, Output& out) {
  auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
  if (spec == "a" || spec == "all") return present;
  if (spec.empty()) return Error::make(Errc::unsupported, "{}: \":\" (the current task's CPU) is not supported", keyword);
  for (char c : spec)
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != ',' && c != '-') {
      out.print("{}: {}: \"{}\" is not a digit 0 - 9\n", keyword, spec, c);
      return Error{Errc::usage, "", std::nullopt};
    }
  auto cpus = parse_cpu_ranges(spec, present.empty() ? 1 : present.back() + 1);
  bool valid = cpus.ok();
  if (valid)
    for (int c : *cpus)
      if (std::find(present.begin(), present.end(), c) == present.end()) valid = false;
  if (!valid) {
    out.print("{}: invalid cpu specification: {}\n", keyword, spec);
    return Error{Errc::usage, "", std::nullopt};
  }
  return *cpus;
}

// A module symbol's address (from the dump's kallsyms, or the object file `mod -s` loaded).
std::optional<uint64_t> module_symbol_address(kernel::Kernel& k, std::string_view name) {
  auto table = kernel::modules(k);
  if (!table) return std::nullopt;
  for (const auto& m : (*table)->modules())
    for (const auto& sym : m.symbols)
      if (sym.name == name) return sym.value;
  return std::nullopt;
}

// The contents of one structure at addr (all of it, or the selected members).
Result<void> show_contents(Session& s, symbols::Types& types, std::string_view keyword, const std::string& name, symbols::TypeRef t,
                           const std::vector<std::string>& members, uint64_t addr, int radix, Output& out) {
  uint64_t size = TRY(types.size_of(t));
  if (size > (64u << 20)) return Error::make(Errc::out_of_bounds, "{} {} is {} bytes", keyword, name, size);
  // A downsized structure (task_struct, kmem_cache) that runs into a page the dump does not hold
  // is shown as crash shows it: what was read, then zeros (kernel/object_sizes.h).
  std::vector<uint8_t> bytes;
  if (keyword == "struct") {
    bytes = TRY(kernel::read_shown_structure(s.kernel, name, addr, size));
  } else {
    bytes.resize(size);
    TRY(s.kernel.read(addr, bytes));
  }
  kernel::KernelValueContext ctx(s.kernel, radix);
  if (members.empty()) {
    out.print("{} {} {}\n", keyword, name, TRY(types.format_value(t, bytes, ctx, 0, addr)));
    return ok();
  }
  // Selected members: the lines gdb prints for them inside the whole value.
  for (const auto& m : members) {
    symbols::MemberInfo mi = TRY(types.member(t, m));
    uint64_t msize = TRY(types.size_of(mi.type));
    if (mi.offset() >= size) return Error::make(Errc::bad_data, "{}.{} lies outside {} {}", name, m, keyword, name);
    std::span<const uint8_t> mb = std::span<const uint8_t>(bytes).subspan(mi.offset(), std::min<uint64_t>(msize, size - mi.offset()));
    std::vector<uint8_t> field;
    if (mi.bit_size) {
      // A bit field: its bits moved down into a value of the member's own type.
      uint64_t v = 0;
      for (uint64_t i = 0; i < 8 && i < mb.size(); ++i) v |= uint64_t{mb[i]} << (8 * i);
      v >>= mi.bit_offset % 8;
      if (mi.bit_size < 64) v &= (uint64_t{1} << mi.bit_size) - 1;
      field.assign(msize, 0);
      for (uint64_t i = 0; i < field.size() && i < 8; ++i) field[i] = static_cast<uint8_t>(v >> (8 * i));
      mb = field;
    }
    std::string text = TRY(types.format_value(mi.type, mb, ctx, 1, addr + mi.offset()));
    // crash ends a member's line with a comma, except an array printed as {...}
    // (`struct kernel_cpustat.cpustat kernel_cpustat:1`).
    bool braced_array = types.kind(types.resolve(mi.type)) == symbols::TypeKind::array && !text.empty() && text[0] == '{';
    out.print("  {} = {}{}\n", m, text, braced_array ? "" : ",");
  }
  return ok();
}

// "[CPU]: ADDRESS" for the first CPU of SYMBOL:CPUSPEC, when SYMBOL is per-CPU data.
void print_first_cpu_header(Session& s, const std::string& where, Output& out) {
  size_t colon = where.find(':');
  if (colon == std::string::npos) return;
  const symbols::Symbol* sym = s.kernel.symbols().find(where.substr(0, colon));
  if (!sym || !s.kernel.symbols().is_per_cpu(*sym)) return;
  std::string spec = where.substr(colon + 1);
  auto present = s.kernel.cpus_in_mask("cpu_present_mask");
  if (!present || present->empty()) return;
  int cpu = present->front();
  if (spec != "a" && spec != "all") {
    auto cpus = parse_cpu_ranges(spec, present->back() + 1);
    if (!cpus || cpus->empty()) return;
    cpu = cpus->front();
  }
  auto off = s.kernel.per_cpu_offset(cpu);
  if (off) out.print("[{}]: {:x}\n", cpu, s.kernel.symbols().address(*sym) + *off);
}

Result<void> show_type(Session& s, std::string_view keyword, const Args& args, Output& out) {
  if (args.positional.empty()) return Error::make(Errc::usage, "{}: no {} name given", keyword, keyword);
  std::string spec = args.positional[0];
  std::string name = spec.substr(0, spec.find('.'));
  std::vector<std::string> members;
  if (size_t dot = spec.find('.'); dot != std::string::npos) members = split_commas(spec.substr(dot + 1));
  // The vmlinux's types, else those of a module object file `mod -s/-S` loaded.
  symbols::Types* found_in = &s.kernel.types();
  auto t = found_in->find(fmt::format("{} {}", keyword, name));
  if (!t)
    if (auto mt = kernel::module_type(s.kernel, fmt::format("{} {}", keyword, name))) {
      found_in = mt->types;
      t = mt->type;
    }
  symbols::Types& types = *found_in;
  if (!t) {
    out.print("{}: invalid data structure reference: {}\n", keyword, name);
    return Error{Errc::not_found, "", std::nullopt};
  }
  for (auto& m : members)
    if (!types.member(*t, m)) {
      // With a per-CPU symbol, crash has printed the first CPU's header before it finds out.
      if (args.positional.size() >= 2) print_first_cpu_header(s, args.positional[1], out);
      out.print("{}: invalid data structure reference: {}.{}\n", keyword, name, m);
      return Error{Errc::not_found, "", std::nullopt};
    }
  // -x or -d, else crash's output radix (`set radix`).
  const int radix = args.has('x') ? 16 : args.has('d') ? 10 : s.output_radix;
  auto size = types.size_of(*t);
  if (args.positional.size() < 2) {
    out.write(crash_layout(TRY(types.definition(*t, args.has('o'), members)), size ? *size : 0, radix, std::nullopt));
    return ok();
  }
  // -o with an address: the definition with each member's address in place of its offset.
  auto show = [&](uint64_t at) -> Result<void> {
    if (!args.has('o')) return show_contents(s, types, keyword, name, *t, members, at, radix, out);
    out.write(crash_layout(TRY(types.definition(*t, true, members)), size ? *size : 0, radix, at));
    return ok();
  };
  // struct NAME ADDR|SYMBOL[:CPUSPEC]: the contents, in gdb's layout.
  std::string where = args.positional[1];
  std::optional<std::string> cpuspec;
  if (size_t colon = where.find(':'); colon != std::string::npos) {
    cpuspec = where.substr(colon + 1);
    where.resize(colon);
  }
  uint64_t addr = 0;
  bool per_cpu = false;
  if (auto msym = s.kernel.symbols().find(where) ? std::nullopt : module_symbol_address(s.kernel, where)) {
    addr = *msym;
    if (cpuspec) {
      out.print("WARNING: {} is not percpu; cpuspec ignored.\n", where);
      cpuspec.reset();
    }
  } else if (const symbols::Symbol* sym = s.kernel.symbols().find(where)) {
    addr = s.kernel.symbols().address(*sym);
    per_cpu = s.kernel.symbols().is_per_cpu(*sym);
    if (cpuspec && !per_cpu) {
      out.print("WARNING: {} is not percpu; cpuspec ignored.\n", where);
      cpuspec.reset();
    }
  } else {
    std::string_view h = where;
    if (h.substr(0, 2) == "0x") h.remove_prefix(2);
    auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), addr, 16);
    if (ec != std::errc() || p != h.data() + h.size() || h.empty()) {
      out.print("symbol not found: {}\npossible alternatives:\n  (none found)\n", where);
      return Error{Errc::not_found, "", std::nullopt};
    }
    // crash's IS_KVADDR test on a number (not a per-CPU offset): nothing below the kernel half
    // is read at all.
    if (!cpuspec && !(addr >> 63)) {
      out.print("{}: invalid kernel virtual address: {}\n", keyword, where);  // as typed
      return Error{Errc::out_of_bounds, "", std::nullopt};
    }
  }
  if (!cpuspec) return show(addr);
  // A per-CPU symbol or offset: the copy on each CPU of the list, headed "[CPU]: ADDRESS".
  std::vector<int> cpus = TRY(cpu_list(s.kernel, keyword, *cpuspec, out));
  for (int cpu : cpus) {
    uint64_t at = addr + TRY(s.kernel.per_cpu_offset(cpu));
    out.print("[{}]: {:x}\n", cpu, at);
    TRY(show(at));
  }
  return ok();
}

Result<void> run_struct(Session& s, const Args& a, Output& o) { return show_type(s, "struct", a, o); }
Result<void> run_union(Session& s, const Args& a, Output& o) { return show_type(s, "union", a, o); }

Result<void> run_whatis(Session& s, const Args& args, Output& out) {
  if (args.positional.empty()) return Error::make(Errc::usage, "whatis: no type or symbol given");
  std::string arg = args.positional[0];
  for (size_t i = 1; i < args.positional.size(); ++i) arg += " " + args.positional[i];
  auto& types = s.kernel.types();
  if (auto t = types.find(arg)) {
    auto size = types.size_of(*t);
    out.write(crash_layout(TRY(types.definition(*t, false, {})), size ? *size : 0, s.output_radix, std::nullopt));
    return ok();
  }
  if (const symbols::Symbol* sym = s.kernel.symbols().find(arg)) {
    bool text = sym->type == 't' || sym->type == 'T';
    auto decl = text ? s.kernel.dwarf().declare_function_at(sym->link_addr, arg) : s.kernel.dwarf().declare_variable(arg);
    if (!decl && text) decl = s.kernel.dwarf().declare_variable(arg);
    if (decl) {
      out.print("{};\n", *decl);
      return ok();
    }
    if (decl.error().code != Errc::not_found) return decl.error();
    // A text symbol no DWARF function defines (an assembly entry point): gdb's minimal symbol.
    if (text) {
      out.print("<text variable, no debug info> {};\n", arg);
      return ok();
    }
  }
  // Then what module object files loaded by `mod -s/-S` define: their functions and
  // variables, then their own types.
  if (auto decl = kernel::module_declaration(s.kernel, arg)) {
    out.print("{};\n", *decl);
    return ok();
  }
  if (auto mt = kernel::module_type(s.kernel, arg)) {
    auto size = mt->types->size_of(mt->type);
    out.write(crash_layout(TRY(mt->types->definition(mt->type, false, {})), size ? *size : 0, s.output_radix, std::nullopt));
    return ok();
  }
  // crash: the message, then whatis's usage (cmd_usage: a restart).
  out.print("whatis: cannot resolve: {}\n", arg);
  out.write(usage_block(find_command("whatis")->spec));
  return Error{Errc::not_found, "", std::nullopt};
}

}  // namespace

static Command struct_command() {
  return Command{CommandSpec{"struct",
                             {},
                             "structure contents",
                             "struct_name[.member[,member]][-o][-l offset][-rfuxdp]\n"
                             "         [address | symbol][:cpuspec] [count | -c count]",
                             {{'o', false, "show member offsets"},
                              {'x', false, "integers in hexadecimal"},
                              {'d', false, "integers in decimal (the default)"}},
                             {"struct list_head", "struct -o task_struct", "struct task_struct.pid,comm", "struct rq.nr_running runqueues:a"}},
                 run_struct};
}

static Command union_command() {
  return Command{CommandSpec{"union",
                             {},
                             "union contents",
                             "union_name[.member[,member]] [-o][-l offset][-rfuxdp]\n"
                             "         [address | symbol][:cpuspec] [count | -c count]",
                             {{'o', false, "show member offsets"},
                              {'x', false, "integers in hexadecimal"},
                              {'d', false, "integers in decimal (the default)"}},
                             {"union thread_union"}},
                 run_union};
}

static Command whatis_command() {
  return Command{CommandSpec{"whatis", {}, "search symbol table for data or type information", "[[-o] [struct | union | typedef | symbol]] | \n"
 "         [[-r [size|range]] [-m member]]",
                             {}, {"whatis task_struct", "whatis pid_type"}},
                 run_whatis};
}

std::vector<Command> struct_commands() { return {struct_command(), union_command(), whatis_command()}; }

}  // namespace coroner::commands
