#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "dumpfmt/dump.h"
#include "tests/dumpfmt/dump_builder.h"

using namespace coroner;
using namespace coroner::dumpfmt;
using namespace coroner::dumpfmt::testing;

namespace {

constexpr uint32_t kPage = 4096;

// pfns 1-10 dumped (odd ones random, even ones compressible), 13-14 zero pages (sharing
// one data block), 11-12 excluded, the rest not RAM.
KdumpSpec sample_spec(uint32_t compression = kZlib) {
  KdumpSpec s;
  s.compression = compression;
  for (uint64_t pfn = 1; pfn <= 10; ++pfn) s.pages[pfn] = pfn % 2 ? pattern_page(pfn, kPage) : compressible_page(pfn, kPage);
  s.pages[13] = Bytes(kPage, 0);
  s.pages[14] = Bytes(kPage, 0);
  s.excluded = {11, 12};
  return s;
}

Bytes page_of(Dump& d, uint64_t pfn, uint32_t page_size = kPage) {
  Bytes out(page_size);
  auto r = d.read(pfn * page_size, out);
  EXPECT_TRUE(r) << r.error().message;
  return out;
}

std::string field(const DumpInfo& info, const std::string& key) {
  for (auto& [k, v] : info.header_fields)
    if (k == key) return v;
  return "<missing " + key + ">";
}

template <typename T>
void poke(Bytes& b, size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof v);
}
template <typename T>
T peek(const Bytes& b, size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}
// File offset of the page descriptor table of a built kdump file.
uint64_t desc_table(const Bytes& f) {
  uint32_t bs = peek<uint32_t>(f, 428);
  return uint64_t{bs} * (1 + peek<uint32_t>(f, 432) + peek<uint32_t>(f, 436));
}

void expect_sample_pages(Dump& d, const KdumpSpec& s) {
  for (auto& [pfn, data] : s.pages) EXPECT_EQ(page_of(d, pfn, s.block_size), data) << "pfn " << pfn;
}

}  // namespace

class KdumpCompression : public ::testing::TestWithParam<uint32_t> {};

TEST_P(KdumpCompression, PagesReadBackAndTheCompressionIsReported) {
  KdumpSpec s = sample_spec(GetParam());
  auto dump = open_bytes({build_kdump(s)});
  ASSERT_TRUE(dump) << dump.error().message;
  expect_sample_pages(**dump, s);
  const char* name = GetParam() == kZlib ? "zlib" : GetParam() == kLzo ? "lzo" : GetParam() == kSnappy ? "snappy"
                   : GetParam() == kZstd ? "zstd" : "raw";
  std::string comp = field((*dump)->info(), "compression");
  EXPECT_NE(comp.find(name), std::string::npos) << comp;
  // Hot page read again (from the cache) is still right.
  EXPECT_EQ(page_of(**dump, 2), s.pages[2]);
}

INSTANTIATE_TEST_SUITE_P(All, KdumpCompression, ::testing::Values(kRaw, kZlib, kLzo, kSnappy, kZstd),
                         [](const auto& p) {
                           switch (p.param) {
                             case kZlib: return std::string("zlib");
                             case kLzo: return std::string("lzo");
                             case kSnappy: return std::string("snappy");
                             case kZstd: return std::string("zstd");
                             default: return std::string("raw");
                           }
                         });

class KdumpHeaderVersion : public ::testing::TestWithParam<int> {};

