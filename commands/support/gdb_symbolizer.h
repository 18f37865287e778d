// Whether gdb annotates an address in disassembly (a branch target, a %rip-relative operand)
// with `<symbol+offset>`. crash then replaces gdb's text between the brackets with its own
// symbol for the address, so only gdb's yes/no matters. gdb names an address after the DWARF
// function containing it, or else its minimal symbol: the closest preceding ELF symbol in the
// same section (sized ones preferred at one address), when its size covers the address;
// zero-sized data symbols name nothing. Addresses outside the vmlinux's allocated sections
// (per-CPU offsets, modules) get no name.
//
//   GdbSymbolizer g(kernel);
//   if (g.annotates(0xffffffff81234567)) text += " <" + crash_symbol(addr) + ">";
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace coroner::kernel {
class Kernel;
}

namespace coroner::commands::disasm {

class GdbSymbolizer {
 public:
  explicit GdbSymbolizer(kernel::Kernel& k);

  bool annotates(uint64_t runtime_addr);
  // The compilation directory of the unit holding a link-time address (DW_AT_comp_dir).
  std::optional<std::string> comp_dir(uint64_t link_addr);

 private:
  kernel::Kernel& k_;
};

}  // namespace coroner::commands::disasm
