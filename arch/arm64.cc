// arm64 (AArch64) address translation: the kernel's TTBR1 tables rooted at swapper_pg_dir,
// for the 4 KiB, 16 KiB and 64 KiB granules with 2 to 5 levels, block (section) entries at
// every table level, 52-bit physical addresses (64 KiB: PA[51:48] in entry bits [15:12];
// LPA2 on 4/16 KiB, 6.9+: PA[51:50] in bits [9:8]), and the two regions translated by
// arithmetic: the kernel image (__kimg_to_phys: vaddr - kimage_voffset, 4.6+) and the linear
// map (__lm_to_phys: vaddr - PAGE_OFFSET + PHYS_OFFSET).
//
// Layout facts come from VMCOREINFO (arch/arm64/kernel/crash_core.c, vmcore_info.c since
// 6.9): NUMBER(VA_BITS) (the configured VA size), NUMBER(kimage_voffset),
// NUMBER(PHYS_OFFSET) (4.12+), NUMBER(TCR_EL1_T1SZ) (5.8+; 64 - the VA size the hardware
// runs with), PAGESIZE. The layout rules are those of the "flipped" kernel VA space (5.4,
// commit 14c127c957c1: the linear map in the lower half of the kernel range); the older
// layout (linear map in the upper half) is recognised by where the kernel image lies.
// docs/arm64.md says what older kernels would need.
#include <elf.h>

#include <unordered_map>

#include "arch/arch.h"

namespace coroner::arch {
namespace {

// Descriptor bits (arch/arm64/include/asm/pgtable-hwdef.h, pgtable-prot.h).
constexpr uint64_t kValid = 1ull << 0;
constexpr uint64_t kTableBit = 1ull << 1;  // table (levels above the last) or page (last level)
constexpr uint64_t kOutputMask48 = (1ull << 48) - 1;

// crash 9's arm64_translate_pte() names, in its print order (the software bits are Linux's:
// PTE_DIRTY 55, PTE_SPECIAL 56, PTE_PROT_NONE 58; crash's FILE bit is 0 for 4.0+ kernels).
constexpr struct {
  uint64_t bit;
  const char* name;
} kEntryFlags[] = {{1ull << 0, "VALID"},  {1ull << 58, "PROT_NONE"}, {1ull << 6, "USER"},   {1ull << 7, "RDONLY"},
                   {3ull << 8, "SHARED"}, {1ull << 10, "AF"},       {1ull << 11, "NG"},    {1ull << 53, "PXN"},
                   {1ull << 54, "UXN"},   {1ull << 55, "DIRTY"},    {1ull << 56, "SPECIAL"}};

struct Geometry {
  int page_shift = 12;  // 12, 14 or 16
  int walk_bits = 48;   // VA bits the walk indexes with
  int levels = 4;       // 2 to 5
  bool pa52_64k = false;  // 64 KiB granule: PA[51:48] in entry bits [15:12]
  bool lpa2 = false;      // 4/16 KiB granule with FEAT_LPA2: PA[51:50] in bits [9:8]
};

struct Layout {
  int va_bits = 48;            // NUMBER(VA_BITS): the configured size
  bool flipped = true;         // 5.4+: linear map in the lower half of the kernel range
  uint64_t page_offset = 0;    // start of the linear map
  uint64_t linear_end = 0;     // end of the linear map (PAGE_END), exclusive; 0 = top of memory
  uint64_t phys_offset = 0;    // PHYS_OFFSET (memstart_addr)
  uint64_t kimage_voffset = 0; // kernel image VA - PA (4.6+); 0 when the image is in the linear map
  uint64_t image_start = 0, image_end = 0;  // [_stext, _end)
  uint64_t vmemmap_start = 0;  // VMEMMAP_START
};

class Arm64 final : public Arch {
 public:
  Arm64(dumpfmt::Dump& dump, Geometry g, Layout l, uint64_t root_paddr)
      : dump_(dump), g_(g), l_(l), root_paddr_(root_paddr) {}

  std::string_view name() const override { return "arm64"; }
  uint16_t machine() const override { return EM_AARCH64; }
  uint64_t page_size() const override { return 1ull << g_.page_shift; }

  Result<uint64_t> kvtop(uint64_t vaddr) override {
    if (auto p = linear_vtop(vaddr)) return *p;
    uint64_t mask = page_size() - 1;
    uint64_t page = vaddr & ~mask;
    if (auto it = tlb_.find(page); it != tlb_.end()) return it->second | (vaddr & mask);
    uint64_t phys = TRY(walk(root_paddr_, vaddr, nullptr));
    if (tlb_.size() > 65536) tlb_.clear();
    tlb_.emplace(page, phys & ~mask);
    return phys;
  }

