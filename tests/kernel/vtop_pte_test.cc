// What vtop shows for a kernel address whose PTE is not present but not empty (issue 5): the
// x86_64 walk stops at the PTE with the entry recorded, and the entry decides the table, as
// crash's x86_64_translate_pte() does: PROT_NONE is a mapping ("PTE PHYSICAL FLAGS"), any
// other non-zero entry a swap entry ("PTE SWAP OFFSET"). Real dumps may hold no such kernel
// PTE, so the page tables are synthesized (tests/arch/synth_arch.h).
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>

#include "arch/arch.h"
#include "kernel/swap.h"
#include "tests/arch/synth_arch.h"

using namespace coroner;

namespace {

constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;
constexpr uint64_t kPgd = 0x1000, kPud = 0x2000, kPmd = 0x3000, kPte = 0x4000;
constexpr uint64_t kTable = 0x3;  // PRESENT|RW
constexpr uint64_t kVmalloc = 0xffffc90000000000ull;

size_t index_at(uint64_t vaddr, int shift) { return (vaddr >> shift) & 0x1ff; }

// 4.18+ (L1TF) swap PTE of type `type`, offset `offset` (arch/x86/include/asm/pgtable_64.h).
uint64_t swap_pte(uint64_t type, uint64_t offset) { return (~offset << 14 >> 5) | (type << 59); }

struct Tables : synth::Machine {
  std::vector<uint8_t> mem = std::vector<uint8_t>(0x10000, 0);
  void put(uint64_t paddr, uint64_t value) { std::memcpy(mem.data() + paddr, &value, 8); }
  // vaddr's path down to its PTE, which holds `pte`.
  void map(uint64_t vaddr, uint64_t pte) {
    put(kPgd + index_at(vaddr, 39) * 8, kPud | kTable);
    put(kPud + index_at(vaddr, 30) * 8, kPmd | kTable);
    put(kPmd + index_at(vaddr, 21) * 8, kPte | kTable);
    put(kPte + index_at(vaddr, 12) * 8, pte);
  }
  ::testing::AssertionResult open() {
    return Machine::open(EM_X86_64, 0, mem, "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=0\n",
                         {{"init_top_pgt", kStartKernelMap + kPgd}, {"_text", kStartKernelMap},
                          {"_end", kStartKernelMap + 0x10000}});
  }
};

// The table vtop.cc prints after a walk that stopped at a non-present, non-empty PTE.
enum class Table { swap, pte };
Table table_for(uint64_t pte) { return kernel::x86_64_pte_protnone(pte) ? Table::pte : Table::swap; }

TEST(VtopKernelPte, SwapEntryStopsTheWalkAtThePte) {
  Tables t;
  uint64_t v = kVmalloc + 0x5000 + 0x10;
  uint64_t pte = swap_pte(1, 4242);
  t.map(v, pte);
  ASSERT_TRUE(t.open());
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(synth::walk_fails(*t.arch, v, Errc::fault, {}, &steps));
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps.back().level, "PTE");
  EXPECT_EQ(steps.back().entry, pte);
  EXPECT_FALSE(t.arch->entry_present(pte));
  EXPECT_EQ(table_for(pte), Table::swap);
  kernel::SwapEntry e = kernel::decode_swap_pte_x86_64(steps.back().entry, true);
  EXPECT_EQ(e.type, 1u);
  EXPECT_EQ(e.offset, 4242u);
}

TEST(VtopKernelPte, MigrationLikeEntryIsShownAsSwap) {
  // Any non-present entry that is not PROT_NONE: crash decodes it as a swap entry whatever its
  // type (migration and device entries use the high swap types).
  Tables t;
  uint64_t v = kVmalloc + 0x9000;
  uint64_t pte = swap_pte(30, 0x12345);
  t.map(v, pte);
  ASSERT_TRUE(t.open());
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(synth::walk_fails(*t.arch, v, Errc::fault, {}, &steps));
  EXPECT_EQ(steps.back().entry, pte);
  EXPECT_EQ(table_for(pte), Table::swap);
  EXPECT_EQ(kernel::decode_swap_pte_x86_64(pte, true).type, 30u);
}

TEST(VtopKernelPte, ProtNoneKeepsThePteTable) {
  Tables t;
  uint64_t v = kVmalloc + 0x7000;
  uint64_t pte = 0x8000000000006100ull;  // PROT_NONE (bit 8), not present, page 0x6000
  t.map(v, pte);
  ASSERT_TRUE(t.open());
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(synth::walk_fails(*t.arch, v, Errc::fault, {}, &steps));
  EXPECT_EQ(steps.back().entry, pte);
  EXPECT_EQ(table_for(pte), Table::pte);
  EXPECT_EQ(t.arch->entry_address(pte), 0x6000u);
}

TEST(VtopKernelPte, EmptyPteHasNoTable) {
  Tables t;
  uint64_t v = kVmalloc + 0x8000;
  t.map(v, 0);
  ASSERT_TRUE(t.open());
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(synth::walk_fails(*t.arch, v, Errc::fault, {}, &steps));
  EXPECT_EQ(steps.back().level, "PTE");
  EXPECT_EQ(steps.back().entry, 0u);  // vtop prints neither table: crash's `if (pte && verbose)`
}

}  // namespace
