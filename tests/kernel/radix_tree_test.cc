// The page cache's radix tree before the XArray (kernel/radix_tree.h) over a fake memory of
// 8-byte words, in the 4.7-4.19 layout (node.shift, node pointers tagged 01 in every slot) and
// the older one (root.height, only rnode tagged): indices, exceptional, sibling and retry
// entries, and errors naming the node on cycles, bad shifts, bad heights and unreadable nodes.
#include <gtest/gtest.h>

#include <map>

#include "kernel/radix_tree.h"
#include "tests/kernel/fake_memory.h"

using namespace coroner;
using namespace coroner::kernel;
using coroner::kernel::fake::FakeMemory;

namespace {

// x86_64 4.14: radix_tree_root { gfp_t gfp_mask; struct radix_tree_node *rnode; },
// radix_tree_node { u8 shift, offset, count, exceptional; parent; root; union (16 bytes);
// void *slots[64]; ... }.
constexpr RadixLayout kShift{true, 8, 0, 0, 40, 64, 6};
// 4.4: radix_tree_root { unsigned int height; gfp_t gfp_mask; rnode; }, node.slots after
// path, count and a 24-byte union.
constexpr RadixLayout kHeight{false, 8, 0, 0, 32, 64, 6};

constexpr uint64_t kRoot = 0x1000;

// An empty node at `node` (every slot 0) with `shift` (the 4.7+ layout only).
void empty_node(FakeMemory& m, const RadixLayout& l, uint64_t node, uint64_t shift = 0) {
  if (l.shift_nodes) m.set(node + l.node_shift, shift);
  for (uint32_t i = 0; i < l.map_size; ++i) m.set(node + l.node_slots + 8 * i, 0);
}
void slot(FakeMemory& m, const RadixLayout& l, uint64_t node, uint32_t i, uint64_t v) { m.set(node + l.node_slots + 8 * i, v); }

TEST(RadixTreeWalk, EmptyTree) {
  FakeMemory m;
  m.set(kRoot + 8, 0);
  auto r = radix_tree_walk(m.reader(), kRoot, kShift);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->empty());
}

TEST(RadixTreeWalk, SingleEntryInTheRootIsIndexZero) {
  FakeMemory m;
  m.set(kRoot + 8, 0xffffea0000001000);
  auto r = radix_tree_walk(m.reader(), kRoot, kShift);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].index, 0u);
  EXPECT_EQ((*r)[0].entry, 0xffffea0000001000u);
}

TEST(RadixTreeWalk, ShiftLayoutTwoLevels) {
  FakeMemory m;
  const uint64_t top = 0x10000, leaf = 0x20000;
  m.set(kRoot + 8, top | 1);  // RADIX_TREE_INTERNAL_NODE
  empty_node(m, kShift, top, 6);
  empty_node(m, kShift, leaf, 0);
  slot(m, kShift, top, 0, 0xffffea0000002000);  // index 0
  slot(m, kShift, top, 2, leaf | 1);            // indices 128..191
  slot(m, kShift, top, 3, (77ull << 2) | 2);    // exceptional (a shadow entry) at 192
  slot(m, kShift, top, 4, 1);                   // RADIX_TREE_RETRY: nothing
  slot(m, kShift, leaf, 5, 0xffffea0000003000);  // index 133
  // A sibling entry of a multi-order entry: it points at slot 5 of its own node.
  slot(m, kShift, leaf, 6, (leaf + kShift.node_slots + 8 * 5) | 1);
  auto r = radix_tree_walk(m.reader(), kRoot, kShift);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].index, 0u);
  EXPECT_EQ((*r)[1].index, 133u);
  EXPECT_EQ((*r)[1].entry, 0xffffea0000003000u);
  EXPECT_EQ((*r)[2].index, 192u);
  EXPECT_TRUE(radix_tree_exceptional((*r)[2].entry));
  EXPECT_FALSE(radix_tree_exceptional((*r)[1].entry));
}

TEST(RadixTreeWalk, SixteenSlotNodes) {
  // CONFIG_BASE_SMALL: RADIX_TREE_MAP_SHIFT 4.
  const RadixLayout small{true, 8, 0, 0, 40, 16, 4};
  FakeMemory m;
  const uint64_t top = 0x10000, leaf = 0x20000;
  m.set(kRoot + 8, top | 1);
  empty_node(m, small, top, 4);
  empty_node(m, small, leaf, 0);
  slot(m, small, top, 15, leaf | 1);
  slot(m, small, leaf, 15, 0xffffea0000004000);
  auto r = radix_tree_walk(m.reader(), kRoot, small);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].index, 255u);
}