  Result<uint64_t> walk(uint64_t root, uint64_t vaddr, std::vector<WalkStep>* steps) override {
    const int n = g_.levels;
    const int bits_per_level = g_.page_shift - 3;
    // Level names as crash prints them: the folded levels are left out.
    static constexpr const char* kNames5[] = {"PGD", "P4D", "PUD", "PMD", "PTE"};
    static constexpr const char* kNames4[] = {"PGD", "PUD", "PMD", "PTE"};
    static constexpr const char* kNames3[] = {"PGD", "PMD", "PTE"};
    static constexpr const char* kNames2[] = {"PGD", "PTE"};
    const char* const* names = n == 5 ? kNames5 : n == 4 ? kNames4 : n == 3 ? kNames3 : kNames2;
    uint64_t table = root & ~(page_size() - 1) & table_mask();
    uint64_t tables[5] = {};
    uint64_t prev_entry = 0;
    for (int i = 0; i < n; ++i) {
      int shift = g_.page_shift + (n - 1 - i) * bits_per_level;
      // The top level indexes the remaining VA bits (fewer than a full table: 48-bit VA with
      // 4 KiB pages gives 512 entries, 39-bit with 64 KiB 8 entries).
      int index_bits = i == 0 ? g_.walk_bits - shift : bits_per_level;
      for (int j = 0; j < i; ++j)
        if (tables[j] == table)
          return Error::make(Errc::bad_data,
                             "cannot translate {:#x}: page-table loop: the {} entry {:#x} points back to the {} table at physical {:#x}",
                             vaddr, names[i - 1], prev_entry, names[j], table);
      tables[i] = table;
      uint64_t idx = (vaddr >> shift) & ((1ull << index_bits) - 1);
      uint64_t entry_paddr = table + idx * 8;
      uint64_t entry = 0;
      auto r = dump_.read(entry_paddr, std::span(reinterpret_cast<uint8_t*>(&entry), 8));
      if (!r) {
        std::string from = i == 0 ? "the root" : fmt::format("the {} entry", names[i - 1]);
        return Error::fault(vaddr, fmt::format("cannot translate {:#x}: {} entry at physical {:#x} (table from {}): {}", vaddr,
                                               names[i], entry_paddr, from, r.error().message));
      }
      if (steps) steps->push_back({names[i], entry_paddr, entry});
      if (!(entry & kValid))
        return Error::fault(vaddr, fmt::format("invalid kernel virtual address: {:#x}  ({} not present)", vaddr, names[i]));
      bool last = i == n - 1;
      if (last || !(entry & kTableBit)) {
        // A page (last level) or a block: 1 GiB / 2 MiB for 4 KiB pages, 32 MiB for 16 KiB,
        // 512 MiB (and 4 TiB with 52-bit PA) for 64 KiB. The contiguous hint (bit 52) does not
        // change the translation.
        if (!last && shift > max_block_shift())
          return Error::make(Errc::bad_data, "cannot translate {:#x}: the {} entry {:#x} at physical {:#x} is a block of 2^{} bytes, larger than the granule allows",
                             vaddr, names[i], entry, entry_paddr, shift);
        uint64_t mask = (1ull << shift) - 1;
        if (steps) steps->back().page_size = mask + 1;
        return (entry_address(entry) & ~mask) | (vaddr & mask);
      }
      prev_entry = entry;
      table = entry_address(entry);
    }
    return table;  // not reached: the last level always returns
  }

  std::optional<uint64_t> ptov(uint64_t paddr) const override {
    // __phys_to_virt(): ((x) - PHYS_OFFSET) | PAGE_OFFSET. PHYS_OFFSET (memstart_addr) may be
    // "negative" when KASLR randomizes the linear map (4.6+) or a 52-bit kernel runs on 48-bit
    // hardware (5.11+), so the arithmetic wraps; the result must land in the linear map.
    uint64_t v = (paddr - l_.phys_offset) | l_.page_offset;
    if (l_.linear_end && v >= l_.linear_end) return std::nullopt;
    if (v - l_.page_offset + l_.phys_offset != paddr) return std::nullopt;
    return v;
  }

  uint64_t kernel_root() const override { return root_paddr_; }
  // The kernel (TTBR1) half: the top va_bits of the address space.
  bool is_kernel_vaddr(uint64_t vaddr) const override { return vaddr >= kernel_base(); }
  bool is_user_vaddr(uint64_t vaddr) const override { return vaddr < (1ull << l_.va_bits); }

