// libFuzzer target: the ELF vmcore reader on arbitrary bytes (no probe, so mutations of
// the magic are not wasted), then page reads over whatever it accepted.
#include <memory>

#include "dumpfmt/byte_source.h"
#include "dumpfmt/formats.h"
#include "fuzz/dumpfmt_fuzz_common.h"

using namespace coroner::dumpfmt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto src = std::make_unique<MemorySource>("fuzz.elf", std::span<const uint8_t>(data, size));
  auto dump = open_elf_dump(std::move(src), "ELF");
  if (dump) fuzz::exercise(**dump);
  return 0;
}
