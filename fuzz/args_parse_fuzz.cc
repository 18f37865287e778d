// The number and list syntaxes of command arguments: hexadecimal addresses (rd, vtop, ptov,
// kmem...) and crash's CPU lists (ps -C, bt -c, p VAR:CPU, ptov): any text, any CPU count.
#include <cstdint>
#include <string_view>

#include "commands/support/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  (void)coroner::commands::parse_hex(text);
  // CPU counts up to 8160 (NR_CPUS is at most 8192; the count comes from the dump's CPUs).
  (void)coroner::commands::parse_cpu_ranges(text, data[0] * 32);
  return 0;
}
