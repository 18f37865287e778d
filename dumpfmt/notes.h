// ELF note parsing shared by the ELF and kdump readers.
//
// Both formats carry the crashed kernel's notes in the ELF note layout (namesz, descsz,
// type, name and desc each padded to 4 bytes): an ELF vmcore in its PT_NOTE segments, a
// kdump file in the block the sub-header's offset_note/size_note point at (header version
// 4 and later, makedumpfile 1.3.x). parse_notes() appends every note to info.notes and
// files the ones coroner knows:
//   "CORE"/NT_PRSTATUS (1)  -> info.cpus as prstatus (QEMU sets pr_pid = vCPU index + 1)
//   "QEMU"/0 (QEMUCPUState) -> info.cpus as qemu_cpu_state
//   "VMCOREINFO"            -> info.vmcoreinfo (text, trailing NULs removed)
//
//   ByteView notes = TRY(src.view(off, size, "PT_NOTE segment", scratch));
//   TRY(parse_notes(notes, "PT_NOTE segment", info));
#pragma once

#include <cstdint>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "dumpfmt/dump.h"

namespace coroner::dumpfmt {

// Total bytes of notes accepted from one dump; more is treated as corrupt.
inline constexpr uint64_t kMaxNotesBytes = 64ull << 20;
// Notes kept per dump (a 8192-CPU machine has 8192 prstatus notes plus a few others).
inline constexpr size_t kMaxNotes = 65536;

// Parses every note in `notes` (whose base() is the file offset, for messages). `what`
// names the region ("PT_NOTE segment", "kdump notes"). Stops at an all-zero note header
// (the kernel's terminating empty note).
Result<void> parse_notes(ByteView notes, std::string_view what, DumpInfo& info);

// Fills info.nr_cpus from the CPU notes when the header did not record it.
void count_cpu_notes(DumpInfo& info);

// "x86_64" -> EM_X86_64 (62), "aarch64" -> EM_AARCH64 (183), ...; 0 when unknown.
uint16_t machine_from_uts(std::string_view uts_machine);
// EM_* -> "x86_64", "aarch64", ...; "EM_<n>" when unknown.
std::string machine_name(uint16_t e_machine);

}  // namespace coroner::dumpfmt
