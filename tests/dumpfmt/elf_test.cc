#include <gtest/gtest.h>

#include "dumpfmt/dump.h"
#include "tests/dumpfmt/dump_builder.h"

using namespace coroner;
using namespace coroner::dumpfmt;
using namespace coroner::dumpfmt::testing;

namespace {

ElfSpec two_segments() {
  ElfSpec s;
  s.loads.push_back({0x1000, pattern_page(1, 8192)});
  s.loads.push_back({0x10000, pattern_page(16, 4096)});
  s.notes = encode_note("CORE", 1, fake_prstatus(1));
  auto n2 = encode_note("CORE", 1, fake_prstatus(2));
  s.notes.insert(s.notes.end(), n2.begin(), n2.end());
  s.vmcoreinfo = "OSRELEASE=6.1.0\nPAGESIZE=4096\n";
  return s;
}

Bytes read_bytes(Dump& d, uint64_t paddr, size_t n) {
  Bytes out(n);
  auto r = d.read(paddr, out);
  EXPECT_TRUE(r) << r.error().message;
  return out;
}

}  // namespace

TEST(ElfDump, ReadsPhysicalMemoryThroughPtLoad) {
  auto dump = open_bytes({build_elf(two_segments())});
  ASSERT_TRUE(dump) << dump.error().message;
  Dump& d = **dump;
  EXPECT_EQ(d.info().format, "ELF");
  EXPECT_EQ(d.info().machine, 62);
  Bytes whole = pattern_page(1, 8192);
  EXPECT_EQ(read_bytes(d, 0x1000, 8192), whole);
  EXPECT_EQ(read_bytes(d, 0x1ff8, 16), Bytes(whole.begin() + 0xff8, whole.begin() + 0x1008));
  ASSERT_EQ(d.info().ranges.size(), 2u);
  EXPECT_EQ(d.info().ranges[0].start, 0x1000u);
  EXPECT_EQ(d.info().ranges[0].end, 0x3000u);
  EXPECT_EQ(d.info().ranges[1].start, 0x10000u);
}

TEST(ElfDump, ReadUptoStopsAtTheEndOfASegment) {
  auto dump = open_bytes({build_elf(two_segments())});
  ASSERT_TRUE(dump);
  Bytes buf(0x100);
  auto n = (*dump)->read_upto(0x2f80, buf);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0x80u);
}

TEST(ElfDump, AddressOutsideEverySegmentIsNotInDump) {
  auto dump = open_bytes({build_elf(two_segments())});
  ASSERT_TRUE(dump);
  Bytes buf(8);
  auto r = (*dump)->read(0x5000, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::fault);
  EXPECT_EQ(r.error().address, 0x5000u);
  EXPECT_EQ(r.error().message, "not in dump: physical address 0x5000");
  // A read running off the end of memory fails at the first missing byte.
  r = (*dump)->read(0x10ffc, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().address, 0x11000u);
}

TEST(ElfDump, BytesBeyondFileSizeUpToMemSizeReadAsZeros) {
  ElfSpec s;
  s.loads.push_back({0x0, pattern_page(0, 4096), 0x3000});
  auto dump = open_bytes({build_elf(s)});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_EQ(read_bytes(**dump, 0x1000, 0x2000), Bytes(0x2000, 0));
  EXPECT_EQ(read_bytes(**dump, 0xff0, 0x20)[0x10], 0);
  EXPECT_EQ((*dump)->info().ranges[0].end, 0x3000u);
}

TEST(ElfDump, NotesAreCollectedAndCpusCounted) {
  ElfSpec s = two_segments();
  Bytes qemu(0x1b0, 0x11);
  for (int i = 0; i < 2; ++i) {
    auto n = encode_note("QEMU", 0, qemu);
    s.notes.insert(s.notes.end(), n.begin(), n.end());
  }
  auto dump = open_bytes({build_elf(s)});
  ASSERT_TRUE(dump) << dump.error().message;
  const DumpInfo& info = (*dump)->info();
  EXPECT_EQ(info.notes.size(), 5u);
  ASSERT_EQ(info.cpus.size(), 4u);
  EXPECT_EQ(info.cpus[0].kind, CpuNote::Kind::prstatus);
  EXPECT_EQ(info.cpus[1].index, 1);
  EXPECT_EQ(info.cpus[2].kind, CpuNote::Kind::qemu_cpu_state);
  EXPECT_EQ(info.cpus[3].index, 1);
  EXPECT_EQ(info.cpus[3].raw, qemu);
  EXPECT_EQ(info.nr_cpus, 2u);
  EXPECT_EQ(info.vmcoreinfo, "OSRELEASE=6.1.0\nPAGESIZE=4096\n");
  EXPECT_FALSE(info.incomplete);
  bool saw_notes = false;
  for (auto& [k, v] : info.header_fields)
    if (k == "notes") {
      saw_notes = true;
      EXPECT_EQ(v, "CORE/NT_PRSTATUS x2, QEMU/0 x2, VMCOREINFO/0");
    }
  EXPECT_TRUE(saw_notes);
}

TEST(ElfDump, QemuStyleHeadersWithZeroVaddrAndLaterPhoff) {
  ElfSpec s = two_segments();
  s.phoff = 0xc0;
  auto dump = open_bytes({build_elf(s)});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_EQ(read_bytes(**dump, 0x10000, 4096), pattern_page(16, 4096));
}

