// The one switch on e_machine that picks an architecture's table of hooks.
#include <elf.h>

#include "arch/arch.h"

namespace coroner::arch {

Result<std::unique_ptr<Arch>> make_x86_64(dumpfmt::Dump& dump, const KernelFacts& facts);  // x86_64.cc
Result<std::unique_ptr<Arch>> make_arm64(dumpfmt::Dump& dump, const KernelFacts& facts);   // arm64.cc

Result<std::unique_ptr<Arch>> make_arch(uint16_t machine, dumpfmt::Dump& dump, const KernelFacts& facts) {
  switch (machine) {
    case EM_X86_64: return make_x86_64(dump, facts);
    case EM_AARCH64: return make_arm64(dump, facts);
    default: return Error::make(Errc::unsupported, "architecture with ELF machine {} is not supported yet", machine);
  }
}

}  // namespace coroner::arch
