// p: print the value of an expression as crash (through gdb) prints it: a variable
// (`NAME = $N = ...`), a per-CPU variable's addresses or its copies (`VAR:CPUSPEC`), or a C
// expression (members, subscripts, &, *, casts, sizeof, integer arithmetic; commands/support/expr.h).
#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include "commands/builtin.h"
#include "commands/support/expr.h"
#include "commands/support/parse.h"
#include "kernel/kernel.h"
#include "kernel/modules.h"
#include "symbols/btf_types.h"
#include "kernel/value_context.h"

namespace coroner::commands {
namespace {

// gdb's value history ($1, $2, ...), kept with the Kernel so `p $N` can print one again
// (a dump does not change, so holding where a value lives is as good as holding its bytes).
struct ValueHistory {
  std::map<int, expr::Value> values;
};

ValueHistory& history(kernel::Kernel& k) { return k.extension<ValueHistory>(); }

// crash's `LABEL = $N = VALUE` when the first word is a symbol; `$N = VALUE` otherwise. An
// array value starts on its own line after a label, as crash prints it.
void print_numbered(Session& s, const expr::Value& v, const std::string& label, bool array, const std::string& text,
                    Output& out) {
  int n = ++s.value_history;
  history(s.kernel).values[n] = v;
  if (!label.empty())
    out.print("{} = ${} = {}{}\n", label, n, array ? "\n " : "", text);
  else
    out.print("${} = {}\n", n, text);
}

// A variable (or a per-CPU copy of one) of type t at addr.
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
  // gdb names the type of a pointer it prints on its own, except an unnamed pointer to `char`
  // itself, qualified or not, whose string says what it is (c_value_print); a pointer typedef
  // or `unsigned char *` keeps its type.
  if (kind == symbols::TypeKind::pointer) {
    std::string target = types.declare(resolved, "");
    for (std::string_view q : {"const ", "volatile "})
      if (target.starts_with(q)) target.erase(0, q.size());
    if (target != "char *" || types.kind(t) == symbols::TypeKind::typedef_)
      value = fmt::format("({}) {}", types.declare(t, ""), value);
  }
  auto arr = types.array(resolved);
  bool array = kind == symbols::TypeKind::array && arr && arr->second > 0;
  expr::Value v;
  v.type.btf = t;
  v.address = addr;
  print_numbered(s, v, label, array, value, out);
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

// Where gdb under crash puts a vmlinux symbol: crash hands gdb the KASLR offset for every
// section, the per-CPU section linked at 0 included, so `p &__per_cpu_start` is the offset
// itself and `p (void *)&runqueues` the offset plus runqueues' per-CPU offset. Only absolute
// symbols stay where they were linked.
uint64_t gdb_address(const kernel::Kernel& k, const symbols::Symbol& sym) {
  if (sym.relocatable || sym.type == 'A' || sym.type == 'a') return k.symbols().address(sym);
  return sym.link_addr + k.symbols().relocation();
}

// The kernel behind expr::Env: global variables from the symbol table with their DWARF
// types, memory from the dump.
class KernelEnv final : public expr::Env {
 public:
  explicit KernelEnv(kernel::Kernel& k) : k_(k), types_(&k.types()) {}
  symbols::Types& types() override { return *types_; }
  Result<std::pair<uint64_t, symbols::TypeRef>> variable(std::string_view name) override {
    const symbols::Symbol* sym = k_.symbols().find(name);
    if (!sym) {
      // A variable of a module whose object file `mod -s/-S` loaded.
      if (auto mv = kernel::module_variable(k_, name)) {
        // A type only the module defines: its types from now on (they extend the vmlinux's,
        // so types already met keep their ids).
        if (mv->types) types_ = mv->types;
        return std::make_pair(mv->address, mv->type);
      }
      return Error::make(Errc::not_found, "No symbol \"{}\" in current context.", name);
    }
    symbols::TypeRef t = TRY(k_.dwarf().variable_type(name, k_.types()));
    return std::make_pair(gdb_address(k_, *sym), t);
  }
  Result<void> read(uint64_t addr, std::span<uint8_t> out) override { return k_.read(addr, out); }
  // A text symbol with a DWARF subprogram; gdb's `<text variable, no debug info>` without one.
  std::optional<std::pair<uint64_t, std::string>> function(std::string_view name) override {
    const symbols::Symbol* sym = k_.symbols().find(name);
    if (!sym) return module_function(name);
    if (sym->type != 't' && sym->type != 'T' && sym->type != 'W' && sym->type != 'w') return std::nullopt;
    // The prototype of the definition with code at the symbol (a declaration alone, as of an
    // assembly entry point, is no function symbol to gdb).
    auto proto = k_.dwarf().function_type_at(sym->link_addr, name, "");
    return std::make_pair(k_.symbols().address(*sym), proto ? *proto : std::string("<text variable, no debug info>"));
  }
  // A function of a loaded module object file: its DWARF declaration without the name
  // ("int virtblk_probe(struct virtio_device *)" -> "int (struct virtio_device *)").
  std::optional<std::pair<uint64_t, std::string>> module_function(std::string_view name) {
    auto sym = kernel::loaded_module_symbol(k_, name);
    if (!sym || (sym->type != 't' && sym->type != 'T')) return std::nullopt;
    auto decl = kernel::module_declaration(k_, name);
    if (!decl) return std::make_pair(sym->address, std::string("<text variable, no debug info>"));
    size_t at = decl->find(std::string(name) + "(");
    if (at == std::string::npos) return std::nullopt;
    return std::make_pair(sym->address, decl->substr(0, at) + decl->substr(at + name.size()));
  }
  std::optional<uint64_t> symbol_address(std::string_view name) override {
    const symbols::Symbol* sym = k_.symbols().find(name);
    if (!sym) return std::nullopt;
    return gdb_address(k_, *sym);
  }
  std::optional<std::string> address_type(std::string_view variable) override {
    auto spelled = k_.dwarf().declare_type(variable, false, "*");
    if (!spelled) return std::nullopt;
    return *spelled;
  }
  std::optional<std::pair<int64_t, symbols::TypeRef>> enumerator(std::string_view name) override {
    auto v = k_.types().enumerator(name);
    if (!v) return std::nullopt;
    symbols::TypeRef t;
    if (auto* btf = dynamic_cast<symbols::BtfTypes*>(&k_.types()))
      if (auto et = btf->enumerator_type(name)) t = *et;
    return std::make_pair(*v, t);
  }
  Result<expr::Value> history(uint64_t n) override {
    auto& values = coroner::commands::history(k_).values;
    if (values.empty()) return Error::make(Errc::usage, "History is empty.");
    if (n == 0) return values.rbegin()->second;
    auto it = values.find(static_cast<int>(std::min<uint64_t>(n, INT32_MAX)));
    if (it == values.end()) return Error::make(Errc::usage, "History has not yet reached ${}.", n);
    return it->second;
  }