TEST_P(KdumpHeaderVersion, EveryVersionReads) {
  KdumpSpec s = sample_spec();
  s.header_version = GetParam();
  auto dump = open_bytes({build_kdump(s)});
  ASSERT_TRUE(dump) << dump.error().message;
  expect_sample_pages(**dump, s);
  const DumpInfo& info = (*dump)->info();
  EXPECT_EQ(info.vmcoreinfo.empty(), GetParam() < 3);
  EXPECT_EQ(info.cpus.size(), GetParam() < 4 ? 0u : 2u);
  EXPECT_EQ(info.nr_cpus, 2u);  // from the header in every version
  EXPECT_EQ(field(info, "header version"), std::to_string(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(All, KdumpHeaderVersion, ::testing::Values(1, 2, 3, 4, 5, 6));

TEST(Kdump, InfoComesFromTheHeaders) {
  KdumpSpec s = sample_spec();
  s.timestamp = 1712345678;
  auto dump = open_bytes({build_kdump(s)}, {"vmcore.kdump"});
  ASSERT_TRUE(dump) << dump.error().message;
  const DumpInfo& info = (*dump)->info();
  EXPECT_EQ(info.format, "kdump");
  EXPECT_EQ(info.machine, 62);
  EXPECT_EQ(info.page_size, kPage);
  EXPECT_EQ(info.timestamp, 1712345678);
  EXPECT_EQ(info.phys_base, 0x1000000u);
  EXPECT_EQ(info.nr_cpus, 2u);
  ASSERT_EQ(info.cpus.size(), 2u);
  EXPECT_EQ(info.cpus[1].kind, CpuNote::Kind::prstatus);
  EXPECT_EQ(info.cpus[1].index, 1);
  EXPECT_EQ(info.vmcoreinfo, "OSRELEASE=6.1.0-test\nPAGESIZE=4096\n");
  EXPECT_FALSE(info.incomplete);
  // RAM ranges from the 1st bitmap: pfns 1-14.
  ASSERT_EQ(info.ranges.size(), 1u);
  EXPECT_EQ(info.ranges[0].start, 1 * kPage);
  EXPECT_EQ(info.ranges[0].end, 15 * kPage);
  EXPECT_EQ(field(info, "release"), "6.1.0-test");
  EXPECT_EQ(field(info, "max_mapnr"), "64 (0x40)");
  EXPECT_EQ(field(info, "dumped pages"), "12");
  EXPECT_EQ(field(info, "RAM pages"), "14");
  EXPECT_EQ(field(info, "dump level"), "31");
  EXPECT_EQ(field(info, "timestamp"), "1712345678.000000 (2024-04-05 19:34:38 UTC)");
}

TEST(Kdump, MachineFromUtsname) {
  KdumpSpec s = sample_spec();
  s.machine = "aarch64";
  s.block_size = 65536;
  s.pages.clear();
  s.pages[3] = pattern_page(3, 65536);
  s.excluded.clear();
  auto dump = open_bytes({build_kdump(s)});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_EQ((*dump)->info().machine, 183);
  EXPECT_EQ((*dump)->info().page_size, 65536u);
  EXPECT_EQ(page_of(**dump, 3, 65536), s.pages[3]);
}

TEST(Kdump, ExcludedAndMissingPagesFailLikeCrash) {
  auto dump = open_bytes({build_kdump(sample_spec())});
  ASSERT_TRUE(dump);
  Bytes buf(8);
  auto r = (*dump)->read(11 * kPage + 0x10, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::fault);
  EXPECT_EQ(r.error().address, 11 * kPage + 0x10);
  EXPECT_EQ(r.error().message, "page excluded: physical address 0xb010");
  r = (*dump)->read(20 * kPage, buf);  // not RAM
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "not in dump: physical address 0x14000");
  r = (*dump)->read(64 * kPage, buf);  // beyond max_mapnr
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "not in dump: physical address 0x40000");
  // A read crossing from a dumped page into an excluded one returns the dumped part.
  Bytes big(2 * kPage);
  auto n = (*dump)->read_upto(10 * kPage, big);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, kPage);
  // A read over several dumped pages is whole.
  auto m = (*dump)->read_upto(1 * kPage + 100, big);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, 2 * kPage);
}

TEST(Kdump, IncompleteFlagIsReported) {
  KdumpSpec s = sample_spec();
  s.incomplete = true;
  auto dump = open_bytes({build_kdump(s)});
  ASSERT_TRUE(dump);
  EXPECT_TRUE((*dump)->info().incomplete);
  EXPECT_EQ(field((*dump)->info(), "incomplete"), "yes: header status says DUMP_DH_COMPRESSED_INCOMPLETE");
}

