// Swap entries and swap devices as crash shows them: a PTE that is neither present nor
// PROT_NONE nor empty holds a swap entry (type, offset), and swap_info[type]->swap_file names
// the device ("/dev/vdb  OFFSET: 22716"); `swap` lists the swap_info_structs in use.
//
// The x86_64 encoding is fixed by arch/x86/include/asm/pgtable_64.h, not recorded in
// VMCOREINFO or BTF:
//   4.18+ (and stable kernels with the L1TF backport, which have the symbol l1tf_mitigation;
//   commit 2f22b4cd45b6): type in bits 59-63, the offset inverted in bits 9-58;
//   4.8-4.17 (commit 00839ee3b299): type in bits 9-13, the offset from bit 15.
// Older kernels are refused (unsupported).
//
//   auto e = decode_swap_pte_x86_64(pte, /*inverted=*/true);   // {type, offset}
//   std::string where = TRY(swap_location(k, pte));            // "/dev/vdb  OFFSET: 22716"
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct SwapEntry {
  uint64_t type = 0;
  uint64_t offset = 0;
};

// x86_64's swap PTE layout; `inverted` is the L1TF (4.18+) layout.
SwapEntry decode_swap_pte_x86_64(uint64_t pte, bool inverted);
// Whether a non-present x86_64 PTE is PROT_NONE (bit 8, _PAGE_PROTNONE): a mapped page to
// crash, not a swap entry.
constexpr bool x86_64_pte_protnone(uint64_t pte) { return (pte & 0x101) == 0x100; }
// The dump's layout (L1TF or not), chosen as crash does: release 4.18.1 or later, or the
// symbol l1tf_mitigation (a backport).
Result<SwapEntry> decode_swap_pte(Kernel& k, uint64_t pte);

// swap_info[type]'s file as crash names it ("(unknown swap location)" when there is none).
Result<std::string> swap_device_name(Kernel& k, uint64_t type);
// crash's swap_location(): "DEVICE  OFFSET: N" (decimal offset).
Result<std::string> swap_location(Kernel& k, uint64_t pte);

// One swap_info_struct in use (SWP_USED), as `swap` lists it.
struct SwapDevice {
  uint64_t addr = 0;       // struct swap_info_struct *
  bool partition = false;  // a block device (old_block_size != 0) rather than a file
  uint64_t pages = 0, inuse_pages = 0;
  int64_t prio = 0;
  std::string path;
};
// Every used swap_info[i] for i < nr_swapfiles (capped at 1024).
Result<std::vector<SwapDevice>> swap_devices(Kernel& k);

}  // namespace coroner::kernel
