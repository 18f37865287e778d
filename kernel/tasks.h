// The kernel's tasks: every thread of every thread group from init_task's list, plus the
// per-CPU idle tasks (swapper/N).
//
//   auto tasks = TRY(all_tasks(k));
//   for (const Task& t : tasks) fmt::print("{} {}\n", t.pid, t.comm);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct Task {
  uint64_t addr;
  int32_t pid;
  int32_t tgid;
  std::string comm;
  int cpu = -1;        // for idle tasks: the CPU they idle on
  bool idle = false;
};

Result<std::vector<Task>> all_tasks(Kernel& k);

}  // namespace coroner::kernel
