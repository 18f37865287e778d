// Names and strings for printing values from a dump: pointers into the kernel image print
// as <symbol+offset>, char pointers as the string they point to (gdb's conventions).
//
//   KernelValueContext ctx(kernel);
//   std::string text = TRY(kernel.types().format_value(type, bytes, ctx));
#pragma once

#include <elf.h>

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
    return gdb_symbol(addr);
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

  // nm's letter class of a symbol's section: text, read-only, data, bss (0: other).
  static char section_class(char type) {
    switch (type) {
      case 'T': case 't': case 'W': case 'w': return 't';
      case 'R': case 'r': return 'r';
      case 'D': case 'd': case 'V': case 'v': return 'd';
      case 'B': case 'b': return 'b';
      default: return 0;
    }
  }
  static char section_class(const symbols::Section& s) {
    if (s.flags & SHF_EXECINSTR) return 't';
    if (s.type == SHT_NOBITS) return 'b';
    if (!(s.flags & SHF_WRITE)) return 'r';
    return 'd';
  }

  // The name gdb gives a kernel-image address in a printed value (printcmd.c,
  // build_address_symbolic): the DWARF function containing it (find_pc_function), named from
  // its entry, unless there is none, or the minimal symbol below starts exactly at the address
  // while the function does not (the start of foo.cold inside foo's ranges). So an address in
  // a clone is named after the function cloned: <NF_HOOK+170> in NF_HOOK.constprop.0.
  std::optional<std::string> gdb_symbol(uint64_t addr) {
    uint64_t link = addr - k_.symbols().relocation();
    auto msym = gdb_minimal_symbol(addr);
    // Only an address in an allocated section gets a name (find_pc_section): the minimal
    // symbol search checks that first.
    if (!msym && !in_allocated_section(link)) return std::nullopt;
    auto fn = k_.dwarf().function_at(link);
    if (fn && !(msym && msym->first->link_addr == link && fn->entry != link)) {
      if (link == fn->entry) return fn->name;
      int64_t off = static_cast<int64_t>(link - fn->entry);
      return fmt::format("{}{:+d}", fn->name, off);
    }
    if (!msym) return std::nullopt;
    if (msym->second) return fmt::format("{}+{}", msym->first->name, msym->second);
    return std::string(msym->first->name);
  }

  bool in_allocated_section(uint64_t link) {
    for (const auto& s : k_.vmlinux().sections())
      if ((s.flags & SHF_ALLOC) && s.addr != 0 && link >= s.addr && link - s.addr < s.size) return true;
    return false;
  }

  // The minimal symbol gdb picks for a kernel-image address, and the offset into it
  // (minsyms.c, lookup_minimal_symbol_by_pc_section):
  // - the address must lie in an allocated section (find_pc_section); the per-CPU section
  //   (linked at 0) names nothing, as crash's gdb shows;
  // - gdb's minimal symbols are sorted by address, then by name; from the last one at or
  //   below the address it walks back over absolute symbols and symbols of other sections
  //   (by st_shndx: _etext, at .rodata's start, belongs to .text),
  //   remembering the first zero-sized one, and stops at the first sized one; a local text
  //   symbol gives way to a global one just before it at the same address with the same size;
  // - that sized symbol names the address only when its size covers it (`entry_SYSCALL_64+56`
  //   for the zero-sized label entry_SYSCALL_64_after_hwframe inside it); otherwise the first
  //   zero-sized symbol met does, and a zero-sized one names nothing unless it is text (a
  //   linker label such as init_stack leaves a data pointer bare).
  // crash's own `sym` lookup (the closest symbol) is not used here: gdb prints these values.
  std::optional<std::pair<const symbols::Symbol*, uint64_t>> gdb_minimal_symbol(uint64_t addr) {
    const auto& st = k_.symbols();
    uint64_t link = addr - st.relocation();
    const symbols::Section* sec = nullptr;
    uint32_t sec_index = 0;
    const auto& sections = k_.vmlinux().sections();
    for (size_t i = 0; i < sections.size(); ++i) {
      const auto& s = sections[i];
      if ((s.flags & SHF_ALLOC) && s.addr != 0 && link >= s.addr && link - s.addr < s.size) {
        sec = &s;
        sec_index = static_cast<uint32_t>(i);
      }
    }
    if (!sec) return std::nullopt;
    char cls = section_class(*sec);
    // gdb keeps the symbols of this section only: by the symbol's own section index where
    // the vmlinux gave one, else by the section class its nm letter implies.
    auto same_section = [&](const symbols::Symbol* s) {
      return s->section != symbols::Symbol::kNoSection ? s->section == sec_index : section_class(s->type) == cls;
    };
    const auto& all = st.all();
    auto it = std::upper_bound(all.begin(), all.end(), link,
                               [](uint64_t a, const symbols::Symbol& s) { return a < s.link_addr; });
    size_t hi = static_cast<size_t>(it - all.begin());
    const symbols::Symbol* zero_sized = nullptr;
    const symbols::Symbol* sized = nullptr;
    std::vector<const symbols::Symbol*> group;
    // Symbols below the section's start belong to other sections: the walk ends there.
    while (hi > 0 && !sized && all[hi - 1].link_addr >= sec->addr) {
      size_t lo = hi - 1;
      while (lo > 0 && all[lo - 1].link_addr == all[hi - 1].link_addr) --lo;
      group.clear();
      for (size_t i = lo; i < hi; ++i) group.push_back(&all[i]);
      std::sort(group.begin(), group.end(), [](const symbols::Symbol* a, const symbols::Symbol* b) { return a->name < b->name; });
      for (size_t i = group.size(); i-- > 0;) {
        const symbols::Symbol* s = group[i];
        // Absolute symbols, and labels at this section's start that end the one before it
        // (_etext at .rodata's start is .text's).
        if (!s->relocatable || !same_section(s)) continue;
        auto global_text = [](const symbols::Symbol* x) { return x->type == 'T' || x->type == 'W'; };
        if (i > 0 && !global_text(s) && global_text(group[i - 1]) && group[i - 1]->size == s->size) continue;
        if (s->size == 0) {
          if (!zero_sized) zero_sized = s;
          continue;
        }
        sized = s;
        break;
      }
      hi = lo;
    }
    const symbols::Symbol* pick = sized && link - sized->link_addr < sized->size ? sized : zero_sized;
    if (!pick || (pick->size == 0 && section_class(pick->type) != 't')) return std::nullopt;
    return std::make_pair(pick, link - pick->link_addr);
  }

  Kernel& k_;
  int radix_ = 10;
};

}  // namespace coroner::kernel
