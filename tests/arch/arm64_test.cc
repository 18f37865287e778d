// arm64 page-table walks over synthesized ELF dumps: every granule and VA size the kernel
// supports (4 KiB with 39/48 bits, 16 KiB with 47/48, 64 KiB with 42/48/52, LPA2 52-bit on
// 4/16 KiB), block entries, 52-bit physical addresses, missing entries, loops, tables outside
// the dump, absurd VMCOREINFO, and the image / linear-map arithmetic.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>

#include "arch/arch.h"
#include "tests/arch/synth_arch.h"
#include "tests/dumpfmt/dump_builder.h"

using namespace coroner;
using namespace coroner::dumpfmt::testing;
using synth::walk_fails;
using synth::walks_to;

namespace {

constexpr uint64_t kPhys = 0x40000000;           // PHYS_OFFSET: RAM starts here
constexpr uint64_t kTableDesc = 0x3;             // VALID | TABLE
constexpr uint64_t kPageDesc = 0x3 | 0x400 | 0x300 | (3ull << 53);  // VALID|PAGE, AF, SHARED, PXN|UXN
constexpr uint64_t kBlockDesc = 0x1 | 0x400 | 0x300;               // VALID (block), AF, SHARED

// A machine with `pages` worth of RAM at kPhys, the kernel image at its start, and a bump
// allocator of page tables after the image.
struct FakeArm64 : synth::Machine {
  uint64_t page;
  int va_bits;
  std::optional<int> t1sz;  // TCR_EL1_T1SZ when the hardware runs with fewer VA bits
  Bytes mem;
  uint64_t next_table;
  uint64_t root;
  std::string extra_vmcoreinfo;
  uint64_t phys_offset = kPhys;  // NUMBER(PHYS_OFFSET): memstart_addr, "negative" with KASLR

  FakeArm64(uint64_t page_size, int bits, std::optional<int> t1 = std::nullopt, size_t ram_pages = 24)
      : page(page_size), va_bits(bits), t1sz(t1), mem(ram_pages * page_size, 0) {
    root = kPhys + 2 * page;  // swapper_pg_dir: two pages into the image
    next_table = root + page;
  }
  int shift() const { return __builtin_ctzll(page); }
  int actual_bits() const { return t1sz ? 64 - *t1sz : va_bits; }
  int walk_bits() const { return page == 65536 ? va_bits : actual_bits(); }
  int levels() const { return (walk_bits() - shift() + shift() - 4) / (shift() - 3); }
  int level_shift(int i) const { return shift() + (levels() - 1 - i) * (shift() - 3); }
  uint64_t page_end() const { return ~0ull << ((va_bits > 48 ? 48 : va_bits) - 1); }
  uint64_t page_offset() const { return ~0ull << va_bits; }
  uint64_t image_va() const { return page_end() + 0x80000000ull; }  // like 6.x's KIMAGE_VADDR
  uint64_t kimage_voffset() const { return image_va() - kPhys; }
  // A vmalloc-like address: above the image, in the upper half of the kernel range.
  uint64_t vmalloc(uint64_t off) const { return page_end() + (1ull << 36) + off; }

  void put(uint64_t paddr, uint64_t value) {
    ASSERT_GE(paddr, kPhys);
    ASSERT_LE(paddr - kPhys + 8, mem.size());
    std::memcpy(mem.data() + (paddr - kPhys), &value, 8);
  }
  uint64_t get(uint64_t paddr) const {
    uint64_t v = 0;
    std::memcpy(&v, mem.data() + (paddr - kPhys), 8);
    return v;
  }
  uint64_t index(uint64_t va, int level) const {
    int bits = level == 0 ? walk_bits() - level_shift(0) : shift() - 3;
    return (va >> level_shift(level)) & ((1ull << bits) - 1);
  }
  uint64_t entry_paddr(uint64_t va, int level) {
    uint64_t table = root;
    for (int i = 0; i < level; ++i) {
      uint64_t e = get(table + index(va, i) * 8);
      if (!e) {
        e = next_table | kTableDesc;
        next_table += page;
        put(table + index(va, i) * 8, e);
      }
      table = e & ((1ull << 48) - 1) & ~(page - 1);
    }
    return table + index(va, level) * 8;
  }
  // Maps `va` with a descriptor at `level` (levels() - 1 for a page, higher for a block).
  void map(uint64_t va, int level, uint64_t descriptor) { put(entry_paddr(va, level), descriptor); }

