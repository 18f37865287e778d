#include "commands/support/gdb_symbolizer.h"

#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>

#include <fmt/format.h>

#include "kernel/kernel.h"

namespace coroner::commands::disasm {

GdbSymbolizer::GdbSymbolizer(kernel::Kernel& k) : k_(k) {}

std::optional<std::string> GdbSymbolizer::comp_dir(uint64_t link_addr) {
  auto dw = k_.dwarf().dwarf();
  if (!dw) return std::nullopt;
  Dwarf_Die cu;
  if (!dwarf_addrdie(*dw, link_addr, &cu)) return std::nullopt;
  Dwarf_Attribute attr;
  const char* dir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr));
  if (!dir) return std::nullopt;
  return std::string(dir);
}

bool GdbSymbolizer::annotates(uint64_t runtime_addr) {
  const auto& st = k_.symbols();
  uint64_t link = runtime_addr - st.relocation();
  const symbols::Section* sec = nullptr;
  for (const auto& s : k_.vmlinux().sections())
    if ((s.flags & SHF_ALLOC) && s.addr != 0 && link >= s.addr && link - s.addr < s.size) sec = &s;
  if (!sec) return false;
  if (k_.dwarf().function_at(link)) return true;

  auto hit = st.lookup(runtime_addr);
  if (!hit) return false;
  // Candidates: the symbols at the closest preceding address in the section; a sized one
  // first, which must cover the address.
  const symbols::Symbol* first = st.all().data();
  const symbols::Symbol* zero_sized = nullptr;
  const symbols::Symbol* sized = nullptr;
  uint64_t at = hit->symbol->link_addr;
  if (at < sec->addr) return false;
  for (const symbols::Symbol* p = hit->symbol;; --p) {
    if (p->link_addr != at) break;
    if (p->relocatable && p->type != 'A' && p->type != 'a') {
      if (p->size == 0) {
        if (!zero_sized) zero_sized = p;
      } else if (!sized) {
        sized = p;
      }
    }
    if (p == first) break;
  }
  if (sized) return link - sized->link_addr < sized->size;
  return zero_sized && (zero_sized->type == 't' || zero_sized->type == 'T');
}

}  // namespace coroner::commands::disasm
