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

class X86_64 final : public Arch {
 public:
  X86_64(dumpfmt::Dump& dump, uint64_t phys_base, uint64_t pgd_paddr, bool l5, uint64_t page_offset,
         uint64_t image_start, uint64_t image_end)
      : dump_(dump), phys_base_(phys_base), pgd_paddr_(pgd_paddr), l5_(l5), page_offset_(page_offset),
        image_start_(image_start), image_end_(image_end) {}

  std::string_view name() const override { return "x86_64"; }
  uint16_t machine() const override { return EM_X86_64; }

  Result<uint64_t> kvtop(uint64_t vaddr) override {
    if (vaddr >= image_start_ && vaddr < image_end_) return vaddr - kStartKernelMap + phys_base_;
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
    for (int i = 0; i < n; ++i) {
      const Level& lv = levels[i];
      uint64_t idx = (vaddr >> lv.shift) & 0x1ff;
      uint64_t entry_paddr = table + idx * 8;
      uint64_t entry = 0;
      auto r = dump_.read(entry_paddr, std::span(reinterpret_cast<uint8_t*>(&entry), 8));
      if (!r) return Error::fault(vaddr, fmt::format("cannot translate {:#x}: {} entry at physical {:#x}: {}", vaddr, lv.name, entry_paddr, r.error().message));
      if (steps) steps->push_back({lv.name, entry_paddr, entry});
      if (!(entry & kPresent)) return Error::fault(vaddr, fmt::format("invalid kernel virtual address: {:#x}  ({} not present)", vaddr, lv.name));
      if (lv.may_be_huge && (entry & kHuge)) {
        uint64_t mask = (1ull << lv.shift) - 1;
        return ((entry & kAddrMask) & ~mask) | (vaddr & mask);
      }
      table = entry & kAddrMask;
    }
    return table | (vaddr & 0xfff);
  }

  std::optional<uint64_t> ptov(uint64_t paddr) const override {
    if (!page_offset_) return std::nullopt;
    return paddr + page_offset_;
  }

 private:
  dumpfmt::Dump& dump_;
  uint64_t phys_base_;
  uint64_t pgd_paddr_;
  bool l5_;
  uint64_t page_offset_;
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
  auto arch = std::make_unique<X86_64>(dump, *phys_base, pgd_paddr, l5, 0, image_start, image_end);
  // page_offset_base (4.8+, randomized with KASLR) is a variable in the kernel image.
  uint64_t page_offset = l5 ? 0xff11000000000000ull : 0xffff888000000000ull;  // defaults without KASLR
  if (auto pob = facts.symbol("page_offset_base")) {
    uint64_t v = 0;
    auto pa = arch->kvtop(*pob);
    if (pa && dump.read(*pa, std::span(reinterpret_cast<uint8_t*>(&v), 8))) page_offset = v;
  }
  return std::unique_ptr<Arch>(new X86_64(dump, *phys_base, pgd_paddr, l5, page_offset, image_start, image_end));
}

Result<std::unique_ptr<Arch>> make_arch(uint16_t machine, dumpfmt::Dump& dump, const KernelFacts& facts) {
  switch (machine) {
    case EM_X86_64: return make_x86_64(dump, facts);
    default: return Error::make(Errc::unsupported, "architecture with ELF machine {} is not supported yet", machine);
  }
}

}  // namespace coroner::arch
