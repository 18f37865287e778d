// struct, union, whatis: type definitions as crash prints them (gdb's ptype layout), from
// the kernel's BTF. Printing a structure's contents at an address is not done yet.
#include "commands/builtin.h"
#include <charconv>

#include "kernel/kernel.h"
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

Result<void> show_type(Session& s, std::string_view keyword, const Args& args, Output& out) {
  if (args.positional.empty()) return Error::make(Errc::usage, "{}: no {} name given", keyword, keyword);
  std::string spec = args.positional[0];
  std::string name = spec.substr(0, spec.find('.'));
  std::vector<std::string> members;
  if (size_t dot = spec.find('.'); dot != std::string::npos) members = split_commas(spec.substr(dot + 1));
  auto& types = s.kernel.types();
  auto t = types.find(fmt::format("{} {}", keyword, name));
  if (!t) {
    out.print("{}: invalid data structure reference: {}\n", keyword, name);
    return Error{Errc::not_found, "", std::nullopt};
  }
  for (auto& m : members)
    if (!types.member(*t, m)) {
      out.print("{}: invalid data structure reference: {}.{}\n", keyword, name, m);
      return Error{Errc::not_found, "", std::nullopt};
    }
  if (args.positional.size() < 2) {
    out.write(TRY(types.definition(*t, args.has('o'), members)));
    return ok();
  }
  // struct NAME ADDR|SYMBOL: the contents, in gdb's layout.
  const std::string& where = args.positional[1];
  uint64_t addr = 0;
  if (auto sa = s.kernel.symbols().address_of(where)) {
    addr = *sa;
  } else {
    std::string_view h = where;
    if (h.substr(0, 2) == "0x") h.remove_prefix(2);
    auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), addr, 16);
    if (ec != std::errc() || p != h.data() + h.size() || h.empty()) {
      out.print("symbol not found: {}\npossible alternatives:\n  (none found)\n", where);
      return Error{Errc::not_found, "", std::nullopt};
    }
  }
  uint64_t size = TRY(types.size_of(*t));
  if (size > (64u << 20)) return Error::make(Errc::out_of_bounds, "{} {} is {} bytes", keyword, name, size);
  std::vector<uint8_t> bytes(size);
  TRY(s.kernel.read(addr, bytes));
  kernel::KernelValueContext ctx(s.kernel, args.has('x') ? 16 : 10);
  if (members.empty()) {
    out.print("{} {} {}\n", keyword, name, TRY(types.format_value(*t, bytes, ctx, 0, addr)));
    return ok();
  }
  // Selected members: the lines gdb prints for them inside the whole value.
  for (const auto& m : members) {
    symbols::MemberInfo mi = TRY(types.member(*t, m));
    uint64_t msize = TRY(types.size_of(mi.type));
    std::span<const uint8_t> mb = std::span<const uint8_t>(bytes).subspan(mi.offset(), std::min<uint64_t>(msize, size - mi.offset()));
    out.print("  {} = {},\n", m, TRY(types.format_value(mi.type, mb, ctx, 1, addr + mi.offset())));
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
    out.write(TRY(types.definition(*t, false, {})));
    return ok();
  }
  if (const symbols::Symbol* sym = s.kernel.symbols().find(arg)) {
    bool text = sym->type == 't' || sym->type == 'T';
    auto decl = text ? s.kernel.dwarf().declare_function(arg) : s.kernel.dwarf().declare_variable(arg);
    if (!decl && text) decl = s.kernel.dwarf().declare_variable(arg);
    if (decl) {
      out.print("{};\n", *decl);
      return ok();
    }
    if (decl.error().code != Errc::not_found) return decl.error();
  }
  return Error::make(Errc::not_found, "cannot resolve: {}", arg);
}

}  // namespace

static Command struct_command() {
  return Command{CommandSpec{"struct",
                             {},
                             "structure contents",
                             "struct_name[.member[,member]] [-o]",
                             {{'o', false, "show member offsets"},
                              {'x', false, "integers in hexadecimal"},
                              {'d', false, "integers in decimal (the default)"}},
                             {"struct list_head", "struct -o task_struct", "struct task_struct.pid,comm"}},
                 run_struct};
}

static Command union_command() {
  return Command{CommandSpec{"union",
                             {},
                             "union contents",
                             "union_name[.member[,member]] [-o]",
                             {{'o', false, "show member offsets"},
                              {'x', false, "integers in hexadecimal"},
                              {'d', false, "integers in decimal (the default)"}},
                             {"union thread_union"}},
                 run_union};
}

static Command whatis_command() {
  return Command{CommandSpec{"whatis", {}, "search symbol table for data or type information", "struct | union | typedef | enum",
                             {}, {"whatis task_struct", "whatis pid_type"}},
                 run_whatis};
}

std::vector<Command> struct_commands() { return {struct_command(), union_command(), whatis_command()}; }

}  // namespace coroner::commands