  std::string vmcoreinfo() const {
    std::string text = fmt::format("OSRELEASE=6.12.0-test\nPAGESIZE={}\nNUMBER(VA_BITS)={}\nNUMBER(kimage_voffset)={:#x}\nNUMBER(PHYS_OFFSET)={:#x}\n",
                                   page, va_bits, kimage_voffset(), phys_offset);
    if (t1sz) text += fmt::format("NUMBER(TCR_EL1_T1SZ)={:#x}\n", *t1sz);
    return text + extra_vmcoreinfo;
  }
  synth::Symbols symbols() const {
    return {{"swapper_pg_dir", image_va() + (root - kPhys)}, {"_text", image_va()}, {"_stext", image_va() + page}, {"_end", image_va() + 2 * page + page}};
  }
  void open() { ASSERT_TRUE(Machine::open(EM_AARCH64, kPhys, mem, vmcoreinfo(), symbols())); }
  Result<std::unique_ptr<arch::Arch>> make(dumpfmt::Dump& d) {
    return arch::make_arch(EM_AARCH64, d, synth::kernel_facts(symbols(), d.info().vmcoreinfo));
  }
};

struct Config {
  uint64_t page;
  int va_bits;
  std::optional<int> t1sz;
  int levels;
  std::vector<std::string> names;
};

class Arm64Granules : public ::testing::TestWithParam<Config> {};

TEST_P(Arm64Granules, PageWalkRecordsEveryLevel) {
  const Config& c = GetParam();
  FakeArm64 m(c.page, c.va_bits, c.t1sz);
  ASSERT_EQ(m.levels(), c.levels);
  uint64_t v = m.vmalloc(5 * c.page + 0x123);
  uint64_t data = kPhys + 20 * c.page;
  bool lpa2 = c.page != 65536 && m.actual_bits() == 52;  // bits [9:8] are address bits, not SHARED
  m.map(v, m.levels() - 1, data | (lpa2 ? kPageDesc & ~0x300ull : kPageDesc));
  m.open();
  EXPECT_EQ(m.arch->page_size(), c.page);
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(walks_to(*m.arch, v, data + 0x123, &steps));
  ASSERT_EQ(steps.size(), c.names.size());
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i].level, c.names[i]);
  EXPECT_EQ(steps[0].entry_paddr, m.root + m.index(v, 0) * 8);
  EXPECT_EQ(steps.back().page_size, c.page);
  EXPECT_EQ(steps[0].page_size, 0u);
  auto k = m.arch->kvtop(v);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(*k, data + 0x123);
  EXPECT_FALSE(m.arch->linear_vtop(v));  // vmalloc needs the walk
}

INSTANTIATE_TEST_SUITE_P(
    AllGranules, Arm64Granules,
    ::testing::Values(Config{4096, 39, {}, 3, {"PGD", "PMD", "PTE"}}, Config{4096, 48, {}, 4, {"PGD", "PUD", "PMD", "PTE"}},
                      Config{16384, 47, {}, 3, {"PGD", "PMD", "PTE"}}, Config{16384, 48, {}, 4, {"PGD", "PUD", "PMD", "PTE"}},
                      Config{65536, 42, {}, 2, {"PGD", "PTE"}}, Config{65536, 48, {}, 3, {"PGD", "PMD", "PTE"}},
                      Config{65536, 52, {}, 3, {"PGD", "PMD", "PTE"}},
                      Config{65536, 52, 16, 3, {"PGD", "PMD", "PTE"}},  // 52-bit kernel on 48-bit hardware
                      Config{4096, 52, {}, 5, {"PGD", "P4D", "PUD", "PMD", "PTE"}},  // LPA2
                      Config{4096, 52, 16, 4, {"PGD", "PUD", "PMD", "PTE"}},         // LPA2 kernel, 48-bit CPU
                      Config{16384, 52, {}, 4, {"PGD", "PUD", "PMD", "PTE"}}),
    [](const ::testing::TestParamInfo<Config>& i) {
      return fmt::format("{}K_{}bit{}", i.param.page / 1024, i.param.va_bits, i.param.t1sz ? "_on48" : "");
    });

TEST(Arm64Walk, BlocksAtPudAndPmdFor4K) {
  FakeArm64 m(4096, 48, std::nullopt, 64);
  uint64_t v2m = m.vmalloc((3ull << 21) + 0x12345);
  m.map(v2m, 2, 0x80000000ull | kBlockDesc);
  uint64_t v1g = m.vmalloc((5ull << 30) + 0x1234567);
  m.map(v1g, 1, 0xc0000000ull | kBlockDesc);
  m.open();
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(walks_to(*m.arch, v2m, 0x80000000ull + 0x12345, &steps));
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps.back().level, "PMD");
  EXPECT_EQ(steps.back().page_size, 2ull << 20);
  EXPECT_EQ(m.arch->pte_flags(steps.back().entry), "VALID|SHARED|AF");
  ASSERT_TRUE(walks_to(*m.arch, v1g, 0xc0000000ull + 0x1234567, &steps));
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps.back().level, "PUD");
  EXPECT_EQ(steps.back().page_size, 1ull << 30);
}

