// The dump format readers behind open_dump() and their probe table (internal to dumpfmt).
//
// Each format has a probe that looks at the first bytes of a source (at most kProbeBytes)
// and answers "mine" or "not mine", and an opener that parses the rest. open_dump() tries
// the probes in kFormats order; flattened and kdump signatures come before ELF.
//
//   auto src = TRY(open_file_source("vmcore"));
//   auto dump = TRY(open_elf_dump(std::move(src), "ELF"));
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dumpfmt/byte_source.h"
#include "dumpfmt/dump.h"

namespace coroner::dumpfmt {

// Bytes a probe may look at.
inline constexpr size_t kProbeBytes = 64;

bool probe_flattened(std::span<const uint8_t> head);
bool probe_kdump(std::span<const uint8_t> head);
bool probe_elf(std::span<const uint8_t> head);

// `format` is the DumpInfo::format to report ("ELF", "flattened ELF", ...).
Result<std::unique_ptr<Dump>> open_elf_dump(std::unique_ptr<ByteSource> src, std::string format);
Result<std::unique_ptr<Dump>> open_kdump(std::unique_ptr<ByteSource> src, std::string format);
// Several kdump files written by `makedumpfile --split`, any order.
Result<std::unique_ptr<Dump>> open_split_kdump(std::vector<std::unique_ptr<ByteSource>> srcs);

// The fault errors every reader returns, worded like crash's.
Error not_in_dump(uint64_t paddr);
Error page_excluded(uint64_t paddr);
Error dump_truncated(uint64_t paddr, uint64_t file_off, std::string_view file);

// Sorts and merges touching/overlapping ranges in place.
void merge_ranges(std::vector<PhysRange>& ranges);
// "0x1000" style, for header_fields.
std::string hex(uint64_t v);
// "CORE/NT_PRSTATUS x4, VMCOREINFO, QEMU/0 x4" for header_fields.
std::string summarize_notes(const DumpInfo& info);

}  // namespace coroner::dumpfmt
