// vm: a task's virtual memory as crash shows it: the mm_struct, its page directory, RSS and
// total size, then each VMA (address, start, end, vm_flags, mapped file).
//
//   PID: 1        TASK: ffff8de9c11fb000  CPU: 0    COMMAND: "init"
//          MM               PGD          RSS    TOTAL_VM
//   ffff8de9c1054000  ffff8de9e2802000  1728k    2260k
//         VMA           START       END     FLAGS FILE
//   ffff8de9c24b8a18     400000     401000 8000071 /bin/busybox
#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/files.h"
#include "kernel/kernel.h"
#include "kernel/tasks.h"
#include "kernel/vm.h"

namespace coroner::commands {
namespace {

using kernel::Task;

// crash's mkstring(CENTER): the left pad is half the slack, rounded down.
std::string center(const std::string& s, size_t width) {
  if (s.size() >= width) return s;
  size_t left = (width - s.size()) / 2;
  return std::string(left, ' ') + s + std::string(width - s.size() - left, ' ');
}

Result<void> show_vm(kernel::Kernel& k, const Task& t, Output& out) {
  out.print("{}\n", task_header(t));
  uint64_t pgd = t.mm ? TRY(k.member<uint64_t>(t.mm, "mm_struct", "pgd")) : 0;
  auto mem = TRY(kernel::task_memory(k, t));
  out.print("{}  {}  {}  {}\n", center("MM", 16), center("PGD", 16), center("RSS", 6), "TOTAL_VM");
  out.print("{}  {}  {}  {}\n", center(fmt::format("{:x}", t.mm), 16), center(fmt::format("{:x}", pgd), 16),
            center(fmt::format("{}k", mem.rss_kb), 6), center(fmt::format("{}k", mem.vsz_kb), 8));
  if (!t.mm) return ok();
  out.print("      VMA           START       END     FLAGS FILE\n");
  for (auto& v : TRY(kernel::task_vmas(k, t.mm))) {
    std::string file = v.file ? TRY(kernel::file_path(k, v.file)) : "";
    out.print("{:16x} {:>10x} {:>10x} {:<7x} {}\n", v.addr, v.start, v.end, v.flags, file);
  }
  return ok();
}

Result<void> run_vm(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  auto targets = TRY(pid_or_task_args(tt, args.positional, s.current_task));
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i) out.print("\n");
    TRY(show_vm(k, *targets[i], out));
  }
  return ok();
}

}  // namespace

std::vector<Command> vm_commands() {
  return {Command{CommandSpec{"vm",
                              {},
                              "virtual memory",
                              "[pid | task] ...",
                              {},
                              {"vm", "vm 1", "foreach vm"}},
                  run_vm}};
}

}  // namespace coroner::commands