TEST(Kdump, TruncatedFileFailsReadsOfTheMissingPages) {
  KdumpSpec s = sample_spec(kRaw);
  Bytes file = build_kdump(s);
  file.resize(file.size() - 100);  // the last data written (the zero page of pfns 13, 14) is cut
  auto dump = open_bytes({file}, {"cut.kdump"});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_EQ(page_of(**dump, 10), s.pages[10]);
  Bytes buf(8);
  auto r = (*dump)->read(14 * kPage, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::fault);
  uint64_t data13 = peek<uint64_t>(file, desc_table(file) + 10 * 24);
  EXPECT_EQ(r.error().message, fmt::format("dump truncated: physical address 0xe000 at file offset {:#x} of cut.kdump", data13));

  // Cut inside the descriptor table: open works, the dump is incomplete.
  Bytes short_file(file.begin(), file.begin() + desc_table(file) + 3 * 24 + 5);
  auto d2 = open_bytes({short_file}, {"cut.kdump"});
  ASSERT_TRUE(d2) << d2.error().message;
  EXPECT_TRUE((*d2)->info().incomplete);
  r = (*d2)->read(5 * kPage, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            fmt::format("dump truncated: physical address 0x5000 at file offset {:#x} of cut.kdump", desc_table(file) + 4 * 24));
}

TEST(Kdump, DescriptorWithoutDataInAnIncompleteDumpIsTruncated) {
  KdumpSpec s = sample_spec();
  s.incomplete = true;
  Bytes file = build_kdump(s);
  uint64_t d = desc_table(file) + 2 * 24;  // pfn 3
  poke<uint64_t>(file, d, 0);
  poke<uint32_t>(file, d + 8, 0);
  auto dump = open_bytes({file}, {"v"});
  ASSERT_TRUE(dump);
  Bytes buf(8);
  auto r = (*dump)->read(3 * kPage, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, fmt::format("dump truncated: physical address 0x3000 at file offset {:#x} of v", d));
}

