// Guarded walks over kernel linked structures: every walk stops at a cycle, at an absurd
// length, or at an unreadable pointer, and says where.
//
//   auto nodes = TRY(list_walk(k, head_addr, /*limit=*/1 << 20));   // list_head addresses
#pragma once

#include <cstdint>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

// The list_head addresses on the circular list whose head is at `head` (head excluded).
Result<std::vector<uint64_t>> list_walk(Kernel& k, uint64_t head, size_t limit = 1u << 22);

}  // namespace coroner::kernel
