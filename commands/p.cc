// p: print a kernel variable, or a member of one, as crash (through gdb) prints it.
// Supported expressions: NAME, NAME.member.member[2]...; per-CPU variables list their
// per-CPU addresses.
#include "commands/builtin.h"
#include "kernel/kernel.h"
#include "kernel/value_context.h"

namespace coroner::commands {
namespace {

Result<void> run_p(Session& s, const Args& args, Output& out) {
  if (args.has('x') || args.has('d')) return Error::make(Errc::unsupported, "-x and -d are not supported yet");
  if (args.positional.empty()) return Error::make(Errc::usage, "p: no expression given");
  std::string expr;
  for (auto& w : args.positional) expr += w;
  size_t cut = expr.find_first_of(".[");
  std::string name = expr.substr(0, cut);
  std::string path = cut == std::string::npos ? "" : expr.substr(cut);
  kernel::Kernel& k = s.kernel;
  auto& types = k.types();
  const symbols::Symbol* sym = k.symbols().find(name);
  auto fail = [&]() -> Result<void> {
    out.print("p: gdb request failed: p {}\n", expr);
    return Error{Errc::not_found, "", std::nullopt};
  };
  if (!sym) return fail();

  // A per-CPU variable: its type and where each CPU's copy lives.
  if (!sym->relocatable && (sym->type == 'd' || sym->type == 'D') && path.empty()) {
    std::string decl = TRY(k.dwarf().declare_variable(name));
    out.print("PER-CPU DATA TYPE:\n  {};\nPER-CPU ADDRESSES:\n", decl);
    auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
    int ncpus = present.empty() ? 1 : present.back() + 1;
    for (int cpu = 0; cpu < ncpus; ++cpu) out.print("  [{}]: {:x}\n", cpu, TRY(k.per_cpu(name, cpu)));
    return ok();
  }

  auto var_type = k.dwarf().variable_type(name, types);
  if (!var_type) {
    if (var_type.error().code == Errc::not_found) return fail();
    return var_type.error();
  }
  symbols::TypeRef t = *var_type;
  uint64_t addr = k.symbols().address(*sym);
  if (!path.empty()) {
    if (path[0] == '[') return Error::make(Errc::unsupported, "subscripting a variable is not supported yet: {}", expr);
    auto m = types.member(t, path.substr(1));
    if (!m) return fail();
    if (m->bit_size) return Error::make(Errc::unsupported, "printing a bit field is not supported yet: {}", expr);
    t = m->type;
    addr += m->offset();
  }
  uint64_t size = TRY(types.size_of(t));
  if (size > (64u << 20)) return Error::make(Errc::out_of_bounds, "{} is {} bytes", expr, size);
  std::vector<uint8_t> bytes(size);
  TRY(k.read(addr, bytes));
  kernel::KernelValueContext ctx(k);
  std::string value = TRY(types.format_value(t, bytes, ctx, 0, addr));

  symbols::TypeRef resolved = types.resolve(t);
  auto kind = types.kind(resolved);
  // gdb names the type of a pointer it prints on its own, except a string's.
  if (kind == symbols::TypeKind::pointer && value.find('"') == std::string::npos)
    value = fmt::format("({}) {}", types.declare(t, ""), value);
  int n = ++s.value_history;
  if (path.empty()) {
    auto arr = types.array(resolved);
    bool array = kind == symbols::TypeKind::array && arr && arr->second > 0;
    out.print("{} = ${} = {}{}\n", name, n, array ? "\n " : "", value);
  } else {
    out.print("${} = {}\n", n, value);
  }
  return ok();
}

}  // namespace

static Command p_command() {
  return Command{CommandSpec{"p",
                             {"print"},
                             "print the value of an expression",
                             "[-x|-d] variable[.member...]",
                             {{'x', false, "hexadecimal output (not yet)"}, {'d', false, "decimal output (not yet)"}},
                             {"p jiffies", "p init_uts_ns.name.release", "p runqueues"}},
                 run_p};
}

std::vector<Command> p_commands() { return {p_command()}; }

}  // namespace coroner::commands
