// x86_64 address translation: 4- and 5-level page tables, 1 GiB and 2 MiB pages, the kernel
// image mapping (__START_KERNEL_map + phys_base) and the randomized direct map
// (page_offset_base, KASLR since 4.8).
#include <elf.h>

#include <unordered_map>

#include "arch/arch.h"

namespace coroner::arch {
namespace {

// Architectural constants of x86_64 Linux (arch/x86/include/asm/page_64_types.h).
constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;
constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kHuge = 1ull << 7;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;

// Page-table entry bits (arch/x86/include/asm/pgtable_types.h), in crash's print order.
constexpr struct {
  uint64_t bit;
  const char* name;
} kEntryFlags[] = {{1ull << 0, "PRESENT"}, {1ull << 1, "RW"},       {1ull << 2, "USER"},
                   {1ull << 3, "PWT"},     {1ull << 4, "PCD"},      {1ull << 5, "ACCESSED"},
                   {1ull << 6, "DIRTY"},   {1ull << 7, "PSE"},      {1ull << 8, "PROTNONE"},
                   {1ull << 8, "GLOBAL"},  {1ull << 63, "NX"}};

// The virtual memory map (Documentation/arch/x86/x86_64/mm.rst). With KASLR (4.8+,
// CONFIG_RANDOMIZE_MEMORY) the direct map, vmalloc and vmemmap bases are variables
// (page_offset_base, vmalloc_base, vmemmap_base); the sizes of the regions are fixed.
constexpr uint64_t kUserTop4 = 0x0000800000000000ull;   // 47-bit user space
constexpr uint64_t kUserTop5 = 0x0100000000000000ull;   // 56-bit user space
constexpr uint64_t kDirectMapSize4 = 1ull << 46;        // 64 TiB
constexpr uint64_t kDirectMapSize5 = 1ull << 55;        // 32 PiB
constexpr uint64_t kVmallocSize4 = 32ull << 40;         // 32 TiB
constexpr uint64_t kVmallocSize5 = 12800ull << 40;      // 12800 TiB
constexpr uint64_t kVmemmapSize4 = 1ull << 40;          // 1 TiB
constexpr uint64_t kVmemmapSize5 = 1ull << 49;          // 0.5 PiB
constexpr uint64_t kCpuEntryArea = 0xfffffe0000000000ull, kCpuEntryAreaSize = 1ull << 39;  // 4.15+
constexpr uint64_t kModulesEnd = 0xffffffffff000000ull;  // fixmap and vsyscall above
constexpr uint64_t kVsyscall = 0xffffffffff600000ull;
// Defaults without CONFIG_RANDOMIZE_MEMORY (4.20+ direct map base for 4 levels).
constexpr uint64_t kPageOffset4 = 0xffff888000000000ull, kPageOffset5 = 0xff11000000000000ull;
constexpr uint64_t kVmalloc4 = 0xffffc90000000000ull, kVmalloc5 = 0xffa0000000000000ull;
constexpr uint64_t kVmemmap4 = 0xffffea0000000000ull, kVmemmap5 = 0xffd4000000000000ull;

struct Layout {
  uint64_t page_offset = 0;
  uint64_t vmalloc = 0;
  uint64_t vmemmap = 0;
  uint64_t modules = 0;  // __START_KERNEL_map + KERNEL_IMAGE_SIZE
};

class X86_64 final : public Arch {
 public:
  X86_64(dumpfmt::Dump& dump, uint64_t phys_base, uint64_t pgd_paddr, bool l5, Layout layout, uint64_t image_start,
         uint64_t image_end)
      : dump_(dump), phys_base_(phys_base), pgd_paddr_(pgd_paddr), l5_(l5), page_offset_(layout.page_offset),
        layout_(layout), image_start_(image_start), image_end_(image_end) {}

  std::string_view name() const override { return "x86_64"; }
  uint16_t machine() const override { return EM_X86_64; }