TEST(Arm64Walk, BlocksFor16KAnd64K) {
  FakeArm64 m16(16384, 48);
  uint64_t v = m16.vmalloc((7ull << 25) + 0x54321);
  m16.map(v, 2, 0x100000000ull | kBlockDesc);
  m16.open();
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(walks_to(*m16.arch, v, 0x100000000ull + 0x54321, &steps));
  EXPECT_EQ(steps.back().page_size, 32ull << 20);

  FakeArm64 m64(65536, 48);
  v = m64.vmalloc((3ull << 29) + 0x7654321);
  m64.map(v, 1, 0x200000000ull | kBlockDesc);
  m64.open();
  ASSERT_TRUE(walks_to(*m64.arch, v, 0x200000000ull + 0x7654321, &steps));
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps.back().level, "PMD");
  EXPECT_EQ(steps.back().page_size, 512ull << 20);
}

TEST(Arm64Walk, FiftyTwoBitPhysicalAddresses) {
  // 64 KiB granule: PA[51:48] in descriptor bits [15:12].
  FakeArm64 m(65536, 52);
  uint64_t v = m.vmalloc(0x30000 + 0x42);
  m.map(v, 2, 0x0000123456780000ull | (0x9ull << 12) | kPageDesc);
  m.open();
  ASSERT_TRUE(walks_to(*m.arch, v, 0x0009123456780000ull + 0x42));

  // LPA2 with 4 KiB pages: PA[51:50] in bits [9:8] (which are no longer shareability).
  FakeArm64 l(4096, 52);
  v = l.vmalloc(0x7000 + 0x24);
  l.map(v, 4, 0x0002345678901000ull | (0x3ull << 8) | 0x403);
  l.open();
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(walks_to(*l.arch, v, 0x000e345678901000ull + 0x24, &steps));
  EXPECT_EQ(l.arch->pte_flags(steps.back().entry), "VALID|AF");
}

TEST(Arm64Walk, MissingEntryStopsAtItsLevel) {
  FakeArm64 m(4096, 48);
  uint64_t v = m.vmalloc(0x9000);
  m.entry_paddr(v, 2);  // builds PGD and PUD entries; the PMD entry stays 0
  m.open();
  std::vector<arch::WalkStep> steps;
  ASSERT_TRUE(walk_fails(*m.arch, v, Errc::fault, {"PMD not present"}, &steps));
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps.back().entry, 0u);
  EXPECT_FALSE(m.arch->kvtop(v));
}

TEST(Arm64Walk, EntryPointingBackUpIsALoop) {
  FakeArm64 m(4096, 48);
  uint64_t v = m.vmalloc(0xb000);
  m.map(v, 2, m.root | kTableDesc);  // the PMD entry names the PGD as the PTE table
  m.open();
  ASSERT_TRUE(walk_fails(*m.arch, v, Errc::bad_data,
                         {fmt::format("page-table loop: the PMD entry {:#x} points back to the PGD table at physical {:#x}",
                                      m.root | kTableDesc, m.root)}));
}

TEST(Arm64Walk, TableOutsideTheDumpAndAbsurdBlocksAreNamed) {
  FakeArm64 m(4096, 48);
  uint64_t v = m.vmalloc(0xd000);
  m.map(v, 2, 0x7fff000000ull | kTableDesc);  // a PTE table far beyond memory
  uint64_t w = m.vmalloc(1ull << 40);
  m.map(w, 0, 0x80000000ull | kBlockDesc);    // a 512 GiB block: not allowed without LPA2
  m.open();
  ASSERT_TRUE(walk_fails(*m.arch, v, std::nullopt, {"PTE entry at physical 0x7fff000", "table from the PMD entry"}));
  EXPECT_TRUE(walk_fails(*m.arch, w, Errc::bad_data, {"the PGD entry 0x80000701"}));
}