  std::optional<uint64_t> linear_vtop(uint64_t vaddr) const override {
    if (l_.kimage_voffset && vaddr >= l_.image_start && vaddr < l_.image_end) return vaddr - l_.kimage_voffset;
    if (vaddr >= l_.page_offset && (l_.linear_end == 0 || vaddr < l_.linear_end)) return vaddr - l_.page_offset + l_.phys_offset;
    return std::nullopt;
  }

  std::string pte_flags(uint64_t entry) const override {
    std::string s;
    for (const auto& f : kEntryFlags) {
      if (!(entry & f.bit)) continue;
      std::string_view name = f.name;
      if (name == "SHARED" && g_.lpa2) continue;             // with LPA2 bits [9:8] are address bits
      if (!s.empty()) s += '|';
      s += name;
    }
    return s;
  }

  uint64_t entry_address(uint64_t entry) const override {
    uint64_t addr = entry & kOutputMask48 & ~(page_size() - 1);
    if (g_.pa52_64k) addr |= ((entry >> 12) & 0xf) << 48;
    if (g_.lpa2) addr = (entry & ((1ull << 50) - 1) & ~(page_size() - 1)) | (((entry >> 8) & 0x3) << 50);
    return addr;
  }
  bool entry_present(uint64_t entry) const override { return entry & kValid; }

  // #define vmemmap ((struct page *)VMEMMAP_START - (memstart_addr >> PAGE_SHIFT)), with
  // memstart_addr signed (s64) so that a "negative" PHYS_OFFSET shifts arithmetically.
  std::optional<uint64_t> vmemmap(uint64_t page_struct_size) const override {
    if (!l_.vmemmap_start || !page_struct_size) return std::nullopt;
    int64_t first_pfn = static_cast<int64_t>(l_.phys_offset) >> g_.page_shift;
    return l_.vmemmap_start - static_cast<uint64_t>(first_pfn) * page_struct_size;
  }

 private:
  // The largest block a table entry may map (Arm ARM, "Translation granule"): level 1 and 2
  // for 4 KiB (1 GiB), level 2 for 16 KiB (32 MiB) and 64 KiB (512 MiB); one level more with
  // LPA2 (512 GiB, 64 GiB) or 52-bit PA on 64 KiB (4 TiB).
  int max_block_shift() const {
    int one_level_up = g_.page_shift - 3;
    int base = g_.page_shift == 12 ? g_.page_shift + 2 * one_level_up : g_.page_shift + one_level_up;
    return g_.lpa2 || g_.pa52_64k ? base + one_level_up : base;
  }
  uint64_t table_mask() const { return g_.lpa2 || g_.pa52_64k ? (1ull << 52) - 1 : kOutputMask48; }
  uint64_t kernel_base() const { return ~0ull << l_.va_bits; }

