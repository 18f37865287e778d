// VMCOREINFO text as found in a dump's note: any bytes must parse without crashing.
#include <cstdint>
#include <string_view>

#include "dumpfmt/dump.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  coroner::dumpfmt::VmcoreInfo vi(text);
  (void)vi.get("OSRELEASE");
  (void)vi.number("KERNELOFFSET", 16);
  (void)vi.number("NUMBER(phys_base)");
  (void)vi.symbol("init_uts_ns");
  (void)vi.offset("list_head.next");
  (void)vi.size("page");
  return 0;
}
