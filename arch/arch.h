// arch: one table of hooks per architecture: kernel address translation over a dump's
// physical memory (page-table walks), and (later) registers and unwinders.
// Architectures are chosen in one switch on the dump's or vmlinux's e_machine (arch.cc):
// x86_64 (x86_64.cc) and arm64 (arm64.cc).
//
//   arch::KernelFacts facts{...};                       // from VMCOREINFO and symbols
//   auto a = TRY(arch::make_arch(EM_X86_64, dump, facts));
//   uint64_t phys = TRY(a->kvtop(0xffffffff81000000));
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dumpfmt/dump.h"

namespace coroner::arch {

// What the arch layer needs to know about the kernel, gathered by the caller from
// VMCOREINFO and the (relocated) symbol table. Lookups return nullopt when unknown.
struct KernelFacts {
  std::function<std::optional<uint64_t>(std::string_view)> symbol;       // runtime address
  std::function<std::optional<uint64_t>(std::string_view)> vmcoreinfo_number;  // NUMBER(x)
  std::function<std::optional<uint64_t>(std::string_view)> vmcoreinfo_symbol;  // SYMBOL(x)
  // A plain KEY=value entry as a number ("PAGESIZE"); may be left empty.
  std::function<std::optional<uint64_t>(std::string_view)> vmcoreinfo_entry;
};

// One level of a page-table walk, for `vtop` and for error messages.
struct WalkStep {
  std::string level;  // "PGD", "P4D", "PUD", "PMD", "PTE"
  uint64_t entry_paddr;
  uint64_t entry;
  // On the step whose entry maps the page: the page's size (4 KiB, or 2 MiB / 1 GiB for a
  // huge PMD / PUD); 0 on the steps that point to a next table or map nothing.
  uint64_t page_size = 0;
};

class Arch {
 public:
  virtual ~Arch() = default;
  virtual std::string_view name() const = 0;
  virtual uint16_t machine() const = 0;
  // Kernel virtual address -> physical address.
  virtual Result<uint64_t> kvtop(uint64_t vaddr) = 0;
  // Walk the page tables rooted at `root_paddr` (a PGD), recording each step. Fails with
  // Errc::fault at a non-present entry (the step is recorded), and with an error naming the
  // level and entry when a table cannot be read or an entry points back to a table above it.
  virtual Result<uint64_t> walk(uint64_t root_paddr, uint64_t vaddr, std::vector<WalkStep>* steps) = 0;
  // Physical address -> direct-map virtual address.
  virtual std::optional<uint64_t> ptov(uint64_t paddr) const = 0;
  virtual uint64_t page_size() const { return 4096; }

  // What crash-compatible tools (`rd`, `vtop`) need beyond kvtop():
  // Physical address of the kernel's top-level page table (init_top_pgt on x86_64).
  virtual uint64_t kernel_root() const = 0;
  // Kernel addresses start here (the direct map's base); lower addresses are user space
  // when below user_top().
  virtual bool is_kernel_vaddr(uint64_t vaddr) const = 0;
  virtual bool is_user_vaddr(uint64_t vaddr) const = 0;
  // The translation by arithmetic that crash (and the kernel's __pa()) uses for every kernel
  // address outside the page-table-mapped regions (vmalloc, vmemmap, modules, fixmap...):
  // the kernel image map and the direct map. nullopt for addresses that need a walk.
  virtual std::optional<uint64_t> linear_vtop(uint64_t vaddr) const = 0;
  // Names of the flags set in a page-table entry, '|'-separated, as crash prints them.
  virtual std::string pte_flags(uint64_t entry) const = 0;
  // Physical address bits of an entry (the next table, or the page).
  virtual uint64_t entry_address(uint64_t entry) const = 0;
  virtual bool entry_present(uint64_t entry) const = 0;

  // Sparsemem-vmemmap: the kernel's `vmemmap`, the virtual address the struct page of pfn 0
  // would have (pfn_to_page(pfn) = vmemmap + pfn * sizeof(struct page)), when the architecture
  // knows it from VMCOREINFO alone (arm64); nullopt where it is a kernel variable to read
  // (x86_64's vmemmap_base).
  virtual std::optional<uint64_t> vmemmap(uint64_t /*page_struct_size*/) const { return std::nullopt; }
};

Result<std::unique_ptr<Arch>> make_arch(uint16_t machine, dumpfmt::Dump& dump, const KernelFacts& facts);

}  // namespace coroner::arch
