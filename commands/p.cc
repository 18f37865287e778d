// p: print a kernel variable, or a member of one, as crash (through gdb) prints it.
// Supported expressions: NAME, NAME.member.member[2]...; per-CPU variables list their
// per-CPU addresses.
#include <algorithm>
#include <optional>

#include "commands/builtin.h"
#include "commands/support/parse.h"
#include "kernel/kernel.h"
#include "kernel/value_context.h"

namespace coroner::commands {
namespace {

// gdb's `LABEL = $N = VALUE` (an empty label for a member expression: `$N = VALUE`).
Result<void> print_value(Session& s, symbols::TypeRef t, uint64_t addr, const std::string& label, int radix, Output& out) {
  kernel::Kernel& k = s.kernel;
  auto& types = k.types();
  uint64_t size = TRY(types.size_of(t));
  if (size > (64u << 20)) return Error::make(Errc::out_of_bounds, "{} is {} bytes", label, size);
  std::vector<uint8_t> bytes(size);
  TRY(k.read(addr, bytes));
  kernel::KernelValueContext ctx(k, radix);
  std::string value = TRY(types.format_value(t, bytes, ctx, 0, addr));
  symbols::TypeRef resolved = types.resolve(t);
  auto kind = types.kind(resolved);
  // gdb names the type of a pointer it prints on its own, except a string's.
  if (kind == symbols::TypeKind::pointer && value.find('"') == std::string::npos)
    value = fmt::format("({}) {}", types.declare(t, ""), value);
  int n = ++s.value_history;
  if (!label.empty()) {
    auto arr = types.array(resolved);
    bool array = kind == symbols::TypeKind::array && arr && arr->second > 0;
    out.print("{} = ${} = {}{}\n", label, n, array ? "\n " : "", value);
  } else {
    out.print("${} = {}\n", n, value);
  }
  return ok();
}

// "a" (every present CPU) or crash's CPU list over the present CPUs.
Result<std::vector<int>> parse_cpuspec(const std::string& spec, const std::vector<int>& present) {
  if (spec == "a" || spec == "all" || spec.empty()) return present;
  auto cpus = TRY(parse_cpu_ranges(spec, present.empty() ? 1 : present.back() + 1));
  for (int c : cpus)
    if (std::find(present.begin(), present.end(), c) == present.end())
      return Error::make(Errc::usage, "invalid cpu specification: {}", spec);
  return cpus;
}

Result<void> run_p(Session& s, const Args& args, Output& out) {
  if (args.positional.empty()) return Error::make(Errc::usage, "p: no expression given");
  int radix = args.has('x') ? 16 : 10;
  std::string expr;
  for (auto& w : args.positional) expr += w;
  // VAR:CPUSPEC — a per-CPU variable's copy on some CPUs (N, N-M, lists, `a` for all).
  std::optional<std::string> cpuspec;
  const std::string whole = expr;  // what gdb was asked, for crash's failure message
  if (size_t colon = expr.find(':'); colon != std::string::npos) {
    cpuspec = expr.substr(colon + 1);
    expr.resize(colon);
  }
  size_t cut = expr.find_first_of(".[");
  std::string name = expr.substr(0, cut);
  std::string path = cut == std::string::npos ? "" : expr.substr(cut);
  kernel::Kernel& k = s.kernel;
  auto& types = k.types();
  const symbols::Symbol* sym = k.symbols().find(name);
  auto fail = [&]() -> Result<void> {
    out.print("p: gdb request failed: p {}\n", whole);
    return Error{Errc::not_found, "", std::nullopt};
  };
  if (!sym) return fail();

  bool per_cpu_var = !sym->relocatable && (sym->type == 'd' || sym->type == 'D');
  if (cpuspec) {
    if (!per_cpu_var || !path.empty()) return fail();
    auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
    auto cpus = TRY(parse_cpuspec(*cpuspec, present));
    auto var_type = TRY(k.dwarf().variable_type(name, types));
    for (int cpu : cpus)
      TRY(print_value(s, var_type, TRY(k.per_cpu(name, cpu)), fmt::format("per_cpu({}, {})", name, cpu), radix, out));
    return ok();
  }

  // A per-CPU variable: its type and where each CPU's copy lives.
  if (per_cpu_var && path.empty()) {
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
  return print_value(s, t, addr, path.empty() ? name : "", radix, out);
}

}  // namespace

static Command p_command() {
  return Command{CommandSpec{"p",
                             {"print"},
                             "print the value of an expression",
                             "[-x|-d] variable[.member...] | per-cpu-variable:cpu[,cpu...|a]",
                             {{'x', false, "integers in hexadecimal"}, {'d', false, "integers in decimal (the default)"}},
                             {"p jiffies", "p init_uts_ns.name.release", "p runqueues", "p cpu_number:a"}},
                 run_p};
}

std::vector<Command> p_commands() { return {p_command()}; }

}  // namespace coroner::commands
