// The makedumpfile "flattened" format (makedumpfile -F, and QEMU's kdump-zlib/lzo/snappy
// dump-guest-memory output), read in place without rewriting it.
//
// A flattened stream is a 4096-byte header (signature "makedumpfile", type 1, version 1,
// all integers big-endian) followed by records {int64 offset, int64 size, data[size]} and an
// end marker {-1, -1}. Each record says "these bytes go at this offset of the real dump
// file" (makedumpfile -R rebuilds it so). open_flattened_source() makes one pass over the
// record headers and builds a sorted index of pieces; the result is a ByteSource presenting
// the rebuilt (kdump or ELF) file, so the kdump and ELF readers work unchanged on it.
// Records may arrive in any order and later ones overwrite earlier ones; bytes no record
// wrote read as zeros (the rebuilt file would be sparse there).
//
//   auto raw = TRY(open_file_source("vmcore.flat"));
//   auto logical = TRY(open_flattened_source(std::move(raw)));
//   // logical->name() == "vmcore.flat (unflattened)"; offsets in errors are logical offsets
#pragma once

#include <memory>
#include <span>

#include "base/result.h"
#include "dumpfmt/byte_source.h"

namespace coroner::dumpfmt {

inline constexpr uint64_t kFlatHeaderSize = 4096;

// True when `head` starts with the flattened-format signature.
bool probe_flattened(std::span<const uint8_t> head);

// Indexes the stream in `raw` and returns the logical file it describes. A stream cut off
// before its end marker is accepted (ByteSource::damage() says where it stops); malformed
// record headers are errors naming the file offset.
Result<std::unique_ptr<ByteSource>> open_flattened_source(std::unique_ptr<ByteSource> raw);

}  // namespace coroner::dumpfmt