TEST(ElfDump, Elf32IsRead) {
  ElfSpec s = two_segments();
  s.elf32 = true;
  s.machine = 3;
  auto dump = open_bytes({build_elf(s)});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_EQ(read_bytes(**dump, 0x1000, 8192), pattern_page(1, 8192));
  EXPECT_EQ((*dump)->info().cpus.size(), 2u);
}

TEST(ElfDump, TruncatedFileMarksIncompleteAndFailsReadsPastTheEnd) {
  Bytes file = build_elf(two_segments());
  file.resize(file.size() - 0x800);  // cuts the last segment (0x10000..0x11000) in half
  auto dump = open_bytes({file}, {"vmcore"});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_TRUE((*dump)->info().incomplete);
  Bytes page = pattern_page(16, 4096);
  EXPECT_EQ(read_bytes(**dump, 0x10000, 0x800), Bytes(page.begin(), page.begin() + 0x800));
  Bytes buf(16);
  auto r = (*dump)->read(0x10800, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::fault);
  EXPECT_EQ(r.error().message, fmt::format("dump truncated: physical address 0x10800 at file offset {:#x} of vmcore", file.size()));
  // A read straddling the cut returns the bytes before it, then fails.
  auto n = (*dump)->read_upto(0x107f0, buf);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 16u);
}

TEST(ElfDump, BigEndianIsRefusedClearly) {
  ElfSpec s = two_segments();
  s.big_endian = true;
  auto dump = open_bytes({build_elf(s)}, {"be.core"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, Errc::unsupported);
  EXPECT_EQ(dump.error().message, "be.core: ELF header at 0x0: big-endian ELF (EI_DATA 2) is not supported");
}

TEST(ElfDump, PartiallyOverlappingSegmentsAreRejected) {
  ElfSpec s;
  s.loads.push_back({0x1000, pattern_page(1, 8192)});
  s.loads.push_back({0x2000, pattern_page(2, 8192)});
  auto dump = open_bytes({build_elf(s)}, {"vmcore"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message,
            "vmcore: program header 1 at 0x78: PT_LOAD [0x2000, 0x4000) overlaps program header 0 [0x1000, 0x3000)");
}

TEST(ElfDump, SegmentInsideAnotherIsASecondViewAndIgnored) {
  ElfSpec s;
  Bytes big = pattern_page(1, 0x4000);
  s.loads.push_back({0x1000, big});
  // kexec-tools' kernel-text segment: same physical memory, another virtual address.
  s.loads.push_back({0x2000, Bytes(big.begin() + 0x1000, big.begin() + 0x2000), 0, 0xffffffff81000000});
  auto dump = open_bytes({build_elf(s)});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_EQ(read_bytes(**dump, 0x1000, 0x4000), big);
  EXPECT_EQ((*dump)->info().ranges.size(), 1u);
}

TEST(ElfDump, ProgramHeaderTablePastTheEndIsAnError) {
  Bytes file = build_elf(two_segments());
  file[56] = 0xff;  // e_phnum = 255
  file[57] = 0x00;
  auto dump = open_bytes({file}, {"vmcore"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, Errc::bad_data);
  EXPECT_EQ(dump.error().message,
            fmt::format("vmcore: ELF header at 0x0: program header table at 0x40 (255 entries of 0x38 bytes) exceeds file size {:#x}",
                        file.size()));
}

TEST(ElfDump, NoteRunningPastItsSegmentIsAnError) {
  ElfSpec s;
  s.loads.push_back({0x1000, pattern_page(1, 4096)});
  s.notes = encode_note("CORE", 1, fake_prstatus(1));
  Bytes file = build_elf(s);
  // descsz of the first note (PT_NOTE data starts after 2 phdrs at 0x40, aligned to 16).
  size_t note = 0x40 + 2 * 56;
  file[note + 4] = 0xff;
  file[note + 5] = 0xff;
  auto dump = open_bytes({file}, {"vmcore"});
  ASSERT_FALSE(dump);
  EXPECT_NE(dump.error().message.find("vmcore: PT_NOTE segment at 0xb0: note at 0xb0 (namesz 0x5, descsz 0xffff) extends past the end"),
            std::string::npos)
      << dump.error().message;
}

TEST(OpenDump, NothingMatchedListsWhatWasTriedAndNamesTheFile) {
  Bytes junk(100, 'x');
  auto dump = open_bytes({junk}, {"notadump"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, Errc::unsupported);
  EXPECT_EQ(dump.error().message,
            "notadump: not a recognized dump format (tried flattened makedumpfile, kdump-compressed, ELF vmcore); "
            "file size 0x64, first bytes: 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78");
  auto empty = open_bytes({Bytes{}}, {"empty"});
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("empty: not a recognized dump format"), std::string::npos);
}

TEST(OpenDump, OpensFilesByPathAndReportsMissingOnes) {
  std::string path = write_temp(build_elf(two_segments()), "vmcore.elf");
  auto dump = open_dump({path});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_EQ((*dump)->info().paths, std::vector<std::string>{path});
  auto missing = open_dump({path + ".nope"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::os);
  EXPECT_NE(missing.error().message.find(path + ".nope"), std::string::npos);
}

TEST(VmcoreInfoText, LooksUpKeys) {
  VmcoreInfo vi("OSRELEASE=6.1.0\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a13e40\nOFFSET(list_head.next)=0\n");
  EXPECT_EQ(*vi.get("OSRELEASE"), "6.1.0");
  EXPECT_EQ(*vi.number("PAGESIZE"), 4096u);
  EXPECT_EQ(*vi.symbol("init_uts_ns"), 0xffffffff82a13e40u);
  EXPECT_EQ(*vi.offset("list_head.next"), 0u);
}
