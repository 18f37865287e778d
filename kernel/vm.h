// A task's address space as crash's `vm` shows it: the mm_struct, its page directory, and
// its VMAs in address order. The VMAs come from the maple tree (mm_struct.mm_mt, 6.1+) when
// the type has one, else from the mmap list (vm_area_struct.vm_next, before 6.1): chosen by
// the types present, never by version.
//
//   auto vmas = TRY(task_vmas(k, task.mm));
//   for (auto& v : vmas) fmt::print("{:x} {:x}-{:x}\n", v.addr, v.start, v.end);
#pragma once

#include <cstdint>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct Vma {
  uint64_t addr = 0;  // struct vm_area_struct *
  uint64_t start = 0, end = 0;
  uint64_t flags = 0;  // vm_flags
  uint64_t file = 0;   // vm_file (struct file *), 0 for anonymous memory
};

// Every VMA of the mm_struct at `mm`, lowest address first. Bounded by mm_struct.map_count
// (and an absolute cap): a longer chain or a loop is an error naming the mm.
Result<std::vector<Vma>> task_vmas(Kernel& k, uint64_t mm);

}  // namespace coroner::kernel
