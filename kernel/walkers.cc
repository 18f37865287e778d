#include "kernel/walkers.h"

#include <unordered_set>

namespace coroner::kernel {

Result<std::vector<uint64_t>> list_walk(Kernel& k, uint64_t head, size_t limit) {
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> seen;
  uint64_t prev = head;
  uint64_t next = TRY(k.read_u64(head));
  while (next != head) {
    if (next == 0)
      return Error::make(Errc::bad_data, "list at {:#x}: NULL next pointer in entry {:#x}", head, prev);
    if (!seen.insert(next).second)
      return Error::make(Errc::bad_data, "list at {:#x}: cycle: entry {:#x} points back to {:#x}", head, prev, next);
    if (out.size() >= limit)
      return Error::make(Errc::out_of_bounds, "list at {:#x}: more than {} entries", head, limit);
    out.push_back(next);
    prev = next;
    auto n = k.read_u64(next);
    if (!n) return Error::make(Errc::fault, "list at {:#x}: entry {:#x}: {}", head, next, n.error().message);
    next = *n;
  }
  return out;
}

}  // namespace coroner::kernel
