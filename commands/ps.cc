// ps: process status, crash's columns and markers: `>` for a task running on a CPU, kernel
// threads in brackets, sorted by PID.
#include <map>
#include <set>
#include <vector>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/tasks.h"

namespace coroner::commands {
namespace {

using kernel::Task;

Result<void> print_row(Session& s, const kernel::TaskTable& tt, const Task& t, bool kstack, Output& out) {
  kernel::Kernel& k = s.kernel;
  bool active = tt.is_active(t.addr);
  auto mem = kernel::task_memory(k, t);
  kernel::TaskMemory m = mem ? *mem : kernel::TaskMemory{};
  std::string where = fmt::format("{:x}", t.addr);
  if (kstack) where = active ? "--" : fmt::format("{:x}", t.thread_sp);
  int cpu = t.idle ? t.idle_cpu : t.cpu;
  std::string comm = t.kernel_thread() ? fmt::format("[{}]", t.comm) : t.comm;
  if (kstack && active)
    out.print("{}{:>8} {:>7} {:>3}  {:^16}  {}  {:>4.1f}  {:>7}  {:>7}  {}\n", active ? ">" : " ", t.pid, t.ppid, cpu,
              where, kernel::task_state_code(k, t), m.pct, m.vsz_kb, m.rss_kb, comm);
  else
    out.print("{}{:>8} {:>7} {:>3}  {:>16}  {}  {:>4.1f}  {:>7}  {:>7}  {}\n", active ? ">" : " ", t.pid, t.ppid, cpu,
              where, kernel::task_state_code(k, t), m.pct, m.vsz_kb, m.rss_kb, comm);
  return ok();
}

Result<void> run_ps(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));

  // Which tasks: the arguments' selection (in argument order), else all; then -k/-u/-G.
  std::vector<const Task*> sel;
  if (args.positional.empty()) {
    for (auto& t : tt.tasks) sel.push_back(&t);
  } else {
    // crash walks the task table once and lists a task once for every argument naming it.
    std::vector<std::vector<const Task*>> per_arg;
    for (auto& a : args.positional) {
      auto r = select_tasks(tt, a);
      if (!r) {
        out.print("ps: {}\n", r.error().message);
        continue;
      }
      per_arg.push_back(*r);
    }
    std::vector<const Task*> ordered;
    for (auto& t : tt.tasks)
      for (auto& matches : per_arg)
        for (auto* x : matches)
          if (x == &t) ordered.push_back(&t);
    sel = ordered;
  }
  std::vector<const Task*> shown;
  for (auto* t : sel) {
    if (args.has('k') && !t->kernel_thread()) continue;
    if (args.has('u') && t->kernel_thread()) continue;
    if (args.has('G') && t->pid != t->tgid) continue;
    if (args.has('A') && !tt.is_active(t->addr)) continue;
    shown.push_back(t);
  }

  if (args.has('S')) {
    // Counts per state, in crash's order of first appearance by state code.
    std::map<std::string, int> counts;
    std::vector<std::string> order{"RU", "IN", "UN", "ID", "ST", "TR", "ZO", "DE", "PA", "WA", "NE", "??"};
    for (auto* t : shown) counts[kernel::task_state_code(k, *t)]++;
    for (auto& st : order)
      if (counts.count(st)) out.print("  {}: {}\n", st, counts[st]);
    return ok();
  }
  if (args.has('p')) {
    // Parental hierarchy: init_task first, each generation indented by one more space.
    for (size_t i = 0; i < shown.size(); ++i) {
      std::vector<const Task*> chain{shown[i]};
      for (int guard = 0; guard < 4096; ++guard) {
        const Task* p = tt.find(chain.back()->parent);
        if (!p || p == chain.back()) break;
        chain.push_back(p);
      }
      int depth = 0;
      for (auto it = chain.rbegin(); it != chain.rend(); ++it, ++depth)
        out.print("{}{}\n", std::string(depth, ' '), task_header(**it));
      out.print("\n");
    }
    return ok();
  }
  if (args.has('c')) {
    for (size_t i = 0; i < shown.size(); ++i) {
      out.print("{}\n", task_header(*shown[i]));
      bool any = false;
      for (auto& t : tt.tasks)
        if (t.parent == shown[i]->addr && &t != shown[i] && !t.idle) {
          out.print("  {}\n", task_header(t));
          any = true;
        }
      if (!any) out.print("  (no children)\n");
      out.print("\n");
    }
    return ok();
  }
  if (args.has('g')) {
    std::set<int32_t> groups;
    for (size_t i = 0; i < shown.size(); ++i) {
      const Task* leader = nullptr;
      for (auto* t : tt.by_pid(shown[i]->tgid)) leader = t;
      if (!leader || !groups.insert(leader->tgid).second) continue;
      out.print("{}\n", task_header(*leader));
      bool any = false;
      for (auto& t : tt.tasks)
        if (t.tgid == leader->tgid && &t != leader) out.print("  {}\n", task_header(t)), any = true;
      if (!any) out.print("  (no threads)\n");
      out.print("\n");
    }
    return ok();
  }
  if (args.has('l')) {
    std::vector<const Task*> by_time = shown;
    std::stable_sort(by_time.begin(), by_time.end(),
                     [](const Task* a, const Task* b) { return a->last_arrival > b->last_arrival; });
    for (auto* t : by_time)
      out.print("[{:>10}] [{}]  {}\n", t->last_arrival, kernel::task_state_code(k, *t), task_header(*t));
    return ok();
  }

  bool kstack = args.has('s');
  out.print("{}", kstack ? "      PID    PPID  CPU      KSTACKP      ST  %MEM      VSZ      RSS  COMM\n"
                        : "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\n");
  for (auto* t : shown) TRY(print_row(s, tt, *t, kstack, out));
  return ok();
}

Command ps_command() {
  return Command{
      CommandSpec{"ps",
                  {},
                  "display process status information",
                  "[-k|-u|-G] [-s] [-p|-c|-l|-g|-S|-A] [pid | task | command | 'regex'] ...",
                  {{'k', false, "kernel threads only"},
                   {'u', false, "user tasks only"},
                   {'G', false, "thread group leaders only"},
                   {'s', false, "show the kernel stack pointer instead of the task address"},
                   {'p', false, "parental hierarchy"},
                   {'c', false, "children"},
                   {'l', false, "last run timestamp, most recent first"},
                   {'g', false, "thread groups"},
                   {'S', false, "count of tasks in each state"},
                   {'A', false, "active tasks only (one per CPU)"}},
                  {"ps", "ps -k", "ps 1 'kworker.*'", "ps -p 116", "ps -S"}},
      run_ps};
}

}  // namespace

std::vector<Command> ps_commands() { return {ps_command()}; }

}  // namespace coroner::commands
