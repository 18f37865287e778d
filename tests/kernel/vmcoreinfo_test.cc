#include <gtest/gtest.h>

#include "dumpfmt/dump.h"

using coroner::dumpfmt::VmcoreInfo;

TEST(VmcoreInfo, ParsesTheKernelsKeyValueLines) {
  VmcoreInfo vi(
      "OSRELEASE=6.1.0-56-cloud-amd64\nBUILD-ID=abcdef\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a13360\n"
      "OFFSET(list_head.next)=0\nSIZE(page)=64\nNUMBER(phys_base)=-1046478848\nKERNELOFFSET=2c000000\nNUMBER(bad)=12x\nnoequals\n");
  EXPECT_EQ(vi.get("OSRELEASE").value(), "6.1.0-56-cloud-amd64");
  EXPECT_EQ(vi.number("PAGESIZE").value(), 4096u);
  EXPECT_EQ(vi.symbol("init_uts_ns").value(), 0xffffffff82a13360u);
  EXPECT_EQ(vi.offset("list_head.next").value(), 0u);
  EXPECT_EQ(vi.size("page").value(), 64u);
  EXPECT_EQ(static_cast<int64_t>(vi.number("NUMBER(phys_base)").value()), -1046478848);
  EXPECT_EQ(vi.number("KERNELOFFSET", 16).value(), 0x2c000000u);
  EXPECT_FALSE(vi.number("NUMBER(bad)"));
  EXPECT_FALSE(vi.get("noequals"));
  EXPECT_FALSE(vi.get("MISSING"));
}

TEST(VmcoreInfo, EmptyAndTruncatedText) {
  EXPECT_TRUE(VmcoreInfo("").empty());
  VmcoreInfo vi("OSRELEASE=6.1");  // no final newline
  EXPECT_EQ(vi.get("OSRELEASE").value(), "6.1");
}
