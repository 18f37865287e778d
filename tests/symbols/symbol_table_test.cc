#include <gtest/gtest.h>

#include "symbols/symbol_table.h"

using namespace coroner::symbols;

namespace {
SymbolTable table() {
  SymbolTable t;
  t.add({"jiffies_64", 0xffffffff82000000, 8, 'D', true});
  t.add({"jiffies", 0xffffffff82000000, 8, 'D', true});
  t.add({"schedule", 0xffffffff81000100, 0x80, 'T', true});
  t.add({"helper", 0xffffffff81000200, 0x10, 't', true});
  t.add({"helper", 0xffffffff81000300, 0x10, 't', true});
  t.add({"runqueues", 0x31980, 0, 'D', false});
  t.finish();
  return t;
}
}  // namespace

TEST(SymbolTable, RelocationMovesOnlyKernelImageSymbols) {
  SymbolTable t = table();
  t.set_relocation(0x2000000);
  EXPECT_EQ(t.address_of("schedule").value(), 0xffffffff83000100u);
  EXPECT_EQ(t.address_of("runqueues").value(), 0x31980u);
}

TEST(SymbolTable, AddressLookupGivesSymbolAndOffset) {
  SymbolTable t = table();
  t.set_relocation(0x1000);
  auto hit = t.lookup(0xffffffff81001105);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->symbol->name, "schedule");
  EXPECT_EQ(hit->offset, 5u);
}

TEST(SymbolTable, EqualAddressesResolveToTheLastByNameLikeCrash) {
  SymbolTable t = table();
  auto hit = t.lookup(0xffffffff82000004);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->symbol->name, "jiffies_64");
  EXPECT_EQ(hit->offset, 4u);
}

TEST(SymbolTable, DuplicateNamesAreAllFound) {
  SymbolTable t = table();
  auto all = t.find_all("helper");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_LT(all[0]->link_addr, all[1]->link_addr);
  EXPECT_EQ(t.find("nothing"), nullptr);
}
