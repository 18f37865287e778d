// libFuzzer target: the flattened-format index (records in any order, overlapping,
// truncated) and, through open_dump_sources, whatever dump the stream rebuilds.
#include <memory>
#include <vector>

#include "dumpfmt/byte_source.h"
#include "dumpfmt/flattened.h"
#include "fuzz/dumpfmt_fuzz_common.h"

using namespace coroner::dumpfmt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  auto logical = open_flattened_source(std::make_unique<MemorySource>("fuzz.flat", bytes));
  if (logical) {
    // Reads at piece boundaries and across holes of the rebuilt file.
    std::vector<uint8_t> buf(9000);
    const ByteSource& s = **logical;
    for (uint64_t off : {uint64_t{0}, uint64_t{1}, uint64_t{4095}, uint64_t{4096}, s.size() / 2, s.size() - 1, s.size()}) {
      (void)s.read_upto(off, buf);
      (void)s.contiguous(off, 24);
    }
  }
  std::vector<std::unique_ptr<ByteSource>> srcs;
  srcs.push_back(std::make_unique<MemorySource>("fuzz.flat", bytes));
  auto dump = open_dump_sources(std::move(srcs));
  if (dump) fuzz::exercise(**dump);
  return 0;
}
