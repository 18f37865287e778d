// mod: the loaded modules, as crash's `mod` lists them; `mod -t` shows their taints.
#include <algorithm>

#include "commands/builtin.h"
#include "kernel/kernel.h"
#include "kernel/modules.h"

namespace coroner::commands {
namespace {

// crash's mkstring(CENTER|LJUST): the text centred, the odd space on the right.
std::string centered(std::string_view text, size_t width) {
  if (text.size() >= width) return std::string(text);
  size_t left = (width - text.size()) / 2;
  return fmt::format("{}{}{}", std::string(left, ' '), text, std::string(width - text.size() - left, ' '));
}

constexpr size_t kAddrWidth = 16;  // crash's VADDR_PRLEN on 64-bit machines

Result<void> list_modules(const kernel::ModuleTable& table, Output& out) {
  const auto& mods = table.modules();
  if (mods.empty()) {
    out.print("mod: no modules installed\n");
    return ok();
  }
  size_t name_width = 4, size_width = 4;  // at least "NAME", "SIZE"
  for (const auto& m : mods) {
    name_width = std::max(name_width, m.name.size());
    size_width = std::max(size_width, fmt::formatted_size("{}", m.size));
  }
  out.print("{}  {:<{}}  {}  {:>{}}  OBJECT FILE\n", centered("MODULE", kAddrWidth), "NAME", name_width,
            centered(table.memory_regions() ? "TEXT_BASE" : "BASE", kAddrWidth), "SIZE", size_width);
  for (const auto& m : mods)
    out.print("{:>16x}  {:<{}}  {:>16x}  {:>{}}  (not loaded){}\n", m.address, m.name, name_width, m.base, m.size,
              size_width, m.has_kallsyms ? "  [CONFIG_KALLSYMS]" : "");
  for (const auto& m : mods)
    if (!m.symbols_error.empty()) out.print("mod: {}\n", m.symbols_error);
  return ok();
}

// `mod -t`: each tainted module's taint letters from the kernel's own taint_flags table.
Result<void> list_taints(kernel::Kernel& k, const kernel::ModuleTable& table, Output& out) {
  struct Row {
    std::string name, taint;
  };
  std::vector<Row> rows;
  auto flags = k.symbol("taint_flags");
  auto flag_size = k.types().size_of_name("taint_flag");
  auto c_true = k.offset_of("taint_flag", "c_true");
  for (const auto& m : table.modules()) {
    uint64_t taints = TRY(k.member_uint(m.address, "module", "taints"));
    if (taints == 0) continue;
    std::string letters;
    for (int bit = 0; bit < 64; bit++) {
      if (!(taints & (1ull << bit))) continue;
      std::optional<char> c;
      if (flags && flag_size && c_true)
        if (auto v = k.read_as<char>(*flags + bit * *flag_size + *c_true)) c = *v;
      if (!c || *c == 0) {
        letters = fmt::format("{:x}", taints);  // crash shows the raw value when it cannot translate
        break;
      }
      letters += *c;
    }
    rows.push_back({m.name, letters});
  }
  if (rows.empty()) {
    out.print("no tainted modules\n");
    return ok();
  }
  size_t width = 4;
  for (const auto& r : rows) width = std::max(width, r.name.size());
  out.print("{:<{}}  TAINT\n", "NAME", width);
  for (const auto& r : rows) out.print("{:<{}}  {}\n", r.name, width, r.taint);
  return ok();
}

Result<void> run_mod(Session& s, const Args& args, Output& out) {
  for (char unsupported : {'s', 'S', 'd', 'D', 'r', 'R', 'o', 'g'})
    if (args.has(unsupported))
      return Error::make(Errc::unsupported, "-{}: loading module object files is not supported yet", unsupported);
  const kernel::ModuleTable* table = TRY(kernel::modules(s.kernel));
  if (args.has('t')) return list_taints(s.kernel, *table, out);
  return list_modules(*table, out);
}

}  // namespace

std::vector<Command> mod_commands() {
  return {Command{
      CommandSpec{"mod",
                  {},
                  "module information and loading of symbols and debugging data",
                  "[-t] | -s module [objfile] | -S [directory]",
                  {{'t', false, "display the contents of each module's taints bitmask if non-zero"},
                   {'s', true, "load symbolic and debugging data of a module (not supported yet)"},
                   {'S', false, "load symbolic and debugging data of all modules (not supported yet)"},
                   {'d', true, "delete a module's symbolic and debugging data (not supported yet)"},
                   {'D', false, "delete the symbolic and debugging data of all modules (not supported yet)"},
                   {'r', false, "pass -readnow when loading (not supported yet)"},
                   {'R', false, "reinitialize module data (live systems only)"},
                   {'o', false, "load module symbols with the old mechanism (not supported yet)"},
                   {'g', false, "add section start and end symbols with -s/-S (not supported yet)"}},
                  {"mod", "mod -t"}},
      run_mod}};
}

}  // namespace coroner::commands
