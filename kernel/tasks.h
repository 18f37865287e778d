// The kernel's tasks: every thread of every thread group from init_task's list, plus the
// per-CPU idle tasks (swapper/N), with what `ps` and `bt` need of each (parent, CPU, state,
// memory), the tasks running on each CPU and the panic task.
//
//   auto tasks = TRY(all_tasks(k));
//   for (const Task& t : tasks) fmt::print("{} {}\n", t.pid, t.comm);
//   const TaskTable& tt = TRY(task_table(k));      // cached per Kernel, sorted like crash's
//   if (tt.cut) ...                                // a damaged list: tt.tasks is what was reached
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct Task {
  uint64_t addr = 0;
  int32_t pid = 0;
  int32_t tgid = 0;
  std::string comm;
  int cpu = -1;        // the CPU the task last ran on (thread_info.cpu or task_struct.cpu)
  bool idle = false;   // a per-CPU idle task (swapper/N)
  int idle_cpu = -1;   // for idle tasks: the CPU they idle on
  uint64_t parent = 0;  // real_parent
  int32_t ppid = 0;
  uint64_t state = 0;       // __state (5.14+) or state
  uint64_t exit_state = 0;
  uint64_t mm = 0;
  uint32_t flags = 0;       // PF_*
  uint64_t stack = 0;       // the kernel stack's lowest address (task_struct.stack)
  uint64_t thread_sp = 0;   // thread.sp (arm64: thread.cpu_context.sp): the saved stack pointer of a task switched out
  uint64_t last_arrival = 0;  // sched_info.last_arrival, ns
  bool kernel_thread() const { return mm == 0; }
};

// crash's two-letter state: RU IN UN ST TR ZO DE PA ID NE WA ...
std::string task_state_code(Kernel& k, const Task& t);
// The long form `set` prints: TASK_RUNNING, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE|TASK_NOLOAD ...
std::string task_state_name(Kernel& k, const Task& t);

struct TaskMemory {
  uint64_t rss_kb = 0, vsz_kb = 0;
  double pct = 0;  // of physical memory
};
Result<TaskMemory> task_memory(Kernel& k, const Task& t);

struct TaskTable {
  std::vector<Task> tasks;          // sorted by PID, idle tasks by CPU
  // Set when a damaged link (a garbage pointer in init_task.tasks or a thread list, an
  // unreadable task_struct) stopped the walk: `tasks` holds what was reached before it, and
  // this names the address where the walk stopped. Commands list what there is, then fail
  // with it, as crash lists the tasks it found and warns.
  std::optional<Error> cut;
  std::vector<uint64_t> active;     // per CPU: the task running on it (0 when unknown)
  std::optional<uint64_t> panic;    // the task that panicked
  int panic_cpu = -1;
  // Position in `tasks` by task_struct address, made by index() (task_table() calls it):
  // find() is a hash lookup then (foreach runs it for every task), a linear search while the
  // index is missing or does not match `tasks`.
  std::unordered_map<uint64_t, size_t> by_addr;
  void index();
  const Task* find(uint64_t addr) const;
  std::vector<const Task*> by_pid(int32_t pid) const;
  bool is_active(uint64_t addr) const;
  int active_cpu(uint64_t addr) const;  // -1 when not running on a CPU
};

// The tasks reached by the walk, and why it stopped early if it did (see TaskTable::cut).
struct TaskWalk {
  std::vector<Task> tasks;
  std::optional<Error> cut;
};
Result<TaskWalk> walk_tasks(Kernel& k);
// Every task, or the error where the walk stopped.
Result<std::vector<Task>> all_tasks(Kernel& k);
// Built once per Kernel and kept (a dump does not change).
Result<const TaskTable*> task_table(Kernel& k);
// The table if some command has built it already, else null (never starts the walk).
const TaskTable* built_task_table(Kernel& k);

}  // namespace coroner::kernel
