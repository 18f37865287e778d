// set: the task context other commands default to (bt, task), shown as crash shows it:
//
//       PID: 116
//   COMMAND: "sh"
//      TASK: ffff8de9efe5b000  [THREAD_INFO: ffff8de9efe5b000]
//       CPU: 0
//     STATE: TASK_RUNNING (PANIC)
//
// `set PID|TASK` changes it, `set -p` goes back to the panic task, `set -c CPU` takes the task
// running on a CPU. Of crash's internal variables, `set scroll` and `set radix` answer as
// crash does for coroner's fixed behaviour (no pager, radix 10).
#include <charconv>
#include <set>
#include <string_view>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/stack.h"
#include "kernel/tasks.h"

namespace coroner::commands {
namespace {

using kernel::Task;

// Whether the panic came through the SysRq crash handler with no kexec on the way, as in a
// dump taken by a hypervisor after a sysrq-c: crash then labels the panic task (SYSRQ). It
// finds that while searching the task's stack from its lowest word up for the crash path's
// functions: a kexec function first means a kdump (PANIC); sysrq_handle_crash means SYSRQ.
bool panic_via_sysrq(kernel::Kernel& k, const Task& t) {
  auto range = kernel::task_stack(k, t);
  if (!range) return false;
  auto [lo, hi] = *range;
  if (hi <= lo || hi - lo > (1u << 20)) return false;
  std::vector<uint64_t> words((hi - lo) / 8);
  if (!k.read(lo, std::span(reinterpret_cast<uint8_t*>(words.data()), words.size() * 8))) return false;
  static const std::set<std::string_view> kexec = {"crash_kexec", "__crash_kexec", "machine_kexec",
                                                   "crash_nmi_callback"};
  for (uint64_t w : words) {
    auto hit = k.symbols().lookup(w);
    if (!hit || (hit->symbol->type != 't' && hit->symbol->type != 'T')) continue;
    if (kexec.count(hit->symbol->name)) return false;
    if (hit->symbol->name == "sysrq_handle_crash") return true;
  }
  return false;
}

// thread_info lives in task_struct since 4.9 on x86 (CONFIG_THREAD_INFO_IN_TASK); before, at
// the bottom of the stack task_struct.stack points to.
uint64_t thread_info_of(kernel::Kernel& k, const Task& t) {
  if (auto off = k.offset_of("task_struct", "thread_info")) return t.addr + *off;
  return t.stack;
}

void show_context(Session& s, const kernel::TaskTable& tt, const Task& t, Output& out) {
  kernel::Kernel& k = s.kernel;
  out.print("    PID: {}\n", t.pid);
  out.print("COMMAND: \"{}\"\n", t.comm);
  std::string task_line = fmt::format("   TASK: {:x}  ", t.addr);
  if (size_t n = tt.by_pid(t.pid).size(); n > 1) task_line += fmt::format("(1 of {})  ", n);
  task_line += fmt::format("[THREAD_INFO: {:x}]", thread_info_of(k, t));
  out.print("{}\n", task_line);
  out.print("    CPU: {}\n", t.idle ? t.idle_cpu : t.cpu);
  std::string state = fmt::format("  STATE: {} ", kernel::task_state_name(k, t));
  if (tt.is_active(t.addr)) {
    if (tt.panic && *tt.panic == t.addr)
      state += panic_via_sysrq(k, t) ? "(SYSRQ)" : "(PANIC)";
    else
      state += "(ACTIVE)";
  }
  out.print("{}\n", state);
}

Result<void> run_set(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  const Task* target = nullptr;
  if (args.has('p')) {
    if (!tt.panic) return Error::make(Errc::not_found, "no panic task found");
    target = tt.find(*tt.panic);
  } else if (args.has('c')) {
    std::string v = args.value('c');
    if (size_t bad = v.find_first_not_of("0123456789"); bad != std::string::npos || v.empty())
      return Error::make(Errc::usage, "{}: \"{}\" is not a digit 0 - 9", v, v.empty() ? ' ' : v[bad]);
    int cpu = -1;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), cpu);
    if (ec != std::errc() || p != v.data() + v.size() || cpu < 0)
      return Error::make(Errc::usage, "invalid cpu number: {}", v);
    if (static_cast<size_t>(cpu) >= tt.active.size())
      return Error::make(Errc::usage, "invalid cpu number: system has only {} cpus", tt.active.size());
    if (!tt.active[static_cast<size_t>(cpu)])
      return Error::make(Errc::not_found, "no active task on cpu {}", cpu);
    target = tt.find(tt.active[static_cast<size_t>(cpu)]);
  } else if (!args.positional.empty() && (args.positional[0] == "scroll" || args.positional[0] == "radix")) {
    // crash's own variables that scripts set first: coroner never pages its output, and
    // prints in crash's default radix.
    const std::string& var = args.positional[0];
    std::string value = args.positional.size() > 1 ? args.positional[1] : "";
    if (var == "scroll") {
      out.print("scroll: off (none)\n");
      return ok();
    }
    if (!value.empty() && value != "10" && value != "decimal")
      return Error::make(Errc::unsupported, "radix {}: only radix 10 is supported", value);
    out.print("output radix: 10 (decimal)\n");
    return ok();
  } else if (!args.positional.empty()) {
    // A PID (decimal) or a task_struct address (hex); crash takes no command names here.
    const std::string& a = args.positional[0];
    bool hexish = !a.empty() && a.find_first_not_of("0123456789abcdefABCDEFx") == std::string::npos;
    if (!hexish) return Error::make(Errc::usage, "invalid task or pid value: {}", a);
    auto sel = select_tasks(tt, a);
    if (!sel || sel->empty()) return Error::make(Errc::not_found, "invalid task or pid value: {}", a);
    target = sel->front();
  } else {
    uint64_t cur = s.current_task ? *s.current_task : (tt.panic ? *tt.panic : 0);
    target = tt.find(cur);
    if (!target && !tt.tasks.empty()) target = &tt.tasks.front();
  }
  if (!target) return Error::make(Errc::not_found, "no task context");
  if (args.has('p') || args.has('c') || !args.positional.empty()) s.current_task = target->addr;
  show_context(s, tt, *target, out);
  return ok();
}

}  // namespace

std::vector<Command> set_commands() {
  return {Command{CommandSpec{"set",
                              {},
                              "set a process context or internal crash variable",
                              "[pid | taskp | -c cpu | -p] | [scroll | radix [10]]",
                              {{'c', true, "the task running on this CPU"}, {'p', false, "the panic task"}},
                              {"set", "set 1", "set ffff8de9c11fb000", "set -c 1", "set -p"}},
                  run_set}};
}

}  // namespace coroner::commands
