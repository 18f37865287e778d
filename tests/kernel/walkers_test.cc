// The tree and hash walkers over a fake memory of 8-byte words: order, indices and ranges
// on well-formed structures, and an error naming the address on cycles, absurd depth,
// unreadable nodes and bad node contents.
#include <gtest/gtest.h>

#include <map>

#include "kernel/walkers.h"
#include "tests/kernel/fake_memory.h"

using namespace coroner;
using namespace coroner::kernel;
using coroner::kernel::fake::FakeMemory;

namespace {

// ---- hlist ----

TEST(HlistWalk, ListsNodesInOrder) {
  FakeMemory m;
  m.set(0x1000, 0x2000);  // head.first
  m.set(0x2000, 0x3000);
  m.set(0x3000, 0x4000);
  m.set(0x4000, 0);
  auto r = hlist_walk(m.reader(), 0x1000);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (std::vector<uint64_t>{0x2000, 0x3000, 0x4000}));
}

TEST(HlistWalk, EmptyList) {
  FakeMemory m;
  m.set(0x1000, 0);
  auto r = hlist_walk(m.reader(), 0x1000);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(HlistWalk, CycleNamesTheEntry) {
  FakeMemory m;
  m.set(0x1000, 0x2000);
  m.set(0x2000, 0x3000);
  m.set(0x3000, 0x2000);
  auto r = hlist_walk(m.reader(), 0x1000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cycle"), std::string::npos);
  EXPECT_NE(r.error().message.find("0x2000"), std::string::npos);
}

TEST(HlistWalk, UnreadableNodeNamesTheAddress) {
  FakeMemory m;
  m.set(0x1000, 0x2000);
  m.set(0x2000, 0xdead0000);
  auto r = hlist_walk(m.reader(), 0x1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::fault);
  EXPECT_NE(r.error().message.find("0xdead0000"), std::string::npos);
}

TEST(HlistWalk, LimitStopsLongLists) {
  FakeMemory m;
  m.set(0x1000, 0x2000);
  for (uint64_t a = 0x2000; a < 0x2000 + 100 * 0x10; a += 0x10) m.set(a, a + 0x10);
  m.set(0x2000 + 100 * 0x10, 0);
  auto r = hlist_walk(m.reader(), 0x1000, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_bounds);
}

// ---- rbtree ----

constexpr RbLayout kRb{0, 16, 8};  // rb_root.rb_node; rb_node {parent_color, rb_right, rb_left}

void rb_node(FakeMemory& m, uint64_t n, uint64_t left, uint64_t right) {
  m.set(n, 0);
  m.set(n + kRb.rb_left, left);
  m.set(n + kRb.rb_right, right);
}

TEST(RbtreeWalk, InOrder) {
  FakeMemory m;
  //        0x400
  //      0x200   0x600
  //    0x100 0x300   0x700
  m.set(0x10, 0x400);
  rb_node(m, 0x400, 0x200, 0x600);
  rb_node(m, 0x200, 0x100, 0x300);
  rb_node(m, 0x600, 0, 0x700);
  rb_node(m, 0x100, 0, 0);
  rb_node(m, 0x300, 0, 0);
  rb_node(m, 0x700, 0, 0);
  auto r = rbtree_walk(m.reader(), 0x10, kRb);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (std::vector<uint64_t>{0x100, 0x200, 0x300, 0x400, 0x600, 0x700}));
}

TEST(RbtreeWalk, EmptyTree) {
  FakeMemory m;
  m.set(0x10, 0);
  auto r = rbtree_walk(m.reader(), 0x10, kRb);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(RbtreeWalk, CycleIsAnError) {
  FakeMemory m;
  m.set(0x10, 0x400);
  rb_node(m, 0x400, 0x200, 0);
  rb_node(m, 0x200, 0, 0x400);  // right child points back at the root
  auto r = rbtree_walk(m.reader(), 0x10, kRb);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0x400"), std::string::npos);
}

TEST(RbtreeWalk, AbsurdDepthIsAnError) {
  FakeMemory m;
  m.set(0x10, 0x1000);
  for (uint64_t i = 0; i < 200; ++i) rb_node(m, 0x1000 + i * 0x100, 0x1000 + (i + 1) * 0x100, 0);
  rb_node(m, 0x1000 + 200 * 0x100, 0, 0);
  auto r = rbtree_walk(m.reader(), 0x10, kRb);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("deeper than"), std::string::npos);
}

TEST(RbtreeWalk, UnreadableChild) {
  FakeMemory m;
  m.set(0x10, 0x400);
  rb_node(m, 0x400, 0xbad000, 0);
  auto r = rbtree_walk(m.reader(), 0x10, kRb);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0xbad000"), std::string::npos);
}

// ---- xarray ----

constexpr XaLayout kXa{0, 0x28, 64};  // xa_node.shift at 0, slots[64] at 0x28

uint64_t xa_mk_node(uint64_t node) { return node | 2; }

TEST(XarrayWalk, SingleEntryAtIndexZero) {
  FakeMemory m;
  auto r = xarray_walk(m.reader(), 0xffff888000001000, kXa);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].index, 0u);
  EXPECT_EQ((*r)[0].entry, 0xffff888000001000u);
}

