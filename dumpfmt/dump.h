// dumpfmt: physical memory and metadata of a kernel crash dump, whatever its file format.
//
// Every format implements one hook, read_upto(): "read up to N bytes at this physical
// address". Exact reads are written once on top. A Dump knows nothing of symbols or page
// tables; virtual memory is the arch layer's job.
//
//   auto dump = TRY(dumpfmt::open_dump({"vmcore"}));
//   std::string_view vmcoreinfo = dump->info().vmcoreinfo;
//   uint8_t page[4096];
//   TRY(dump->read(0x1000, page));   // Errc::fault naming the address if not in the dump
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace coroner::dumpfmt {

// One ELF-style note found in the dump (PT_NOTE of an ELF vmcore, or the notes block of a
// kdump sub-header). Names are without the trailing NUL ("CORE", "VMCOREINFO", "QEMU").
struct Note {
  std::string name;
  uint32_t type = 0;
  std::vector<uint8_t> desc;
};

// Registers of one CPU at the time of the dump, as found in the file. `raw` is the note's
// descriptor: an elf_prstatus for NT_PRSTATUS, QEMU's QEMUCPUState for "QEMU" notes.
struct CpuNote {
  enum class Kind { prstatus, qemu_cpu_state };
  Kind kind;
  int index;  // order of appearance among notes of this kind (== CPU number for kdump/QEMU)
  std::vector<uint8_t> raw;
};

struct PhysRange {
  uint64_t start;  // inclusive
  uint64_t end;    // exclusive
};

struct DumpInfo {
  std::string format;              // "ELF", "kdump", "flattened kdump", "split kdump", ...
  std::vector<std::string> paths;  // as given on the command line
  uint16_t machine = 0;            // ELF e_machine of the dumped system (EM_X86_64, EM_AARCH64), 0 if unknown
  bool big_endian = false;
  uint32_t page_size = 4096;
  std::string vmcoreinfo;          // the VMCOREINFO note text, empty when the dump has none
  std::vector<Note> notes;
  std::vector<CpuNote> cpus;       // NT_PRSTATUS notes, and QEMU CPU-state notes
  std::vector<PhysRange> ranges;   // physical ranges the file describes (sorted, merged)
  std::optional<int64_t> timestamp;  // seconds since the epoch, when the header records one
  std::optional<uint64_t> phys_base;  // kdump sub-header phys_base (x86_64 kernel relocation)
  uint32_t nr_cpus = 0;            // from the header when it records it, else number of CPU notes
  bool incomplete = false;         // kdump "incomplete dump" flag, or ELF shorter than its headers say
  std::optional<uint32_t> dump_level;  // makedumpfile's -d level (kdump formats); > 0 means pages were left out
  // Ordered key/value pairs describing the header, for `help -D`.
  std::vector<std::pair<std::string, std::string>> header_fields;
};

// A Dump is not thread-safe: readers keep caches (decompressed pages, the last segment).
class Dump {
 public:
  virtual ~Dump() = default;
  const DumpInfo& info() const { return info_; }

  // Reads up to out.size() bytes at physical address `paddr`. Returns the number of bytes
  // read (> 0), stopping early only where the dump's contents stop (end of a range, an
  // excluded page). Fails with Errc::fault (address set) when the byte at `paddr` itself is
  // unavailable; the message says why: "page excluded: ...", "not in dump", "dump truncated".
  virtual Result<size_t> read_upto(uint64_t paddr, std::span<uint8_t> out) = 0;

  // Reads exactly out.size() bytes or fails naming the first unreadable address.
  Result<void> read(uint64_t paddr, std::span<uint8_t> out);

 protected:
  DumpInfo info_;
};

class ByteSource;  // dumpfmt/byte_source.h

// Opens one dump (or the pieces of a split dump, in any order), detecting the format from
// the files' contents through one ordered probe table. When nothing matches, the error
// lists the formats tried.
enum class FileAccess;  // dumpfmt/byte_source.h: mapped (default) or pread
Result<std::unique_ptr<Dump>> open_dump(const std::vector<std::string>& paths);
Result<std::unique_ptr<Dump>> open_dump(const std::vector<std::string>& paths, FileAccess access);

// The same over sources the caller made (in-memory data in tests and fuzzers, a file it
// already mapped). DumpInfo::paths holds the sources' names.
Result<std::unique_ptr<Dump>> open_dump_sources(std::vector<std::unique_ptr<ByteSource>> sources);

// Parses VMCOREINFO text ("KEY=VALUE\n" lines) into a lookup table.
class VmcoreInfo {
 public:
  explicit VmcoreInfo(std::string_view text);
  std::optional<std::string_view> get(std::string_view key) const;
  std::optional<uint64_t> number(std::string_view key, int base = 10) const;   // decimal by default; "0x..." is hex
  std::optional<uint64_t> symbol(std::string_view name) const;       // SYMBOL(name)=hex
  std::optional<uint64_t> offset(std::string_view type_member) const;  // OFFSET(t.m)=dec
  std::optional<uint64_t> size(std::string_view type) const;         // SIZE(t)=dec
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<std::pair<std::string_view, std::string_view>> entries_;
};

}  // namespace coroner::dumpfmt
