// SLUB freelists over a fake memory of 8-byte words: plain and hardened (obfuscated) free
// pointers, and an error naming the object on loops, overlong lists and unreadable objects;
// which object of a slab holds an address.
#include <gtest/gtest.h>

#include <map>

#include "kernel/mm.h"
#include "tests/kernel/fake_memory.h"

using namespace coroner;
using namespace coroner::kernel;
using coroner::kernel::fake::FakeMemory;

namespace {

constexpr uint64_t kBase = 0xffff888000100000;
constexpr uint64_t kSize = 0x40;
constexpr uint64_t kOffset = 0x20;  // kmem_cache.offset: the free pointer's place in an object

uint64_t object(int i) { return kBase + static_cast<uint64_t>(i) * kSize; }

// Stores the free pointer of each object in `order` (the last points to NULL), encoded.
void link(FakeMemory& m, const FreePointerCoding& c, const std::vector<int>& order) {
  for (size_t i = 0; i < order.size(); ++i) {
    uint64_t at = object(order[i]) + c.offset;
    uint64_t next = i + 1 < order.size() ? object(order[i + 1]) : 0;
    m.words[at] = c.hardened ? next ^ c.random ^ __builtin_bswap64(at) : next;
  }
}

}  // namespace

TEST(SlubFreelist, PlainPointers) {
  FakeMemory m;
  FreePointerCoding c{kOffset, false, 0};
  link(m, c, {3, 0, 5});
  auto r = decode_freelist(m.reader(), c, object(3), 8);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (std::vector<uint64_t>{object(3), object(0), object(5)}));
}

TEST(SlubFreelist, HardenedPointers) {
  FakeMemory m;
  FreePointerCoding c{kOffset, true, 0x5a5a1234deadbeef};
  link(m, c, {1, 7, 2, 4});
  auto r = decode_freelist(m.reader(), c, object(1), 8);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (std::vector<uint64_t>{object(1), object(7), object(2), object(4)}));
  // Read as plain pointers, the same words lead nowhere readable: an error, not garbage.
  auto plain = decode_freelist(m.reader(), FreePointerCoding{kOffset, false, 0}, object(1), 8);
  EXPECT_FALSE(plain.ok());
}

TEST(SlubFreelist, EmptyList) {
  FakeMemory m;
  auto r = decode_freelist(m.reader(), FreePointerCoding{kOffset, false, 0}, 0, 8);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(SlubFreelist, LoopNamesTheObject) {
  FakeMemory m;
  FreePointerCoding c{kOffset, false, 0};
  link(m, c, {0, 1, 2});
  m.words[object(2) + kOffset] = object(1);  // 2 -> 1 again
  auto r = decode_freelist(m.reader(), c, object(0), 64);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::bad_data);
  EXPECT_NE(r.error().message.find("loops at object 0xffff888000100040"), std::string::npos) << r.error().message;
}

TEST(SlubFreelist, LongerThanTheSlab) {
  FakeMemory m;
  FreePointerCoding c{kOffset, false, 0};
  link(m, c, {0, 1, 2, 3, 4});
  auto r = decode_freelist(m.reader(), c, object(0), 4);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("longer than 4 objects"), std::string::npos) << r.error().message;
  EXPECT_TRUE(decode_freelist(m.reader(), c, object(0), 5).ok());
}

TEST(SlubFreelist, UnreadableObject) {
  FakeMemory m;
  FreePointerCoding c{kOffset, false, 0};
  link(m, c, {0});
  m.words[object(0) + kOffset] = 0xdead000000000000;
  auto r = decode_freelist(m.reader(), c, object(0), 8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::fault);
  EXPECT_NE(r.error().message.find("0xdead000000000000"), std::string::npos) << r.error().message;
}

TEST(SlabObjectStart, ObjectsAndGaps) {
  // 4 objects of 0x40 bytes: [base, base + 0x100); the rest of the page is in no object.
  EXPECT_EQ(slab_object_start(kBase, kBase, 0, kSize, 4), kBase);
  EXPECT_EQ(slab_object_start(kBase + 0x7f, kBase, 0, kSize, 4), kBase + 0x40);
  EXPECT_EQ(slab_object_start(kBase + 0xff, kBase, 0, kSize, 4), kBase + 0xc0);
  EXPECT_EQ(slab_object_start(kBase + 0x100, kBase, 0, kSize, 4), std::nullopt);
  EXPECT_EQ(slab_object_start(kBase - 1, kBase, 0, kSize, 4), std::nullopt);
  EXPECT_EQ(slab_object_start(kBase, kBase, 0, 0, 4), std::nullopt);  // a zero size is no layout
}

TEST(SlabObjectStart, LeftRedZone) {
  // SLAB_RED_ZONE: each object starts red_left_pad bytes into its slot.
  EXPECT_EQ(slab_object_start(kBase + 0x8, kBase, 0x10, kSize, 4), std::nullopt);
  EXPECT_EQ(slab_object_start(kBase + 0x10, kBase, 0x10, kSize, 4), kBase + 0x10);
  EXPECT_EQ(slab_object_start(kBase + 0x4f, kBase, 0x10, kSize, 4), kBase + 0x10);
  EXPECT_EQ(slab_object_start(kBase + 0x50, kBase, 0x10, kSize, 4), kBase + 0x50);
}
