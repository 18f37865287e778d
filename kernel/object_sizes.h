// The sizes the kernel really allocates for structures whose debuginfo size is larger: crash's
// "downsized" structures (`help -s`, crash 9.0.2 task.c task_init and memory.c
// kmem_cache_downsize):
//
// - task_struct: x86 sizes the FPU register area at its end for the CPU (arch_task_struct_size,
//   4.2+), so a task can end well before sizeof(struct task_struct);
// - kmem_cache under SLUB: its node[] array is cut to nr_node_ids (the object_size of the
//   cache the `kmem_cache` variable points to).
//
// crash lets gdb read a downsized structure partly (PARTIAL_READ_OK in print_struct, for `struct`
// and `task`): when its debuginfo size runs into a page the dump does not hold (an excluded page
// after the real end), the bytes before that page are shown and the rest as zeros, where any
// other structure is an error. read_shown_structure() does the same.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "kernel/kernel.h"

namespace coroner::kernel {

// The allocated size of `struct NAME` when it differs from the debuginfo's, else nothing.
std::optional<uint64_t> downsized_size(Kernel& k, std::string_view struct_name);

// The `size` bytes of `struct NAME` at addr as `struct`/`task` show them: all of them, or for a
// downsized structure the readable part up to the first unreadable page and zeros after it.
// Fails as Kernel::read() does when nothing (or, for any other structure, not all) can be read.
Result<std::vector<uint8_t>> read_shown_structure(Kernel& k, std::string_view struct_name, uint64_t addr, uint64_t size);

}  // namespace coroner::kernel
