// kernel::mapping_pages() on a pre-4.20 page cache: the radix tree found from the types of a
// synthesized kernel (BTF: address_space.i_pages as a struct radix_tree_root in the 4.17-4.19
// form, address_space.page_tree in the pre-4.7 form), its layout (radix_tree_node.shift or
// radix_tree_root.height, slots[]'s length) from the same types, and the tree in the fake
// kernel image: struct pages in index order, exceptional entries skipped.
#include <bpf/btf.h>
#include <elf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>

#include "kernel/kernel.h"
#include "kernel/pagecache.h"
#include "kernel/radix_tree.h"
#include "tests/dumpfmt/dump_builder.h"
#include "tests/kernel/synth_kernel.h"

using namespace coroner;
using coroner::synth::Bytes;
using coroner::kernel::Kernel;

namespace {

constexpr uint64_t kLinkText = 0xffffffff81000000ull;
constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;
constexpr uint64_t kImageSize = 0x10000;
constexpr uint64_t kMapping = kLinkText + 0x2000;  // struct address_space
constexpr uint64_t kTreeOff = 8;                    // its i_pages / page_tree
constexpr uint64_t kTop = kLinkText + 0x3000, kLeaf = kLinkText + 0x4000;
constexpr uint64_t kNodeSlots = 40, kSlots = 64;

// The types: 4.17-4.19 (`modern`: node.shift, i_pages) or pre-4.7 (root.height, page_tree).
Bytes make_btf(bool modern) {
  struct btf* b = btf__new_empty();
  int u8 = btf__add_int(b, "unsigned char", 1, 0);
  int u32 = btf__add_int(b, "unsigned int", 4, 0);
  int u64 = btf__add_int(b, "long unsigned int", 8, 0);
  int vp = btf__add_ptr(b, 0);
  int root = btf__add_struct(b, "radix_tree_root", 16);
  if (modern) {
    btf__add_field(b, "gfp_mask", u32, 0, 0);
  } else {
    btf__add_field(b, "height", u32, 0, 0);
    btf__add_field(b, "gfp_mask", u32, 32, 0);
  }
  btf__add_field(b, "rnode", vp, 64, 0);  // struct radix_tree_node * (its type is not read)
  int slots = btf__add_array(b, u32, vp, static_cast<uint32_t>(kSlots));
  btf__add_struct(b, "radix_tree_node", static_cast<uint32_t>(kNodeSlots + 8 * kSlots));
  if (modern) btf__add_field(b, "shift", u8, 0, 0);
  else btf__add_field(b, "path", u32, 0, 0);
  btf__add_field(b, "slots", slots, static_cast<uint32_t>(8 * kNodeSlots), 0);
  btf__add_struct(b, "address_space", 32);
  btf__add_field(b, "host", vp, 0, 0);
  btf__add_field(b, modern ? "i_pages" : "page_tree", root, static_cast<uint32_t>(8 * kTreeOff), 0);
  btf__add_field(b, "nrpages", u64, 192, 0);
  return synth::btf_bytes(b);
}

struct FakeKernel {
  Bytes image = Bytes(kImageSize, 0);
  synth::SynthKernel synth;
  void put(uint64_t addr, uint64_t value) { std::memcpy(image.data() + (addr - kLinkText), &value, 8); }
  void slot(uint64_t node, uint32_t i, uint64_t v) { put(node + kNodeSlots + 8 * i, v); }
  Kernel& open(bool modern) {
    synth::VmlinuxSpec v;
    v.symbols.push_back({"_text", kLinkText, 0, STT_NOTYPE, 1});
    v.symbols.push_back({"_stext", kLinkText, 0, STT_NOTYPE, 1});
    v.symbols.push_back({"init_top_pgt", kLinkText + 0x1000, 0x1000, STT_OBJECT, 2});
    v.symbols.push_back({"_end", kLinkText + kImageSize, 0, STT_NOTYPE, 2});
    v.sections = {
        {".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, kLinkText, Bytes(image.begin(), image.begin() + 0x1000)},
        {".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, kLinkText + 0x1000, Bytes(image.begin() + 0x1000, image.end())},
        {".BTF", SHT_PROGBITS, 0, 0, make_btf(modern)},
    };
    dumpfmt::testing::ElfSpec spec;
    spec.loads.push_back({kLinkText - kStartKernelMap, image});
    spec.vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=0\nKERNELOFFSET=0\n";
    return synth.open("coroner-pagecache-radix-test", v, spec);
  }
};

TEST(PageCacheRadix, ShiftLayoutFromTheTypes) {
  FakeKernel f;
  f.put(kMapping + kTreeOff + 8, kTop | 1);  // rnode: an internal node
  f.put(kTop, 6);                             // shift
  f.put(kLeaf, 0);
  f.slot(kTop, 0, 0xffffea0000001000);       // index 0
  f.slot(kTop, 1, kLeaf | 1);                // 64..127
  f.slot(kLeaf, 2, 0xffffea0000002000);      // index 66
  f.slot(kLeaf, 3, (5ull << 2) | 2);         // a shadow entry: skipped
  Kernel& k = f.open(true);
  auto layout = kernel::radix_layout(k);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_TRUE(layout->shift_nodes);
  EXPECT_EQ(layout->map_size, 64u);
  EXPECT_EQ(layout->map_shift, 6u);
  EXPECT_EQ(layout->node_slots, kNodeSlots);
  auto pc = kernel::mapping_pages(k, kMapping);
  ASSERT_TRUE(pc) << pc.error().message;
  EXPECT_FALSE(pc->xarray);
  ASSERT_EQ(pc->pages.size(), 2u);
  EXPECT_EQ(pc->pages[0].index, 0u);
  EXPECT_EQ(pc->pages[1].index, 66u);
  EXPECT_EQ(pc->pages[1].page, 0xffffea0000002000u);
}

TEST(PageCacheRadix, HeightLayoutFromTheTypes) {
  FakeKernel f;
  f.put(kMapping + kTreeOff, 2);             // root.height
  f.put(kMapping + kTreeOff + 8, kTop | 1);  // RADIX_TREE_INDIRECT_PTR
  f.slot(kTop, 3, kLeaf);                    // a plain node pointer
  f.slot(kLeaf, 4, 0xffffea0000003000);      // index 3 * 64 + 4
  Kernel& k = f.open(false);
  auto layout = kernel::radix_layout(k);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_FALSE(layout->shift_nodes);
  auto pc = kernel::mapping_pages(k, kMapping);
  ASSERT_TRUE(pc) << pc.error().message;
  EXPECT_FALSE(pc->xarray);
  ASSERT_EQ(pc->pages.size(), 1u);
  EXPECT_EQ(pc->pages[0].index, 196u);
}

TEST(PageCacheRadix, GarbageNodeNamesIt) {
  FakeKernel f;
  f.put(kMapping + kTreeOff + 8, 0xffff888012340000ull | 1);  // outside the dump
  Kernel& k = f.open(true);
  auto pc = kernel::mapping_pages(k, kMapping);
  ASSERT_FALSE(pc);
  EXPECT_NE(pc.error().message.find("ffff888012340000"), std::string::npos) << pc.error().message;
}

}  // namespace