  Result<uint64_t> kvtop(uint64_t vaddr) override {
    if (vaddr >= image_start_ && vaddr < image_end_) return vaddr - kStartKernelMap + phys_base_;
    if (page_offset_ && vaddr >= page_offset_ && vaddr - page_offset_ < (l5_ ? kDirectMapSize5 : kDirectMapSize4))
      return vaddr - page_offset_;  // __pa() of the direct map
    uint64_t page = vaddr & ~0xfffull;
    if (auto it = tlb_.find(page); it != tlb_.end()) return it->second | (vaddr & 0xfff);
    uint64_t phys = TRY(walk(pgd_paddr_, vaddr, nullptr));
    if (tlb_.size() > 65536) tlb_.clear();
    tlb_.emplace(page, phys & ~0xfffull);
    return phys;
  }

  Result<uint64_t> walk(uint64_t root, uint64_t vaddr, std::vector<WalkStep>* steps) override {
    struct Level {
      const char* name;
      int shift;
      bool may_be_huge;
    };
    static constexpr Level kLevels5[] = {{"PGD", 48, false}, {"P4D", 39, false}, {"PUD", 30, true}, {"PMD", 21, true}, {"PTE", 12, false}};
    static constexpr Level kLevels4[] = {{"PGD", 39, false}, {"PUD", 30, true}, {"PMD", 21, true}, {"PTE", 12, false}};
    const Level* levels = l5_ ? kLevels5 : kLevels4;
    int n = l5_ ? 5 : 4;
    uint64_t table = root & kAddrMask;
    uint64_t tables[5] = {};  // the tables visited, to catch an entry pointing back up
    uint64_t prev_entry = 0;
    for (int i = 0; i < n; ++i) {
      const Level& lv = levels[i];
      for (int j = 0; j < i; ++j)
        if (tables[j] == table)
          return Error::make(Errc::bad_data, "cannot translate {:#x}: page-table loop: the {} entry {:#x} points back to the {} table at physical {:#x}",
                             vaddr, levels[i - 1].name, prev_entry, levels[j].name, table);
      tables[i] = table;
      uint64_t idx = (vaddr >> lv.shift) & 0x1ff;
      uint64_t entry_paddr = table + idx * 8;
      uint64_t entry = 0;
      auto r = dump_.read(entry_paddr, std::span(reinterpret_cast<uint8_t*>(&entry), 8));
      if (!r) {
        std::string from = i == 0 ? "the root" : fmt::format("the {} entry", levels[i - 1].name);
        return Error::fault(vaddr, fmt::format("cannot translate {:#x}: {} entry at physical {:#x} (table from {}): {}", vaddr, lv.name,
                                               entry_paddr, from, r.error().message));
      }
      if (steps) steps->push_back({lv.name, entry_paddr, entry});
      if (!(entry & kPresent)) return Error::fault(vaddr, fmt::format("invalid kernel virtual address: {:#x}  ({} not present)", vaddr, lv.name));
      if ((lv.may_be_huge && (entry & kHuge)) || i == n - 1) {
        uint64_t mask = (1ull << lv.shift) - 1;
        if (steps) steps->back().page_size = mask + 1;
        return ((entry & kAddrMask) & ~mask) | (vaddr & mask);
      }
      table = entry & kAddrMask;
      prev_entry = entry;
    }
    return table | (vaddr & 0xfff);  // not reached: the last level always returns
  }

  std::optional<uint64_t> ptov(uint64_t paddr) const override {
    if (!page_offset_) return std::nullopt;
    return paddr + page_offset_;
  }

  uint64_t kernel_root() const override { return pgd_paddr_; }
  bool is_kernel_vaddr(uint64_t vaddr) const override { return vaddr >= page_offset_; }
  bool is_user_vaddr(uint64_t vaddr) const override { return vaddr < (l5_ ? kUserTop5 : kUserTop4); }

  std::optional<uint64_t> linear_vtop(uint64_t vaddr) const override {
    if (!is_kernel_vaddr(vaddr) || mapped_by_page_tables(vaddr)) return std::nullopt;
    if (vaddr >= kStartKernelMap) return vaddr - kStartKernelMap + phys_base_;
    return vaddr - page_offset_;
  }

  std::string pte_flags(uint64_t entry) const override {
    std::string s;
    for (const auto& f : kEntryFlags) {
      if (!(entry & f.bit)) continue;
      // Bit 7 is PSE only in a present entry; bit 8 is PROTNONE when not present, else GLOBAL.
      std::string_view name = f.name;
      if (name == "PSE" && !(entry & kPresent)) continue;
      if (name == "PROTNONE" && (entry & kPresent)) continue;
      if (!s.empty()) s += '|';
      s += name;
    }
    return s;
  }

