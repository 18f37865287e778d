// x86_64 page-table walks over a synthesized ELF dump: 4 KiB, 2 MiB and 1 GiB mappings,
// missing entries, tables that loop or lie outside the dump, and crash's linear translation.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>

#include "arch/arch.h"
#include "tests/arch/synth_arch.h"
#include "tests/dumpfmt/dump_builder.h"

using namespace coroner;
using namespace coroner::dumpfmt::testing;
using synth::walk_fails;
using synth::walks_to;

namespace {

constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;
constexpr uint64_t kPgd = 0x1000, kPud = 0x2000, kPmd = 0x3000, kPte = 0x4000, kData = 0x5000;
constexpr uint64_t kTable = 0x3;  // PRESENT|RW
constexpr uint64_t kVmalloc = 0xffffc90000000000ull;

size_t index_at(uint64_t vaddr, int shift) { return (vaddr >> shift) & 0x1ff; }

// Physical memory [0, 64 KiB) with the kernel's top-level table at 0x1000 (init_top_pgt at
// __START_KERNEL_map + 0x1000, phys_base 0).
struct FakeMachine : synth::Machine {
  Bytes mem = Bytes(0x10000, 0);
  void put(uint64_t paddr, uint64_t value) { std::memcpy(mem.data() + paddr, &value, 8); }
  // A 4-level path for `vaddr` down to the PMD table; returns nothing.
  void path_to_pmd(uint64_t vaddr) {
    put(kPgd + index_at(vaddr, 39) * 8, kPud | kTable);
    put(kPud + index_at(vaddr, 30) * 8, kPmd | kTable);
  }
  void open() {
    ASSERT_TRUE(Machine::open(EM_X86_64, 0, mem, "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=0\n",
                              {{"init_top_pgt", kStartKernelMap + kPgd}, {"_text", kStartKernelMap}, {"_end", kStartKernelMap + 0x10000}}));
  }
};

TEST(X86_64Walk, FourKilobytePageRecordsEveryLevel) {
  FakeMachine m;
  uint64_t v = kVmalloc + 0x3000 + 0x123;
  m.path_to_pmd(v);
  m.put(kPmd + index_at(v, 21) * 8, kPte | kTable);
  m.put(kPte + index_at(v, 12) * 8, kData | 0x63 | (1ull << 63));
  m.open();
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(walks_to(*m.arch, v, kData + 0x123, &steps));
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].level, "PGD");
  EXPECT_EQ(steps[0].entry_paddr, kPgd + index_at(v, 39) * 8);
  EXPECT_EQ(steps[3].level, "PTE");
  EXPECT_EQ(steps[3].page_size, 4096u);
  EXPECT_EQ(steps[2].page_size, 0u);
  EXPECT_EQ(m.arch->pte_flags(steps[3].entry), "PRESENT|RW|ACCESSED|DIRTY|NX");
  auto k = m.arch->kvtop(v);
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, kData + 0x123);
}

TEST(X86_64Walk, HugePmdAndPudMapTwoMegabyteAndOneGigabytePages) {
  FakeMachine m;
  uint64_t v2m = kVmalloc + (5ull << 21) + 0x12345;
  m.path_to_pmd(v2m);
  m.put(kPmd + index_at(v2m, 21) * 8, 0x40000000ull | 0x80 | 0x63);
  uint64_t v1g = kVmalloc + (7ull << 30) + 0x1234567;
  m.put(kPud + index_at(v1g, 30) * 8, 0x80000000ull | 0x80 | 0x63);
  m.open();
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(walks_to(*m.arch, v2m, 0x40000000ull + 0x12345, &steps));
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps.back().page_size, 2ull << 20);
  EXPECT_EQ(m.arch->pte_flags(steps.back().entry), "PRESENT|RW|ACCESSED|DIRTY|PSE");
  ASSERT_TRUE(walks_to(*m.arch, v1g, 0x80000000ull + 0x1234567, &steps));
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps.back().level, "PUD");
  EXPECT_EQ(steps.back().page_size, 1ull << 30);
}

TEST(X86_64Walk, MissingEntryStopsAtItsLevel) {
  FakeMachine m;
  uint64_t v = kVmalloc + 0x7000;
  m.path_to_pmd(v);  // the PMD entry stays 0
  m.open();
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(walk_fails(*m.arch, v, Errc::fault, {"PMD not present"}, &steps));
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps.back().entry, 0u);
}

TEST(X86_64Walk, EntryPointingBackUpIsALoop) {
  FakeMachine m;
  uint64_t v = kVmalloc + 0x9000;
  m.path_to_pmd(v);
  m.put(kPmd + index_at(v, 21) * 8, kPgd | kTable);  // the PMD entry names the PGD as a PTE table
  m.open();
  ASSERT_TRUE(walk_fails(*m.arch, v, Errc::bad_data,
                         {"page-table loop: the PMD entry 0x1003 points back to the PGD table at physical 0x1000"}));
}

TEST(X86_64Walk, TableOutsideTheDumpNamesTheLevelAndEntry) {
  FakeMachine m;
  uint64_t v = kVmalloc + 0xb000;
  m.path_to_pmd(v);
  m.put(kPmd + index_at(v, 21) * 8, 0x7fff000000ull | kTable);  // a PTE table far beyond memory
  m.open();
  ASSERT_TRUE(walk_fails(*m.arch, v, std::nullopt, {"PTE entry at physical 0x7fff000", "table from the PMD entry"}));
}

TEST(X86_64Linear, ImageAndDirectMapByArithmeticOthersByWalk) {
  FakeMachine m;
  m.open();
  arch::Arch& a = *m.arch;
  EXPECT_EQ(a.linear_vtop(kStartKernelMap + 0x2000), 0x2000u);
  EXPECT_EQ(a.linear_vtop(0xffff888000000000ull + 0x5000), 0x5000u);  // no page_offset_base: the default
  EXPECT_FALSE(a.linear_vtop(kVmalloc + 0x1000));
  EXPECT_FALSE(a.linear_vtop(0xfffffe0000000000ull));  // cpu_entry_area
  EXPECT_FALSE(a.linear_vtop(0x400000));               // user space
  EXPECT_TRUE(a.is_user_vaddr(0x400000));
  EXPECT_FALSE(a.is_kernel_vaddr(0x400000));
  EXPECT_EQ(a.ptov(0x1000), 0xffff888000001000ull);
  EXPECT_EQ(a.pte_flags(0x100), "PROTNONE|GLOBAL");
}

}  // namespace
