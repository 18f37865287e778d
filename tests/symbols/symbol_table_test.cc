#include <gtest/gtest.h>

#include <string>
#include <vector>

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

// The name index is an open-addressing table: every one of many names (long probe runs, the
// table's wrap-around), each repeated, is found, and only under its own name.
TEST(SymbolTable, EveryNameOfALargeTableIsFound) {
  SymbolTable t;
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back("sym_" + std::to_string(i));
  for (int i = 0; i < 5000; ++i) {
    uint64_t a = 0xffffffff81000000 + 16 * static_cast<uint64_t>(i);
    t.add({names[i], a, 16, 't', true});
    if (i % 7 == 0) t.add({names[i], a + 0x100000, 16, 'T', true});  // a global twin, higher up
  }
  t.finish();
  for (int i = 0; i < 5000; ++i) {
    const Symbol* s = t.find(names[i]);
    ASSERT_NE(s, nullptr) << names[i];
    EXPECT_EQ(s->name, names[i]);
    // The global definition wins over the local one of the same name.
    EXPECT_EQ(s->type, i % 7 == 0 ? 'T' : 't') << names[i];
    EXPECT_EQ(t.find_all(names[i]).size(), i % 7 == 0 ? 2u : 1u) << names[i];
  }
  EXPECT_EQ(t.find("sym_5000"), nullptr);
  EXPECT_EQ(t.find(""), nullptr);
  EXPECT_TRUE(t.find_all("sym_").empty());
}

TEST(SymbolTable, AnEmptyTableFindsNothing) {
  SymbolTable t;
  t.finish();
  EXPECT_EQ(t.find("schedule"), nullptr);
  EXPECT_TRUE(t.find_all("schedule").empty());
  SymbolTable never_finished;
  EXPECT_EQ(never_finished.find("schedule"), nullptr);
}
