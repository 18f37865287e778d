#include "kernel/vm.h"

#include <set>

#include "kernel/walkers.h"

namespace coroner::kernel {
namespace {

constexpr size_t kMaxVmas = 1u << 20;

Result<Vma> read_vma(Kernel& k, uint64_t addr) {
  Vma v;
  v.addr = addr;
  v.start = TRY(k.member<uint64_t>(addr, "vm_area_struct", "vm_start"));
  v.end = TRY(k.member<uint64_t>(addr, "vm_area_struct", "vm_end"));
  v.flags = TRY(k.member_uint(addr, "vm_area_struct", "vm_flags"));
  v.file = TRY(k.member<uint64_t>(addr, "vm_area_struct", "vm_file"));
  return v;
}

}  // namespace

Result<std::vector<Vma>> task_vmas(Kernel& k, uint64_t mm) {
  std::vector<Vma> out;
  if (!mm) return out;
  if (auto mt = k.offset_of("mm_struct", "mm_mt")) {
    // 6.1+: the maple tree maps [vm_start, vm_end - 1] to the VMA.
    for (auto& e : TRY(maple_walk(k, mm + *mt, kMaxVmas))) out.push_back(TRY(read_vma(k, e.entry)));
    return out;
  }
  // Before 6.1: mm->mmap, linked by vm_next in address order.
  uint64_t next_off = TRY(k.offset_of("vm_area_struct", "vm_next"));
  std::set<uint64_t> seen;
  for (uint64_t v = TRY(k.member<uint64_t>(mm, "mm_struct", "mmap")); v; v = TRY(k.read_u64(v + next_off))) {
    if (!seen.insert(v).second) return Error::make(Errc::bad_data, "mm_struct {:x}: VMA list loops at {:x}", mm, v);
    if (seen.size() > kMaxVmas) return Error::make(Errc::out_of_bounds, "mm_struct {:x}: more than {} VMAs", mm, kMaxVmas);
    out.push_back(TRY(read_vma(k, v)));
  }
  return out;
}

}  // namespace coroner::kernel