TEST(RadixTreeWalk, CycleNamesTheNode) {
  FakeMemory m;
  const uint64_t top = 0x10000, leaf = 0x20000;
  m.set(kRoot + 8, top | 1);
  empty_node(m, kShift, top, 12);
  empty_node(m, kShift, leaf, 6);
  slot(m, kShift, top, 1, leaf | 1);
  slot(m, kShift, leaf, 1, top | 1);  // back up: the cycle check stops it
  auto r = radix_tree_walk(m.reader(), kRoot, kShift);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::bad_data);
  EXPECT_NE(r.error().message.find("node 0x10000"), std::string::npos) << r.error().message;
}

TEST(RadixTreeWalk, NodePointerInALeafIsAnError) {
  FakeMemory m;
  const uint64_t top = 0x10000;
  m.set(kRoot + 8, top | 1);
  empty_node(m, kShift, top, 0);
  slot(m, kShift, top, 3, 0x30000 | 1);
  auto r = radix_tree_walk(m.reader(), kRoot, kShift);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0x10000"), std::string::npos) << r.error().message;
}

TEST(RadixTreeWalk, ShiftNotAMultipleOfTheMapShiftIsAnError) {
  FakeMemory m;
  const uint64_t top = 0x10000;
  m.set(kRoot + 8, top | 1);
  empty_node(m, kShift, top, 7);
  auto r = radix_tree_walk(m.reader(), kRoot, kShift);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("shift 7"), std::string::npos) << r.error().message;
}

TEST(RadixTreeWalk, UnreadableNodeNamesIt) {
  FakeMemory m;
  m.set(kRoot + 8, 0x50000 | 1);
  auto r = radix_tree_walk(m.reader(), kRoot, kShift);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::fault);
  EXPECT_NE(r.error().message.find("0x50000"), std::string::npos) << r.error().message;
}

TEST(RadixTreeWalk, LimitIsAnError) {
  FakeMemory m;
  const uint64_t top = 0x10000;
  m.set(kRoot + 8, top | 1);
  empty_node(m, kShift, top, 0);
  for (uint32_t i = 0; i < 10; ++i) slot(m, kShift, top, i, 0xffffea0000000000 + 0x40 * (i + 1));
  auto r = radix_tree_walk(m.reader(), kRoot, kShift, 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_bounds);
}

TEST(RadixTreeWalk, HeightLayoutThreeLevels) {
  FakeMemory m;
  const uint64_t top = 0x10000, mid = 0x20000, leaf = 0x30000;
  m.set(kRoot + 0, 3);         // height (the gfp_mask shares the word)
  m.set(kRoot + 8, top | 1);   // RADIX_TREE_INDIRECT_PTR
  empty_node(m, kHeight, top);
  empty_node(m, kHeight, mid);
  empty_node(m, kHeight, leaf);
  slot(m, kHeight, top, 1, mid);   // plain node pointers below the root
  slot(m, kHeight, mid, 2, leaf);
  slot(m, kHeight, leaf, 3, 0xffffea0000005000);
  slot(m, kHeight, leaf, 4, (9ull << 2) | 2);  // exceptional
  auto r = radix_tree_walk(m.reader(), kRoot, kHeight);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].index, (1u << 12) + (2u << 6) + 3u);
  EXPECT_EQ((*r)[0].entry, 0xffffea0000005000u);
  EXPECT_TRUE(radix_tree_exceptional((*r)[1].entry));
}

TEST(RadixTreeWalk, HeightLayoutTaggedInnerSlotIsAnError) {
  FakeMemory m;
  const uint64_t top = 0x10000;
  m.set(kRoot + 0, 2);
  m.set(kRoot + 8, top | 1);
  empty_node(m, kHeight, top);
  slot(m, kHeight, top, 0, 0x20002);  // an exceptional entry where a node must be
  auto r = radix_tree_walk(m.reader(), kRoot, kHeight);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0x10000"), std::string::npos) << r.error().message;
}

TEST(RadixTreeWalk, AbsurdHeightIsAnError) {
  FakeMemory m;
  m.set(kRoot + 0, 40);
  m.set(kRoot + 8, 0x10000 | 1);
  auto r = radix_tree_walk(m.reader(), kRoot, kHeight);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("height 40"), std::string::npos) << r.error().message;
}

}  // namespace