TEST(Arm64Linear, ImageAndLinearMapByArithmeticOthersByWalk) {
  FakeArm64 m(4096, 48);
  m.open();
  arch::Arch& a = *m.arch;
  EXPECT_EQ(a.name(), "arm64");
  EXPECT_EQ(a.kernel_root(), m.root);
  EXPECT_EQ(a.linear_vtop(m.image_va() + m.page + 0x10), kPhys + m.page + 0x10);  // __kimg_to_phys
  EXPECT_FALSE(a.linear_vtop(m.image_va() + 0x10));  // [_text, _stext): left to vmalloc, walked
  EXPECT_EQ(a.linear_vtop(m.page_offset() + 0x5000), kPhys + 0x5000);        // __lm_to_phys
  EXPECT_EQ(a.ptov(kPhys + 0x5000), m.page_offset() + 0x5000);
  EXPECT_FALSE(a.ptov(kPhys - 0x1000));
  EXPECT_FALSE(a.linear_vtop(m.page_end()));  // modules, vmalloc, vmemmap: walked
  EXPECT_FALSE(a.linear_vtop(0x400000));
  EXPECT_TRUE(a.is_user_vaddr(0x400000));
  EXPECT_FALSE(a.is_kernel_vaddr(0x400000));
  EXPECT_TRUE(a.is_kernel_vaddr(m.page_offset()));
  // Both translations of the same byte agree.
  auto via_image = a.kvtop(m.image_va() + 0x2008), via_linear = a.kvtop(*a.ptov(kPhys + 0x2008));
  ASSERT_TRUE(via_image && via_linear);
  EXPECT_EQ(*via_image, *via_linear);
  EXPECT_EQ(a.pte_flags(0x00e8000040000f13ull), "VALID|SHARED|AF|NG|PXN|UXN|DIRTY");
  EXPECT_EQ(a.pte_flags((1ull << 58) | 0x40), "PROT_NONE|USER");
}

TEST(Arm64Linear, RandomizedLinearMapWithNegativePhysOffset) {
  // arm64 KASLR lowers memstart_addr below 0 (VMCOREINFO NUMBER(PHYS_OFFSET)=0xffff....), so
  // __lm_to_phys and __phys_to_virt wrap modulo 2^64, and vmemmap shifts it arithmetically.
  FakeArm64 m(4096, 48);
  m.phys_offset = 0xffffd9dcc0000000ull;
  constexpr uint64_t kVmemmapStart = 0xfffffc0000000000ull;
  m.extra_vmcoreinfo = fmt::format("NUMBER(VMEMMAP_START)={:#x}\n", kVmemmapStart);
  m.open();
  arch::Arch& a = *m.arch;
  auto v = a.ptov(kPhys + 0x1234);
  ASSERT_TRUE(v);
  EXPECT_GE(*v, m.page_offset());
  EXPECT_LT(*v, m.page_end());
  EXPECT_EQ(*v, kPhys + 0x1234 - m.phys_offset + m.page_offset());
  EXPECT_EQ(a.linear_vtop(*v), kPhys + 0x1234);
  auto vmemmap = a.vmemmap(64);
  ASSERT_TRUE(vmemmap);
  uint64_t pfn = kPhys >> 12;
  EXPECT_EQ(*vmemmap + pfn * 64, kVmemmapStart + ((kPhys - m.phys_offset) >> 12) * 64);
  // Both translations of one byte of the kernel image agree.
  auto via_image = a.kvtop(m.image_va() + 0x2010), via_linear = a.kvtop(*a.ptov(kPhys + 0x2010));
  ASSERT_TRUE(via_image && via_linear);
  EXPECT_EQ(*via_image, *via_linear);
}

TEST(Arm64Facts, MissingOrAbsurdVmcoreinfoIsRefused) {
  FakeArm64 m(4096, 48);
  m.open();
  ElfSpec spec;
  spec.machine = EM_AARCH64;
  spec.loads.push_back({kPhys, Bytes(4096, 0)});
  spec.vmcoreinfo = "PAGESIZE=4096\nNUMBER(VA_BITS)=60\nNUMBER(PHYS_OFFSET)=0x40000000\n";
  auto d = open_bytes({build_elf(spec)});
  ASSERT_TRUE(d);
  auto a = m.make(**d);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("NUMBER(VA_BITS)=60"), std::string::npos) << a.error().message;
  spec.vmcoreinfo = "PAGESIZE=8192\nNUMBER(VA_BITS)=48\nNUMBER(PHYS_OFFSET)=0x40000000\n";
  d = open_bytes({build_elf(spec)});
  ASSERT_TRUE(d);
  a = m.make(**d);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("page size 8192"), std::string::npos) << a.error().message;
  spec.vmcoreinfo = "PAGESIZE=4096\nNUMBER(PHYS_OFFSET)=0x40000000\n";
  d = open_bytes({build_elf(spec)});
  ASSERT_TRUE(d);
  a = m.make(**d);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("NUMBER(VA_BITS)"), std::string::npos) << a.error().message;
}

}  // namespace