  uint64_t entry_address(uint64_t entry) const override { return entry & kAddrMask; }
  bool entry_present(uint64_t entry) const override { return entry & kPresent; }

 private:
  dumpfmt::Dump& dump_;
  uint64_t phys_base_;
  uint64_t pgd_paddr_;
  // The regions crash translates through page tables rather than by arithmetic.
  bool mapped_by_page_tables(uint64_t v) const {
    uint64_t vmalloc_size = l5_ ? kVmallocSize5 : kVmallocSize4, vmemmap_size = l5_ ? kVmemmapSize5 : kVmemmapSize4;
    return (v >= layout_.vmalloc && v - layout_.vmalloc < vmalloc_size) ||
           (v >= layout_.vmemmap && v - layout_.vmemmap < vmemmap_size) ||
           (v >= layout_.modules && v < kModulesEnd) || (v >= kVsyscall && v < kVsyscall + 4096) ||
           (v >= kCpuEntryArea && v - kCpuEntryArea < kCpuEntryAreaSize) ||
           (l5_ && v >= layout_.vmalloc + vmalloc_size && v < layout_.vmemmap);
  }

  bool l5_;
  uint64_t page_offset_;
  Layout layout_;
  // [_text, _end): the kernel image, translated without a walk (__pa_symbol()).
  uint64_t image_start_;
  uint64_t image_end_;
  std::unordered_map<uint64_t, uint64_t> tlb_;
};

}  // namespace

Result<std::unique_ptr<Arch>> make_x86_64(dumpfmt::Dump& dump, const KernelFacts& facts) {
  auto phys_base = facts.vmcoreinfo_number("phys_base");
  if (!phys_base) {
    // Without VMCOREINFO, an ELF vmcore's kernel-image segment tells phys_base: it is the
    // segment whose physical start lies below its kernel-map virtual address.
    return Error::make(Errc::unsupported, "dump has no VMCOREINFO NUMBER(phys_base): cannot locate the kernel image");
  }
  auto pgd = facts.symbol("init_top_pgt");
  if (!pgd) pgd = facts.symbol("init_level4_pgt");  // before 4.13
  if (!pgd) return Error::make(Errc::no_debug_info, "no init_top_pgt symbol: cannot walk kernel page tables");
  bool l5 = facts.vmcoreinfo_number("pgtable_l5_enabled").value_or(0) != 0;
  uint64_t pgd_paddr = *pgd - kStartKernelMap + *phys_base;
  uint64_t image_start = facts.symbol("_text").value_or(0), image_end = facts.symbol("_end").value_or(0);
  auto arch = std::make_unique<X86_64>(dump, *phys_base, pgd_paddr, l5, Layout{}, image_start, image_end);
  // page_offset_base, vmalloc_base, vmemmap_base (4.8+, randomized with KASLR) are variables
  // in the kernel image.
  auto variable = [&](std::string_view name, uint64_t fallback) {
    uint64_t v = 0;
    if (auto a = facts.symbol(name))
      if (auto pa = arch->kvtop(*a); pa && dump.read(*pa, std::span(reinterpret_cast<uint8_t*>(&v), 8)) && v) return v;
    return fallback;
  };
  Layout layout;
  layout.page_offset = variable("page_offset_base", l5 ? kPageOffset5 : kPageOffset4);
  layout.vmalloc = variable("vmalloc_base", l5 ? kVmalloc5 : kVmalloc4);
  layout.vmemmap = variable("vmemmap_base", l5 ? kVmemmap5 : kVmemmap4);
  // Modules follow the kernel image's maximum size (1 GiB with KASLR, 512 MiB before).
  layout.modules = kStartKernelMap + facts.vmcoreinfo_number("KERNEL_IMAGE_SIZE").value_or(1ull << 30);
  return std::unique_ptr<Arch>(new X86_64(dump, *phys_base, pgd_paddr, l5, layout, image_start, image_end));
}

}  // namespace coroner::arch
