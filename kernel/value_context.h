// Names and strings for printing values from a dump: pointers into the kernel image print
// as <symbol+offset>, char pointers as the string they point to (gdb's conventions).
//
//   KernelValueContext ctx(kernel);
//   std::string text = TRY(kernel.types().format_value(type, bytes, ctx));
#pragma once

#include <algorithm>
#include <vector>

#include "kernel/kernel.h"
#include "kernel/modules.h"

namespace coroner::kernel {

class KernelValueContext final : public symbols::ValueContext {
 public:
  explicit KernelValueContext(Kernel& k, int radix = 10) : k_(k), radix_(radix) {}
  int radix() const override { return radix_; }
  std::optional<std::string> symbolize(uint64_t addr) override {
    auto text = k_.symbols().address_of("_text");
    auto end = k_.symbols().address_of("_end");
    if (!text || !end) return std::nullopt;
    if (addr < *text || addr >= *end) return module_symbol(addr);
    auto hit = k_.symbols().lookup(addr);
    if (!hit) return std::nullopt;
    if (hit->offset) return fmt::format("{}+{}", hit->symbol->name, hit->offset);
    return std::string(hit->symbol->name);
  }
  std::optional<std::string> read_string(uint64_t addr, size_t max) override {
    auto s = k_.read_cstring(addr, max);
    if (!s) return std::nullopt;
    return *s;
  }

  // The name of a module address in a printed value; nullopt outside modules. gdb knows a
  // module's symbols once `mod -s/-S` gave it the object file; where gdb finds none, crash's
  // gdb patch (build_address_symbolic -> gdb_lookup_module_symbol) asks crash's own module
  // symbol list, kallsyms and region starts included (`<_MODULE_RODATA_START_qemu_fw_cfg+288>`),
  // so module addresses are named with or without the object file.
  std::optional<std::string> module_symbol(uint64_t addr) {
    auto table = modules(k_);
    if (!table) return std::nullopt;
    const Module* m = (*table)->containing(addr);
    if (!m) return std::nullopt;
    if (m->object)
      if (auto name = gdb_module_symbol_at(*m, addr)) return name;
    auto at = symbol_at(k_, addr);
    if (!at || at->module != m->name || at->region_end) return std::nullopt;
    if (at->offset) return fmt::format("{}+{}", at->name, at->offset);
    return at->name;
  }

 private:
  // gdb's pick among the object file's symbols sharing exactly `addr` (minsyms.c,
  // lookup_minimal_symbol_by_pc_section): its minimal symbols sorted by address then name, the
  // last one, unless that is not a global function and the one before it is
  // (`id_table` over `__mod_virtio__id_table_device_table`, `cleanup_module` over
  // `fw_cfg_sysfs_exit`). nullopt when fewer than two share it (crash's lookup answers).
  static std::optional<std::string> gdb_module_symbol_at(const Module& m, uint64_t addr) {
    std::vector<const ModuleSymbol*> at;
    for (const auto& s : m.symbols)
      if (s.value == addr && s.type != 'm') at.push_back(&s);
    if (at.size() < 2) return std::nullopt;
    std::sort(at.begin(), at.end(), [](const ModuleSymbol* a, const ModuleSymbol* b) { return a->name < b->name; });
    const ModuleSymbol* pick = at.back();
    if (pick->type != 'T' && at[at.size() - 2]->type == 'T') pick = at[at.size() - 2];
    return pick->name;
  }

  Kernel& k_;
  int radix_ = 10;
};

}  // namespace coroner::kernel
