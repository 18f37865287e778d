// x86_64 swap PTE decoding on synthesized PTEs, built the way the kernel's __swp_entry() and
// __swp_entry_to_pte() build them (arch/x86/include/asm/pgtable_64.h).
#include <gtest/gtest.h>

#include "kernel/swap.h"

namespace coroner::kernel {
namespace {

// 4.18+ (L1TF): the offset inverted above bit 9, the type in the top five bits.
uint64_t l1tf_pte(uint64_t type, uint64_t offset) { return (~offset << 14 >> 5) | (type << 59); }
// 4.8-4.17: type at bit 9, offset from bit 15.
uint64_t old_pte(uint64_t type, uint64_t offset) { return (type << 9) | (offset << 15); }

TEST(SwapPte, L1tfLayoutRoundTrips) {
  for (uint64_t type : {0ull, 1ull, 7ull, 31ull})
    for (uint64_t offset : {1ull, 22716ull, 0x123456789ull, (1ull << 50) - 1}) {
      SwapEntry e = decode_swap_pte_x86_64(l1tf_pte(type, offset), true);
      EXPECT_EQ(e.type, type);
      EXPECT_EQ(e.offset, offset);
    }
}

TEST(SwapPte, L1tfLayoutIsInverted) {
  // Swap type 0, offset 1: every offset bit but bit 0 set (the L1TF mitigation's inversion),
  // present, PROT_NONE and the bits below bit 9 clear.
  uint64_t pte = l1tf_pte(0, 1);
  EXPECT_EQ(pte & 0x1ff, 0u);
  EXPECT_FALSE(x86_64_pte_protnone(pte));
  EXPECT_EQ(pte, 0x07fffffffffffc00ull);
}

TEST(SwapPte, SoftwareBitsDoNotChangeTheEntry) {
  // _PAGE_SWP_SOFT_DIRTY (bit 1), _PAGE_SWP_UFFD_WP (bit 2), _PAGE_SWP_EXCLUSIVE (bit 3).
  uint64_t pte = l1tf_pte(3, 4242) | 0xe;
  SwapEntry e = decode_swap_pte_x86_64(pte, true);
  EXPECT_EQ(e.type, 3u);
  EXPECT_EQ(e.offset, 4242u);
}

TEST(SwapPte, PreL1tfLayout) {
  SwapEntry e = decode_swap_pte_x86_64(old_pte(2, 22716), false);
  EXPECT_EQ(e.type, 2u);
  EXPECT_EQ(e.offset, 22716u);
}

TEST(SwapPte, ProtNoneIsNotASwapEntry) {
  EXPECT_TRUE(x86_64_pte_protnone(0x8000000012345100ull));  // PROT_NONE, not present
  EXPECT_FALSE(x86_64_pte_protnone(0x8000000012345101ull));  // present (bit 8 is GLOBAL)
  EXPECT_FALSE(x86_64_pte_protnone(0));
}

}  // namespace
}  // namespace coroner::kernel
