// libFuzzer target: the kdump-compressed reader on arbitrary bytes (no probe), then page
// reads (decompression of whatever the descriptors point at). Inputs whose first byte is
// odd are also opened as a two-piece split set (the input twice) to reach the split checks.
#include <memory>
#include <vector>

#include "dumpfmt/byte_source.h"
#include "dumpfmt/formats.h"
#include "fuzz/dumpfmt_fuzz_common.h"

using namespace coroner::dumpfmt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  auto dump = open_kdump(std::make_unique<MemorySource>("fuzz.kdump", bytes), "kdump");
  if (dump) fuzz::exercise(**dump);
  if (size && (data[0] & 1)) {
    std::vector<std::unique_ptr<ByteSource>> pieces;
    pieces.push_back(std::make_unique<MemorySource>("fuzz.1", bytes));
    pieces.push_back(std::make_unique<MemorySource>("fuzz.2", bytes.subspan(0, size / 2 + size / 4)));
    auto split = open_split_kdump(std::move(pieces));
    if (split) fuzz::exercise(**split);
  }
  return 0;
}
