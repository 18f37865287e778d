// dev -i's resource trees (kernel::resource_walk) over a fake memory: pre-order with depth,
// names that cannot be read, and an error naming the entry on cycles and unreadable entries.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "kernel/devices.h"

using namespace coroner;
using namespace coroner::kernel;

namespace {

// struct resource as the fake lays it out: start, end, name, sibling, child (8 bytes each).
const ResourceLayout kLayout{.name = 16, .start = 0, .end = 8, .child = 32, .sibling = 24};

struct FakeMemory {
  std::map<uint64_t, uint64_t> words;
  std::map<uint64_t, std::string> strings;
  void resource(uint64_t at, uint64_t start, uint64_t end, std::string name, uint64_t sibling, uint64_t child) {
    uint64_t name_at = 0x900000 + at;
    strings[name_at] = std::move(name);
    words[at + kLayout.start] = start;
    words[at + kLayout.end] = end;
    words[at + kLayout.name] = name_at;
    words[at + kLayout.sibling] = sibling;
    words[at + kLayout.child] = child;
  }
  ReadWord reader() {
    return [this](uint64_t a) -> Result<uint64_t> {
      auto it = words.find(a);
      if (it == words.end()) return Error::make(Errc::fault, "no memory at {:#x}", a);
      return it->second;
    };
  }
  ReadName namer() {
    return [this](uint64_t a) -> std::optional<std::string> {
      auto it = strings.find(a);
      if (it == strings.end()) return std::nullopt;
      return it->second;
    };
  }
};

TEST(ResourceWalk, PreOrderWithDepth) {
  FakeMemory m;
  m.resource(0x1000, 0, 0xffff, "PCI IO", 0, 0x2000);
  m.resource(0x2000, 0, 0xcf7, "PCI Bus 0000:00", 0x3000, 0x4000);
  m.resource(0x4000, 0, 0x1f, "dma1", 0x5000, 0);
  m.resource(0x5000, 0x20, 0x21, "pic1", 0, 0);
  m.resource(0x3000, 0xcf8, 0xcff, "PCI conf1", 0, 0);
  auto r = resource_walk(m.reader(), m.namer(), kLayout, 0x1000);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 5u);
  std::vector<std::string> names;
  std::vector<int> depths;
  for (const auto& e : *r) {
    names.push_back(e.name);
    depths.push_back(e.depth);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"PCI IO", "PCI Bus 0000:00", "dma1", "pic1", "PCI conf1"}));
  EXPECT_EQ(depths, (std::vector<int>{0, 1, 2, 2, 1}));
  EXPECT_EQ((*r)[4].start, 0xcf8u);
  EXPECT_EQ((*r)[4].end, 0xcffu);
  EXPECT_EQ((*r)[4].address, 0x3000u);
}

TEST(ResourceWalk, UnreadableNameIsUnknown) {
  FakeMemory m;
  m.resource(0x1000, 0, 0xffff, "root", 0, 0);
  m.strings.clear();
  auto r = resource_walk(m.reader(), m.namer(), kLayout, 0x1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].name, "(unknown)");
}

TEST(ResourceWalk, ChildPointingAtItselfIsNotFollowed) {
  FakeMemory m;
  m.resource(0x1000, 0, 0xffff, "root", 0, 0x1000);
  auto r = resource_walk(m.reader(), m.namer(), kLayout, 0x1000);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->size(), 1u);
}

TEST(ResourceWalk, SiblingCycleNamesTheEntry) {
  FakeMemory m;
  m.resource(0x1000, 0, 0xffff, "root", 0, 0x2000);
  m.resource(0x2000, 0, 1, "a", 0x3000, 0);
  m.resource(0x3000, 2, 3, "b", 0x2000, 0);
  auto r = resource_walk(m.reader(), m.namer(), kLayout, 0x1000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cycle"), std::string::npos);
  EXPECT_NE(r.error().message.find("0x2000"), std::string::npos);
}

TEST(ResourceWalk, UnreadableEntryNamesTheAddress) {
  FakeMemory m;
  m.resource(0x1000, 0, 0xffff, "root", 0, 0x7000);
  auto r = resource_walk(m.reader(), m.namer(), kLayout, 0x1000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0x7000"), std::string::npos);
}

TEST(ResourceWalk, AbsurdDepthStops) {
  FakeMemory m;
  for (uint64_t i = 0; i < 100; ++i) m.resource(0x1000 * (i + 1), i, i, "r", 0, 0x1000 * (i + 2));
  m.resource(0x1000 * 101, 0, 0, "last", 0, 0);
  auto r = resource_walk(m.reader(), m.namer(), kLayout, 0x1000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("levels"), std::string::npos);
}

}  // namespace