 private:
  kernel::Kernel& k_;
  symbols::Types* types_;
};

bool is_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// crash's VAR:CPUSPEC suffix: CPU numbers, ranges, commas, or "a"/"all".
bool is_cpuspec(std::string_view s) {
  if (s == "a" || s == "all") return true;
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == ',' || c == '-'; });
}

Result<void> run_p(Session& s, const Args& args, Output& out) {
  if (args.positional.empty()) return Error::make(Errc::usage, "p: no expression given");
  // -x or -d, else crash's output radix (`set radix`).
  int radix = args.has('x') ? 16 : args.has('d') ? 10 : s.output_radix;
  // crash reads every word starting with '-' as an option: "-5" is refused with its usage,
  // and a lone "-" is dropped before gdb sees the words.
  std::vector<std::string> words;
  for (const auto& w : args.positional) {
    if (w == "-") continue;
    if (w.size() > 1 && w[0] == '-') {
      out.print("Usage:\n  p [-x|-d][-u] [expression | symbol[:cpuspec]]\nEnter \"help p\" for details.\n");
      return Error{Errc::usage, "", std::nullopt};
    }
    words.push_back(w);
  }
  if (words.empty()) return Error::make(Errc::usage, "p: no expression given");
  std::string expr;
  for (auto& w : words) expr += (expr.empty() ? "" : " ") + w;
  std::string whole = expr;  // what gdb was asked, for crash's failure message
  kernel::Kernel& k = s.kernel;
  auto& types = k.types();
  // crash hands gdb's failures back as one line; gdb's own reason goes to the console.
  auto fail = [&](std::string_view why) -> Result<void> {
    if (!why.empty()) fmt::print(stderr, "{}\n", why);
    out.print("p: gdb request failed: p {}\n", whole);
    return Error{Errc::not_found, "", std::nullopt};
  };

  // VAR:CPUSPEC — a per-CPU variable's copy on some CPUs (N, N-M, lists, `a` for all).
  if (size_t colon = expr.find(':'); colon != std::string::npos && is_cpuspec(expr.substr(colon + 1))) {
    std::string name = expr.substr(0, colon);
    const symbols::Symbol* sym = k.symbols().find(name);
    if (!sym || !is_identifier(name)) return fail("");
    if (!k.symbols().is_per_cpu(*sym)) {
      // crash drops the CPU list and prints the symbol as gdb would.
      out.print("WARNING: {} is not percpu; cpuspec ignored.\n", name);
      expr = whole = name;
    }
  }
  if (size_t colon = expr.find(':'); colon != std::string::npos && is_cpuspec(expr.substr(colon + 1))) {
    std::string name = expr.substr(0, colon);
    auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
    auto cpus = TRY(parse_cpuspec(expr.substr(colon + 1), present));
    auto var_type = TRY(k.dwarf().variable_type(name, types));
    for (int cpu : cpus)
      TRY(print_value(s, var_type, TRY(k.per_cpu(name, cpu)), fmt::format("per_cpu({}, {})", name, cpu), radix, out));
    return ok();
  }

  // A variable by itself (an enumerator or an unknown name is an expression, below).
  if (const symbols::Symbol* sym = is_identifier(expr) ? k.symbols().find(expr) : nullptr) {
    // A per-CPU variable: its type and where each CPU's copy lives.
    if (k.symbols().is_per_cpu(*sym)) {
      std::string decl = TRY(k.dwarf().declare_variable(expr));
      out.print("PER-CPU DATA TYPE:\n  {};\nPER-CPU ADDRESSES:\n", decl);
      auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
      int ncpus = present.empty() ? 1 : present.back() + 1;
      for (int cpu = 0; cpu < ncpus; ++cpu) out.print("  [{}]: {:x}\n", cpu, TRY(k.per_cpu(expr, cpu)));
      return ok();
    }
    auto var_type = k.dwarf().variable_type(expr, types);
    if (var_type) return print_value(s, *var_type, gdb_address(k, *sym), expr, radix, out);
    // Not a variable: a function (or nothing gdb knows), through the expression path below.
    if (var_type.error().code != Errc::not_found) return var_type.error();
  }

  // Anything else is a C expression, evaluated as gdb would.
  auto is_type_name = [&](std::string_view name) {
    if (k.symbols().find(name)) return false;
    auto t = types.find(name);
    if (!t) return false;
    auto kind = types.kind(*t);
    return kind == symbols::TypeKind::typedef_ || kind == symbols::TypeKind::integer;
  };
  auto tree = expr::parse(expr, is_type_name);
  if (!tree) return fail(tree.error().message);
  KernelEnv env(k);
  auto value = expr::evaluate(**tree, env);
  if (!value) {
    if (value.error().code == Errc::usage || value.error().code == Errc::not_found || value.error().code == Errc::fault)
      return fail(value.error().message);
    return value.error();
  }
  kernel::KernelValueContext ctx(k, radix);
  auto text = expr::format(*value, env, ctx);
  if (!text) {
    if (text.error().code == Errc::fault || text.error().code == Errc::usage) return fail(text.error().message);
    return text.error();
  }
  // crash labels the value with the first word when that word is a symbol ("p nr_cpu_ids * 2").
  bool named = k.symbols().find(words[0]) || kernel::loaded_module_symbol(k, words[0]);
  std::string label = named ? words[0] : "";
  // A function's one-line {PROTOTYPE} value starts on its own line after a label, as an array's.
  bool function = !value->type.function.empty() && value->type.pointers == 0;
  bool array = value->type.function.empty() && value->type.pointers == 0 && value->type.btf.id &&
               env.types().kind(env.types().resolve(value->type.btf)) == symbols::TypeKind::array;
  print_numbered(s, *value, label, function || array, *text, out);
  return ok();
}

}  // namespace

static Command p_command() {
  return Command{CommandSpec{"p",
                             {"print"},
                             "print the value of an expression",
                             "[-x|-d][-u] [expression | symbol[:cpuspec]]",
                             {{'x', false, "integers in hexadecimal"}, {'d', false, "integers in decimal (the default)"}},
                             {"p jiffies", "p init_uts_ns.name.release", "p &init_task.tasks", "p *(struct list_head *)&init_task.tasks", "p sizeof(struct task_struct)", "p runqueues", "p cpu_number:a"}},
                 run_p};
}

std::vector<Command> p_commands() { return {p_command()}; }

}  // namespace coroner::commands