TEST(XarrayWalk, TwoLevelsWithIndices) {
  FakeMemory m;
  const uint64_t top = 0x10000, leaf = 0x20000;
  m.set(top + kXa.node_shift, 6);
  m.set(leaf + kXa.node_shift, 0);
  for (int i = 0; i < 64; ++i) {
    m.set(top + kXa.node_slots + 8 * i, 0);
    m.set(leaf + kXa.node_slots + 8 * i, 0);
  }
  m.set(top + kXa.node_slots + 8 * 0, 0xa000);           // index 0
  m.set(top + kXa.node_slots + 8 * 2, xa_mk_node(leaf));  // indices 128..191
  m.set(top + kXa.node_slots + 8 * 3, 0x7);               // a value entry (low bit 1) at 192
  m.set(leaf + kXa.node_slots + 8 * 5, 0xb000);           // index 133
  m.set(leaf + kXa.node_slots + 8 * 6, (5 << 2) | 2);     // sibling entry: skipped
  auto r = xarray_walk(m.reader(), xa_mk_node(top), kXa);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].index, 0u);
  EXPECT_EQ((*r)[1].index, 133u);
  EXPECT_EQ((*r)[1].entry, 0xb000u);
  EXPECT_EQ((*r)[2].index, 192u);
  EXPECT_EQ((*r)[2].entry, 0x7u);
}

TEST(XarrayWalk, ChildWithoutSmallerShiftIsAnError) {
  FakeMemory m;
  const uint64_t top = 0x10000;
  m.set(top + kXa.node_shift, 6);
  for (int i = 0; i < 64; ++i) m.set(top + kXa.node_slots + 8 * i, 0);
  m.set(top + kXa.node_slots, xa_mk_node(top));  // points at itself
  auto r = xarray_walk(m.reader(), xa_mk_node(top), kXa);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0x10000"), std::string::npos);
}

TEST(XarrayWalk, UnreadableNode) {
  FakeMemory m;
  auto r = xarray_walk(m.reader(), xa_mk_node(0x50000), kXa);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::fault);
  EXPECT_NE(r.error().message.find("0x50000"), std::string::npos);
}

// ---- maple tree ----

MapleLayout maple() {
  MapleLayout l;
  l.range64_pivot = 8, l.range64_slot = 8 + 15 * 8, l.range64_slots = 16;
  l.arange64_pivot = 8, l.arange64_slot = 8 + 9 * 8, l.arange64_slots = 10;
  l.dense_slot = 8, l.dense_slots = 31;
  return l;
}
uint64_t enode(uint64_t node, uint64_t type) { return node | (type << 3) | 4; }

void range_node(FakeMemory& m, const MapleLayout& l, uint64_t node, std::vector<uint64_t> pivots,
                std::vector<uint64_t> slots) {
  for (uint32_t i = 0; i + 1 < l.range64_slots; ++i) m.set(node + l.range64_pivot + 8 * i, i < pivots.size() ? pivots[i] : 0);
  for (uint32_t i = 0; i < l.range64_slots; ++i) m.set(node + l.range64_slot + 8 * i, i < slots.size() ? slots[i] : 0);
}

TEST(MapleWalk, LeafRanges) {
  FakeMemory m;
  MapleLayout l = maple();
  const uint64_t leaf = 0x100000;
  // [0, 0xfff] empty, [0x1000, 0x1fff] A, [0x2000, 0x4fff] empty, [0x5000, 0x5fff] B, rest empty
  range_node(m, l, leaf, {0xfff, 0x1fff, 0x4fff, 0x5fff}, {0, 0xa000, 0, 0xb000, 0});
  auto r = maple_walk(m.reader(), enode(leaf, 1) | 2, l);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].first, 0x1000u);
  EXPECT_EQ((*r)[0].last, 0x1fffu);
  EXPECT_EQ((*r)[0].entry, 0xa000u);
  EXPECT_EQ((*r)[1].first, 0x5000u);
  EXPECT_EQ((*r)[1].last, 0x5fffu);
}

TEST(MapleWalk, InternalNodeSplitsTheRange) {
  FakeMemory m;
  MapleLayout l = maple();
  const uint64_t top = 0x200000, a = 0x300000, b = 0x400000;
  range_node(m, l, top, {0x7fff}, {enode(a, 1), enode(b, 1)});
  range_node(m, l, a, {0x0fff, 0x1fff}, {0, 0xa000, 0});
  range_node(m, l, b, {0x8fff, 0x9fff}, {0, 0xb000, 0});
  auto r = maple_walk(m.reader(), enode(top, 2) | 2, l);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].first, 0x1000u);
  EXPECT_EQ((*r)[1].first, 0x9000u);
  EXPECT_EQ((*r)[1].last, 0x9fffu);
}

TEST(MapleWalk, DirectRootEntry) {
  FakeMemory m;
  auto r = maple_walk(m.reader(), 0xa000, maple());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].first, 0u);
  EXPECT_EQ((*r)[0].entry, 0xa000u);
}

TEST(MapleWalk, CycleIsAnError) {
  FakeMemory m;
  MapleLayout l = maple();
  const uint64_t top = 0x200000;
  range_node(m, l, top, {0x7fff}, {enode(top, 2), 0});
  auto r = maple_walk(m.reader(), enode(top, 2) | 2, l);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0x200000"), std::string::npos);
}

TEST(MapleWalk, DecreasingPivotIsAnError) {
  FakeMemory m;
  MapleLayout l = maple();
  const uint64_t leaf = 0x100000;
  range_node(m, l, leaf, {0x5fff, 0x1fff}, {0xa000, 0xb000});
  auto r = maple_walk(m.reader(), enode(leaf, 1) | 2, l);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("pivot"), std::string::npos);
}

TEST(MapleWalk, UnknownNodeType) {
  FakeMemory m;
  auto r = maple_walk(m.reader(), enode(0x100000, 9) | 2, maple());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown node type"), std::string::npos);
}

}  // namespace
