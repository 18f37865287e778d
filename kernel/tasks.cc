#include "kernel/tasks.h"

#include <unordered_set>

#include "kernel/walkers.h"

namespace coroner::kernel {
namespace {

Result<Task> read_task(Kernel& k, uint64_t addr) {
  Task t;
  t.addr = addr;
  t.pid = TRY(k.member<int32_t>(addr, "task_struct", "pid"));
  t.tgid = TRY(k.member<int32_t>(addr, "task_struct", "tgid"));
  uint64_t comm_off = TRY(k.offset_of("task_struct", "comm"));
  char comm[17] = {};
  TRY(k.read(addr + comm_off, std::span(reinterpret_cast<uint8_t*>(comm), 16)));
  t.comm = comm;
  return t;
}

}  // namespace

Result<std::vector<Task>> all_tasks(Kernel& k) {
  std::vector<Task> out;
  std::unordered_set<uint64_t> seen;
  uint64_t init_task = TRY(k.symbol("init_task"));
  uint64_t tasks_off = TRY(k.offset_of("task_struct", "tasks"));

  // Threads of a group: signal->thread_head linked through task->thread_node (3.14 ..),
  // or the older task->thread_group ring (removed in 6.7).
  bool has_thread_node = k.types().has_member("task_struct", "thread_node");
  uint64_t signal_off = TRY(k.offset_of("task_struct", "signal"));
  uint64_t thread_off = has_thread_node ? TRY(k.offset_of("task_struct", "thread_node"))
                                        : TRY(k.offset_of("task_struct", "thread_group"));
  uint64_t thread_head_off = has_thread_node ? TRY(k.offset_of("signal_struct", "thread_head")) : 0;

  auto add = [&](uint64_t addr) -> Result<void> {
    if (!seen.insert(addr).second) return ok();
    out.push_back(TRY(read_task(k, addr)));
    return ok();
  };

  TRY(add(init_task));
  std::vector<uint64_t> leaders{init_task};
  for (uint64_t node : TRY(list_walk(k, init_task + tasks_off))) leaders.push_back(node - tasks_off);
  for (uint64_t leader : leaders) {
    TRY(add(leader));
    uint64_t head;
    if (has_thread_node) {
      uint64_t signal = TRY(k.read_u64(leader + signal_off));
      if (!signal) continue;
      head = signal + thread_head_off;
    } else {
      head = leader + thread_off;
    }
    auto threads = list_walk(k, head);
    if (!threads) continue;  // a group being torn down: its leader is still listed
    for (uint64_t node : *threads) TRY(add(node - thread_off));
  }

  // Idle tasks of the other CPUs (CPU 0's is init_task).
  auto cpus = k.cpus_in_mask("cpu_present_mask");
  if (cpus) {
    for (int cpu : *cpus) {
      auto rq = k.per_cpu("runqueues", cpu);
      if (!rq) continue;
      auto idle = k.member<uint64_t>(*rq, "rq", "idle");
      if (!idle || !*idle) continue;
      if (seen.count(*idle)) {
        for (auto& t : out)
          if (t.addr == *idle) t.idle = true, t.cpu = cpu;
        continue;
      }
      TRY(add(*idle));
      out.back().idle = true;
      out.back().cpu = cpu;
    }
  }
  return out;
}

}  // namespace coroner::kernel
