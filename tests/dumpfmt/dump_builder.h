// Synthesizes small dump files for the dumpfmt tests and fuzz seeds: ELF vmcores, kdump-
// compressed files (every compression, header versions 1-6, excluded pages, the incomplete
// flag), makedumpfile --split sets and flattened streams of any of them.
//
//   KdumpSpec k;
//   k.pages[5] = pattern_page(5, 4096);          // pfn 5 dumped
//   k.excluded = {6};                            // pfn 6 RAM but filtered out
//   auto file = build_kdump(k);                  // bytes of a "KDUMP   " file
//   auto flat = flatten(file, 1000, /*shuffle=*/true);
//   auto dump = open_bytes({file});              // dumpfmt::open_dump_sources over memory
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "dumpfmt/dump.h"

namespace coroner::dumpfmt::testing {

using Bytes = std::vector<uint8_t>;

// A page whose bytes depend on pfn and offset, so misplaced pages are noticed.
Bytes pattern_page(uint64_t pfn, uint32_t page_size);
// A page that compresses well (a long run plus the pfn), so compressors really compress.
Bytes compressible_page(uint64_t pfn, uint32_t page_size);

// One ELF note, encoded (namesz, descsz, type, padded name and desc).
Bytes encode_note(const std::string& name, uint32_t type, const Bytes& desc);
// An elf_prstatus-sized (x86_64: 336 bytes) descriptor with pr_pid = pid.
Bytes fake_prstatus(uint32_t pid);

struct ElfSpec {
  struct Load {
    uint64_t paddr;
    Bytes data;          // p_filesz = data.size()
    uint64_t memsz = 0;  // 0: same as data.size()
    uint64_t vaddr = 0;
  };
  uint16_t machine = 62;  // EM_X86_64
  bool elf32 = false;
  bool big_endian = false;  // only the header says so; used to test the refusal
  uint64_t phoff = 64;      // program headers right after the ELF header (QEMU: 0x40 too)
  std::vector<Load> loads;
  Bytes notes;              // concatenated encode_note() results; one PT_NOTE when not empty
  std::string vmcoreinfo;   // appended as a VMCOREINFO note when not empty
};
Bytes build_elf(const ElfSpec& spec);

// Page compression flags of a page descriptor (makedumpfile diskdump_mod.h).
enum : uint32_t { kRaw = 0, kZlib = 0x1, kLzo = 0x2, kSnappy = 0x4, kZstd = 0x20 };

struct KdumpSpec {
  int header_version = 6;
  uint32_t block_size = 4096;  // == page size
  std::string machine = "x86_64";
  std::string release = "6.1.0-test";
  int64_t timestamp = 1700000000;
  uint64_t max_mapnr = 64;
  std::map<uint64_t, Bytes> pages;  // dumped pfns and their contents
  std::set<uint64_t> excluded;      // RAM pfns (1st bitmap) not dumped (2nd bitmap clear)
  uint32_t compression = kZlib;     // tried per page; falls back to raw when not smaller
  bool incomplete = false;          // DUMP_DH_COMPRESSED_INCOMPLETE in status
  int nr_cpus = 2;
  int dump_level = 31;
  std::string vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\n";
  Bytes notes;                      // notes block (version >= 4); fake prstatus x nr_cpus by default
  bool default_notes = true;
  // makedumpfile --split: this file holds pfns [start_pfn, end_pfn) only.
  bool split = false;
  uint64_t start_pfn = 0, end_pfn = 0;
};
Bytes build_kdump(const KdumpSpec& spec);
// The pieces of a `makedumpfile --split` set of `spec`'s pages, split into `n` pfn ranges.
std::vector<Bytes> build_split_kdump(const KdumpSpec& spec, int n);

// The flattened (makedumpfile -F) stream of `file`: records of at most `chunk` bytes, in
// file order or shuffled (deterministically); `overwrite` adds a garbage record for the first
// bytes that a later record overwrites with the right ones.
Bytes flatten(const Bytes& file, size_t chunk, bool shuffle = false, bool overwrite = false);

// Opens in-memory files through dumpfmt::open_dump_sources (names "mem0", "mem1", ...
// unless given).
Result<std::unique_ptr<Dump>> open_bytes(const std::vector<Bytes>& files, std::vector<std::string> names = {});

// Writes `data` to a new file under the test temp dir and returns its path.
std::string write_temp(const Bytes& data, const std::string& name);

}  // namespace coroner::dumpfmt::testing
