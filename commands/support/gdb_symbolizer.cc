#include "commands/support/gdb_symbolizer.h"

#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "kernel/kernel.h"

namespace coroner::commands::disasm {

GdbSymbolizer::GdbSymbolizer(kernel::Kernel& k) : k_(k) {}

GdbSymbolizer::~GdbSymbolizer() {
  if (dwarf_) dwarf_end(static_cast<Dwarf*>(dwarf_));
  if (fd_ >= 0) close(fd_);
}

void* GdbSymbolizer::open_dwarf() {
  if (!tried_) {
    tried_ = true;
    if (k_.vmlinux().has_dwarf()) {
      fd_ = open(k_.vmlinux().path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ >= 0) dwarf_ = dwarf_begin(fd_, DWARF_C_READ);
    }
  }
  return dwarf_;
}

std::optional<std::string> GdbSymbolizer::comp_dir(uint64_t link_addr) {
  if (!open_dwarf()) return std::nullopt;
  Dwarf_Die cu;
  if (!dwarf_addrdie(static_cast<Dwarf*>(dwarf_), link_addr, &cu)) return std::nullopt;
  Dwarf_Attribute attr;
  const char* dir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr));
  if (!dir) return std::nullopt;
  return std::string(dir);
}

bool GdbSymbolizer::in_dwarf_function(uint64_t link_addr) {
  if (!open_dwarf()) return false;
  Dwarf_Die cu;
  if (!dwarf_addrdie(static_cast<Dwarf*>(dwarf_), link_addr, &cu)) return false;
  Dwarf_Die die;
  if (dwarf_child(&cu, &die) != 0) return false;
  // C has no nested functions: the CU's direct subprogram children are every function; libdw
  // ends the sibling walk at the end of the CU.
  do {
    if (dwarf_tag(&die) == DW_TAG_subprogram && dwarf_haspc(&die, link_addr) > 0) return true;
  } while (dwarf_siblingof(&die, &die) == 0);
  return false;
}

bool GdbSymbolizer::annotates(uint64_t runtime_addr) {
  const auto& st = k_.symbols();
  uint64_t link = runtime_addr - st.relocation();
  const symbols::Section* sec = nullptr;
  for (const auto& s : k_.vmlinux().sections())
    if ((s.flags & SHF_ALLOC) && s.addr != 0 && link >= s.addr && link - s.addr < s.size) sec = &s;
  if (!sec) return false;
  if (in_dwarf_function(link)) return true;

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
