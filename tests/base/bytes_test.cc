#include <gtest/gtest.h>

#include <array>

#include "base/bytes.h"

using namespace coroner;

TEST(ByteView, ReadsWithinBoundsAndFailsPastEnd) {
  std::array<uint8_t, 8> raw{1, 0, 0, 0, 2, 0, 0, 0};
  ByteView v(raw, "test.bin", 0x100);
  EXPECT_EQ(*v.u32(0), 1u);
  EXPECT_EQ(*v.u32(4), 2u);
  auto bad = v.u32(6, "magic");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::bad_data);
  EXPECT_EQ(bad.error().message, "test.bin: magic at offset 0x106 is past the end (0x108 bytes)");
}

TEST(ByteView, SubViewRejectsOverflowingLength) {
  std::array<uint8_t, 8> raw{};
  ByteView v(raw, "f");
  EXPECT_FALSE(v.sub(4, UINT64_MAX, "table"));
  EXPECT_FALSE(v.sub(UINT64_MAX, 2, "table"));
  auto s = v.sub(2, 4, "table");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->base(), 2u);
  EXPECT_EQ(s->size(), 4u);
}

TEST(ByteView, CStringStopsAtLimit) {
  const char text[] = "abc\0def";
  ByteView v(std::span(reinterpret_cast<const uint8_t*>(text), sizeof text), "s");
  EXPECT_EQ(*v.cstr(0, 100), "abc");
  EXPECT_EQ(*v.cstr(4, 2), "de");
}

static Result<int> half(int x) {
  if (x % 2) return Error::make(Errc::bad_data, "{} is odd", x);
  return x / 2;
}
static Result<int> quarter(int x) {
  int h = TRY(half(x));
  return TRY(half(h));
}

TEST(Result, TryPropagatesErrors) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "3 is odd");
}