TEST(Kdump, BitmapLargerThanTheFileIsAnError) {
  Bytes file = build_kdump(sample_spec());
  poke<uint32_t>(file, 436, 0x9000);
  auto dump = open_bytes({file}, {"vmcore.kdump"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, Errc::bad_data);
  EXPECT_EQ(dump.error().message,
            fmt::format("vmcore.kdump: header at 0x0: bitmap at 0x2000 of bitmap_blocks 36864 (size 0x9000000) exceeds file size {:#x}",
                        file.size()));
}

TEST(Kdump, MaxMapnrBeyondTheBitmapIsAnError) {
  Bytes file = build_kdump(sample_spec());
  uint64_t sub = 4096;
  poke<uint64_t>(file, sub + 96, uint64_t{1} << 40);  // max_mapnr_64
  auto dump = open_bytes({file}, {"v"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message,
            "v: header at 0x0: max_mapnr 0x10000000000 needs 0x2000000000-byte bitmaps but bitmap_blocks 2 gives 0x2000 bytes");
  // Found by fuzzing: the bitmap size computation must not wrap for max_mapnr near 2^64.
  poke<uint64_t>(file, sub + 96, ~uint64_t{0});
  dump = open_bytes({file}, {"v"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message,
            "v: header at 0x0: max_mapnr 0xffffffffffffffff needs 0x2000000000000000-byte bitmaps but bitmap_blocks 2 gives 0x2000 bytes");
}

TEST(Kdump, BadBlockSizeAndShortHeaderAreErrors) {
  Bytes file = build_kdump(sample_spec());
  poke<uint32_t>(file, 428, 3000);
  auto dump = open_bytes({file}, {"v"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message, "v: header at 0x0: block_size 0xbb8 is not a power of two between 0x200 and 0x100000");

  Bytes head(build_kdump(sample_spec()));
  head.resize(200);
  dump = open_bytes({head}, {"v"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message, "v: disk_dump_header at 0x0 (size 0x1d0) extends past the end of the file at 0xc8");
}

TEST(Kdump, CompressedSizeAbovePageSizeIsAnError) {
  Bytes file = build_kdump(sample_spec());
  uint64_t d = desc_table(file) + 1 * 24;  // pfn 2
  poke<uint32_t>(file, d + 8, kPage + 1);
  auto dump = open_bytes({file}, {"v"});
  ASSERT_TRUE(dump);
  Bytes buf(8);
  auto r = (*dump)->read(2 * kPage, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::bad_data);
  EXPECT_EQ(r.error().address, 2 * kPage);
  EXPECT_EQ(r.error().message,
            fmt::format("v: page descriptor 1 at {:#x}: size 0x1001 exceeds the page size 0x1000 (physical address 0x2000)", d));
}

TEST(Kdump, DecompressionFailureNamesTheData) {
  for (uint32_t c : {kZlib, kLzo, kSnappy, kZstd}) {
    Bytes file = build_kdump(sample_spec(c));
    uint64_t d = desc_table(file) + 1 * 24;  // pfn 2, compressible
    ASSERT_EQ(peek<uint32_t>(file, d + 12), c);
    uint64_t off = peek<uint64_t>(file, d);
    uint32_t size = peek<uint32_t>(file, d + 8);
    for (uint32_t i = 0; i < size; ++i) file[off + i] ^= 0x5a;
    auto dump = open_bytes({file}, {"v"});
    ASSERT_TRUE(dump);
    Bytes buf(8);
    auto r = (*dump)->read(2 * kPage, buf);
    ASSERT_FALSE(r) << c;
    EXPECT_EQ(r.error().code, Errc::bad_data);
    EXPECT_EQ(r.error().message.rfind(fmt::format("v: page data at {:#x} (size {:#x}): ", off, size), 0), 0u)
        << r.error().message;
    EXPECT_NE(r.error().message.find("decompression failed"), std::string::npos);
    // Other pages still read.
    EXPECT_EQ(page_of(**dump, 4), sample_spec(c).pages[4]);
  }
}

TEST(Kdump, VmcoreinfoPastTheEndIsAnError) {
  Bytes file = build_kdump(sample_spec());
  poke<uint64_t>(file, 4096 + 40, 0x100000);  // size_vmcoreinfo
  auto dump = open_bytes({file}, {"v"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message,
            fmt::format("v: vmcoreinfo at 0x1068 (size 0x100000) extends past the end of the file at {:#x}", file.size()));
}

TEST(Kdump, OldDiskdumpAnd32BitAreRefused) {
  Bytes file = build_kdump(sample_spec());
  std::memcpy(file.data(), "DISKDUMP", 8);
  auto dump = open_bytes({file}, {"v"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, Errc::unsupported);
  KdumpSpec s = sample_spec();
  s.machine = "i686";
  dump = open_bytes({build_kdump(s)}, {"v"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message, "v: header at 0x0: kdump of a 32-bit machine (i686) is not supported");
}

TEST(Kdump, ManyPagesUseTheRankIndex) {
  // Enough pfns to span many rank blocks, with a sparse and irregular dumped set.
  KdumpSpec s;
  s.compression = kLzo;
  s.max_mapnr = 20000;
  for (uint64_t pfn = 0; pfn < s.max_mapnr; ++pfn)
    if ((pfn * 7919) % 13 < 5) s.pages[pfn] = compressible_page(pfn, kPage);
    else if (pfn % 3 == 0) s.excluded.insert(pfn);
  auto dump = open_bytes({build_kdump(s)});
  ASSERT_TRUE(dump) << dump.error().message;
  for (uint64_t pfn = 0; pfn < s.max_mapnr; pfn += 37) {
    Bytes buf(kPage);
    auto r = (*dump)->read(pfn * kPage, buf);
    if (s.pages.count(pfn)) {
      ASSERT_TRUE(r) << pfn << ": " << r.error().message;
      EXPECT_EQ(buf, s.pages[pfn]) << pfn;
    } else {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().message.substr(0, 5), s.excluded.count(pfn) ? "page " : "not i") << pfn;
    }
  }
}

// ---- flattened ---------------------------------------------------------------------------

TEST(Flattened, EqualsTheRegularFile) {
  KdumpSpec s = sample_spec(kZstd);
  Bytes file = build_kdump(s);
  for (bool shuffle : {false, true})
    for (bool overwrite : {false, true}) {
      auto dump = open_bytes({flatten(file, 1000, shuffle, overwrite)}, {"v.flat"});
      ASSERT_TRUE(dump) << dump.error().message;
      EXPECT_EQ((*dump)->info().format, "flattened kdump");
      EXPECT_EQ((*dump)->info().paths, std::vector<std::string>{"v.flat"});
      EXPECT_FALSE((*dump)->info().incomplete);
      expect_sample_pages(**dump, s);
      EXPECT_EQ((*dump)->info().vmcoreinfo, s.vmcoreinfo);
    }
}

TEST(Flattened, ElfInsideIsRead) {
  ElfSpec e;
  e.loads.push_back({0x2000, pattern_page(2, 8192)});
  auto dump = open_bytes({flatten(build_elf(e), 777, true)});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_EQ((*dump)->info().format, "flattened ELF");
  Bytes buf(8192);
  ASSERT_TRUE((*dump)->read(0x2000, buf));
  EXPECT_EQ(buf, pattern_page(2, 8192));
}

TEST(Flattened, StreamWithoutEndMarkerIsIncomplete) {
  KdumpSpec s = sample_spec(kRaw);
  Bytes flat = flatten(build_kdump(s), 4096);
  flat.resize(flat.size() - 16 - 2000);  // drop the end marker and part of the last record
  auto dump = open_bytes({flat}, {"v.flat"});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_TRUE((*dump)->info().incomplete);
  std::string inc = field((*dump)->info(), "incomplete");
  EXPECT_NE(inc.find("is cut off by the end of the file"), std::string::npos) << inc;
  EXPECT_EQ(page_of(**dump, 1), s.pages[1]);
  Bytes buf(kPage);
  auto r = (*dump)->read(13 * kPage, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("dump truncated: physical address 0xd000 at file offset ", 0), 0u) << r.error().message;
}

TEST(Flattened, BadRecordsAreErrors) {
  Bytes flat = flatten(build_kdump(sample_spec()), 4096);
  Bytes neg = flat;
  for (int i = 0; i < 8; ++i) neg[4096 + i] = 0xf0;  // offset of the first record negative
  auto dump = open_bytes({neg}, {"v.flat"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message.rfind("v.flat: flattened record at 0x1000: negative offset", 0), 0u) << dump.error().message;

  Bytes badtype = flat;
  badtype[23] = 2;
  dump = open_bytes({badtype}, {"v.flat"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message, "v.flat: flattened header at 0x0: type 2 is not TYPE_FLAT_HEADER (1)");

  Bytes header_only(flat.begin(), flat.begin() + 4096);
  dump = open_bytes({header_only}, {"v.flat"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message, "v.flat: flattened stream at 0x1000: no data records");

  // Offsets in errors about the rebuilt file name it as such.
  Bytes inner = build_kdump(sample_spec());
  poke<uint32_t>(inner, 436, 0x9000);
  dump = open_bytes({flatten(inner, 4096)}, {"v.flat"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message.rfind("v.flat (unflattened): header at 0x0: bitmap at 0x2000", 0), 0u) << dump.error().message;
}

TEST(Flattened, RecordFarAwayCannotMakeTheReaderAllocateWithoutBound) {
  // Found by fuzzing: a record at a huge offset makes the rebuilt file huge (holes read as
  // zeros); a bitmap claimed to fill it must be refused rather than copied.
  KdumpSpec s = sample_spec();
  Bytes inner = build_kdump(s);
  poke<uint32_t>(inner, 436, 0x40000000);  // bitmap_blocks: 4 TiB of bitmap
  Bytes flat = flatten(inner, 4096);
  // Append a 1-byte record at 5 TiB before the end marker.
  Bytes far(17);
  for (int i = 0; i < 8; ++i) far[i] = static_cast<uint8_t>((uint64_t{5} << 40) >> (56 - 8 * i));
  far[15] = 1;
  flat.insert(flat.end() - 16, far.begin(), far.end());
  auto dump = open_bytes({flat}, {"v.flat"});
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().message,
            fmt::format("v.flat (unflattened): header at 0x0: bitmap_blocks 1073741824 (size 0x40000000000) is larger than "
                        "the {:#x} bytes the file holds",
                        flat.size()));
}

TEST(Flattened, ReadFromDiskFile) {
  KdumpSpec s = sample_spec(kSnappy);
  std::string path = write_temp(flatten(build_kdump(s), 3000, true), "v.flat");
  auto dump = open_dump({path});
  ASSERT_TRUE(dump) << dump.error().message;
  expect_sample_pages(**dump, s);
}

// ---- split -------------------------------------------------------------------------------

TEST(Split, PiecesInAnyOrderReadAsOneDump) {
  KdumpSpec s = sample_spec();
  auto pieces = build_split_kdump(s, 3);  // pfns [0,22) [22,44) [44,64)
  s.pages[30] = pattern_page(30, kPage);
  s.pages[50] = compressible_page(50, kPage);
  pieces = build_split_kdump(s, 3);
  std::vector<Bytes> order = {pieces[2], pieces[0], pieces[1]};
  auto dump = open_bytes(order, {"p2", "p0", "p1"});
  ASSERT_TRUE(dump) << dump.error().message;
  const DumpInfo& info = (*dump)->info();
  EXPECT_EQ(info.format, "split kdump");
  EXPECT_EQ(info.paths, (std::vector<std::string>{"p2", "p0", "p1"}));
  EXPECT_FALSE(info.incomplete);
  expect_sample_pages(**dump, s);
  EXPECT_EQ(field(info, "split"), "p0 [0x0, 0x16); p1 [0x16, 0x2c); p2 [0x2c, 0x40)");
  EXPECT_EQ(field(info, "dumped pages"), "14");
  Bytes buf(8);
  auto r = (*dump)->read(11 * kPage, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "page excluded: physical address 0xb000");
  // A read across the boundary of two pieces.
  s.pages[21] = pattern_page(21, kPage);
  s.pages[22] = pattern_page(22, kPage);
  pieces = build_split_kdump(s, 3);
  dump = open_bytes(pieces);
  ASSERT_TRUE(dump);
  Bytes two(2 * kPage);
  ASSERT_TRUE((*dump)->read(21 * kPage, two));
  EXPECT_TRUE(std::equal(two.begin() + kPage, two.end(), s.pages[22].begin()));
}

TEST(Split, MissingPieceMakesTheDumpIncomplete) {
  KdumpSpec s = sample_spec();
  s.pages[50] = pattern_page(50, kPage);
  auto pieces = build_split_kdump(s, 3);
  auto dump = open_bytes({pieces[0], pieces[2]}, {"p0", "p2"});
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_TRUE((*dump)->info().incomplete);
  EXPECT_NE(field((*dump)->info(), "incomplete").find("pfns [0x16, 0x2c) are in no piece"), std::string::npos);
  EXPECT_EQ(page_of(**dump, 50), s.pages[50]);
  Bytes buf(8);
  auto r = (*dump)->read(30 * kPage, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "not in dump: physical address 0x1e000");
  // One piece alone opens too, and says what it covers.
  auto one = open_bytes({pieces[2]}, {"p2"});
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_TRUE((*one)->info().incomplete);
  EXPECT_EQ(page_of(**one, 50), s.pages[50]);
}

TEST(Split, MismatchedOverlappingOrForeignFilesAreRejected) {
  KdumpSpec s = sample_spec();
  auto pieces = build_split_kdump(s, 2);
  auto dup = open_bytes({pieces[0], pieces[1], pieces[0]}, {"a", "b", "c"});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::mismatch);
  EXPECT_EQ(dup.error().message, "split dump: c (pfns [0x0, 0x20)) overlaps a (pfns [0x0, 0x20))");

  KdumpSpec other = s;
  other.timestamp += 1;
  auto mixed = open_bytes({pieces[0], build_split_kdump(other, 2)[1]}, {"a", "b"});
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().message,
            "split dump: a and b come from different dumps (header version, page size, max_mapnr, utsname or timestamp differ)");

  auto whole = open_bytes({pieces[0], build_kdump(s)}, {"a", "whole"});
  ASSERT_FALSE(whole);
  EXPECT_EQ(whole.error().message.rfind("whole: sub-header at 0x1000: not a piece of a split dump", 0), 0u);

  ElfSpec e;
  e.loads.push_back({0, pattern_page(0, 4096)});
  auto elf = open_bytes({pieces[0], build_elf(e)}, {"a", "core"});
  ASSERT_FALSE(elf);
  EXPECT_EQ(elf.error().code, Errc::usage);
  EXPECT_EQ(elf.error().message.rfind("core: several dump files were given but this one is not a kdump-compressed file", 0), 0u);
}

TEST(Split, FlattenedPiecesWork) {
  KdumpSpec s = sample_spec(kZstd);
  auto pieces = build_split_kdump(s, 2);
  auto dump = open_bytes({flatten(pieces[1], 2048, true), pieces[0]});
  ASSERT_TRUE(dump) << dump.error().message;
  expect_sample_pages(**dump, s);
}