  dumpfmt::Dump& dump_;
  Geometry g_;
  Layout l_;
  uint64_t root_paddr_;
  std::unordered_map<uint64_t, uint64_t> tlb_;
};

}  // namespace

Result<std::unique_ptr<Arch>> make_arm64(dumpfmt::Dump& dump, const KernelFacts& facts) {
  auto number = [&](std::string_view n) { return facts.vmcoreinfo_number(n); };
  auto va_bits = number("VA_BITS");
  if (!va_bits) return Error::make(Errc::unsupported, "dump has no VMCOREINFO NUMBER(VA_BITS): cannot lay out the arm64 kernel address space");
  if (*va_bits < 36 || *va_bits > 52) return Error::make(Errc::bad_data, "VMCOREINFO NUMBER(VA_BITS)={} is not an arm64 VA size", *va_bits);
  auto phys_offset = number("PHYS_OFFSET");
  if (!phys_offset)
    return Error::make(Errc::unsupported, "dump has no VMCOREINFO NUMBER(PHYS_OFFSET) (4.12+): cannot locate the linear map");

  Geometry g;
  uint64_t page = 0;
  if (facts.vmcoreinfo_entry) page = facts.vmcoreinfo_entry("PAGESIZE").value_or(0);
  if (!page) {
    // Before PAGESIZE was exported: swapper_pg_dir follows idmap_pg_dir by two pages (crash's rule).
    auto sw = facts.symbol("swapper_pg_dir"), id = facts.symbol("idmap_pg_dir");
    page = sw && id && *sw > *id ? (*sw - *id) / 2 : 4096;
  }
  if (page != 4096 && page != 16384 && page != 65536)
    return Error::make(Errc::bad_data, "arm64 page size {} is not 4K, 16K or 64K (VMCOREINFO PAGESIZE)", page);
  g.page_shift = __builtin_ctzll(page);
  // The VA size the hardware runs with (TCR_EL1.T1SZ, exported since 5.8): a 52-bit kernel
  // falls back to 48 bits on CPUs without LVA / LPA2.
  int actual = static_cast<int>(*va_bits);
  if (auto t1sz = number("TCR_EL1_T1SZ"); t1sz && *t1sz >= 12 && *t1sz <= 28) actual = 64 - static_cast<int>(*t1sz);
  if (g.page_shift == 16) {
    // 64 KiB: the kernel indexes its PGD with the configured VA_BITS even when the hardware
    // runs with 48 (TTBR1 then points into the PGD: TTBR1_BADDR_4852_OFFSET), so the walk
    // uses the configured size from swapper_pg_dir.
    g.walk_bits = static_cast<int>(*va_bits);
    g.pa52_64k = true;  // bits [15:12] are RES0 without 52-bit PA, so always safe to merge
  } else {
    // 4/16 KiB with 52-bit VA is LPA2 (6.9+); without it at run time the top level is folded
    // and swapper_pg_dir is the next level's table.
    g.walk_bits = actual;
    g.lpa2 = actual == 52;
  }
  int per_level = g.page_shift - 3;
  g.levels = (g.walk_bits - g.page_shift + per_level - 1) / per_level;  // ARM64_HW_PGTABLE_LEVELS
  if (g.levels < 2 || g.levels > 5)
    return Error::make(Errc::bad_data, "arm64 with {}-bit VA and {}-byte pages needs {} levels", g.walk_bits, page, g.levels);

  Layout l;
  l.va_bits = static_cast<int>(*va_bits);
  l.phys_offset = *phys_offset;
  l.kimage_voffset = number("kimage_voffset").value_or(0);
  // The image map covers [_stext, _end): map_kernel() maps its segments from _stext, and
  // the head page(s) of [_text, _stext) are left to vmalloc (seen on 6.1 without KASLR: CPU
  // 0's IRQ stack at _text). crash's arm64_VTOP() starts at _text and misreads that page.
  l.image_start = facts.symbol("_stext").value_or(facts.symbol("_text").value_or(0));
  l.image_end = facts.symbol("_end").value_or(0);
  // The flipped layout (5.4+) puts the kernel image above the middle of the kernel range;
  // before it, the image sat in the lower (vmalloc) half and the linear map in the upper.
  uint64_t middle = ~0ull << (l.va_bits - 1);
  l.flipped = l.image_start >= middle || !l.image_start;
  if (l.flipped) {
    l.page_offset = ~0ull << l.va_bits;                            // _PAGE_OFFSET(VA_BITS)
    int va_bits_min = l.va_bits > 48 ? 48 : l.va_bits;             // VA_BITS_MIN
    l.linear_end = ~0ull << (va_bits_min - 1);                     // PAGE_END = _PAGE_END(VA_BITS_MIN)
  } else {
    l.page_offset = middle;
    l.linear_end = 0;
  }

  // VMEMMAP_START: exported since 6.1 (commit 2369f171d5c5 "arm64: crash_core: Export
  // MODULES, VMALLOC, and VMEMMAP ranges"); before, 5.11's rule: the top 1/64 of the
  // kernel range with 4 KiB pages (-(1 << (VA_BITS - VMEMMAP_SHIFT)), VMEMMAP_SHIFT =
  // PAGE_SHIFT - STRUCT_PAGE_MAX_SHIFT, STRUCT_PAGE_MAX_SHIFT = 6).
  if (auto vs = number("VMEMMAP_START"))
    l.vmemmap_start = *vs;
  else if (l.flipped)
    l.vmemmap_start = ~0ull << (l.va_bits - (g.page_shift - 6));

  auto arch = std::make_unique<Arm64>(dump, g, l, 0);
  auto pgd = facts.symbol("swapper_pg_dir");
  if (!pgd) return Error::make(Errc::no_debug_info, "no swapper_pg_dir symbol: cannot walk kernel page tables");
  auto pgd_paddr = arch->linear_vtop(*pgd);
  // Without the vmlinux (SYMBOL(swapper_pg_dir) from VMCOREINFO) the image's bounds are not
  // known, but the table is in the image.
  if (!pgd_paddr && !(l.image_start && l.image_end) && l.kimage_voffset) pgd_paddr = *pgd - l.kimage_voffset;
  if (!pgd_paddr)
    return Error::make(Errc::bad_data, "swapper_pg_dir at {:#x} is neither in the kernel image nor in the linear map (kimage_voffset {:#x})",
                       *pgd, l.kimage_voffset);
  return std::unique_ptr<Arch>(new Arm64(dump, g, l, *pgd_paddr));
}

}  // namespace coroner::arch
