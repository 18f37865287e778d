// set: the task context other commands default to (bt, task), shown as crash shows it:
//
//       PID: 116
//   COMMAND: "sh"
//      TASK: ffff8de9efe5b000  [THREAD_INFO: ffff8de9efe5b000]
//       CPU: 0
//     STATE: TASK_RUNNING (PANIC)
//
// `set PID|TASK` changes it, `set -p` goes back to the panic task, `set -c CPU` takes the task
// running on a CPU. Of crash's internal variables: `set radix [10|16]` (also `set hex`,
// `set dec`, crash's aliases hex and dec) sets the radix p and struct print integers in;
// `set -v` lists the variables coroner has in crash's layout; print_max and namelist answer
// for what coroner does.
#include <unistd.h>

#include <charconv>
#include <optional>
#include <set>
#include <string_view>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/session_flags.h"
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

// crash's internal variables that mean something here (`dumpfile` only shows in `set -v`:
// crash takes `set dumpfile` for a task name). The shell keeps `scroll` (the pager is
// its own) and answers `set scroll` itself; a `set scroll` reaching this file (no shell in
// front, e.g. a test) answers for a session without a pager.
bool is_variable(std::string_view name) {
  return name == "scroll" || name == "radix" || name == "hex" || name == "dec" || name == "print_max" ||
         name == "namelist";
}

// The shell's scroll, as it reports it; without a shell, a session with no pager (the shell
// turns the pager on only with a terminal at both ends).
std::string scroll_state(const Session& s) {
  if (s.scroll_state) return s.scroll_state();
  return "off (none)";
}

std::string radix_state(int radix) { return fmt::format("{} ({})", radix, radix == 16 ? "hex" : "decimal"); }

// p and struct print arrays up to gdb's default limit, crash's print_max.
constexpr int kPrintMax = 256;

Error invalid_set(const Args& args) {
  std::string words;
  for (auto& w : args.words) words += " " + w;
  return Error::make(Errc::usage, "invalid command: set{}", words);
}

// crash accepts 10 or anything starting "dec"/"ten" for decimal, 16 or "hex"/"six" for hex.
std::optional<int> parse_radix(std::string_view v) {
  auto starts = [&](std::string_view p) { return v.substr(0, p.size()) == p; };
  if (v == "10" || starts("dec") || starts("ten")) return 10;
  if (v == "16" || starts("hex") || starts("six")) return 16;
  return std::nullopt;
}

Result<void> set_variable(Session& s, const Args& args, Output& out) {
  const std::string& var = args.positional[0];
  const std::string* value = args.positional.size() > 1 ? &args.positional[1] : nullptr;
  if (var == "hex" || var == "dec") {
    s.output_radix = var == "hex" ? 16 : 10;
    out.print("output radix: {}\n", radix_state(s.output_radix));
  } else if (var == "radix") {
    if (value) {
      auto r = parse_radix(*value);
      if (!r) return invalid_set(args);
      s.output_radix = *r;
    }
    out.print("output radix: {}\n", radix_state(s.output_radix));
  } else if (var == "scroll") {
    out.print("scroll: {}\n", scroll_state(s));
  } else if (var == "print_max") {
    if (value && *value != std::to_string(kPrintMax))
      return Error::make(Errc::unsupported, "print_max {}: only {} is supported", *value, kPrintMax);
    out.print("print_max: {}\n", kPrintMax);
  } else if (var == "namelist") {
    if (value) return Error::make(Errc::unsupported, "cannot change the namelist during runtime");
    out.print("namelist: {}\n", s.kernel.vmlinux_path());
  }
  return ok();
}

// `set -v`: crash's table of its variables (name right-aligned in 14 columns), for those
// coroner has, in crash's order.
void show_variables(Session& s, Output& out) {
  out.print("{:>14}: {}\n", "scroll", scroll_state(s));
  out.print("{:>14}: {}\n", "radix", radix_state(s.output_radix));
  out.print("{:>14}: {}\n", "print_max", kPrintMax);
  out.print("{:>14}: {}\n", "namelist", s.kernel.vmlinux_path());
  // crash names the last file of a split dump (each one replaces the last as it is opened).
  out.print("{:>14}: {}\n", "dumpfile", s.kernel.dump_paths().empty() ? "" : s.kernel.dump_paths().back());
}

Result<void> run_set(Session& s, const Args& args, Output& out) {
  // Variables first: they need no task list (a dump whose task list is damaged still takes
  // `set radix 16`).
  if (args.has('v')) {
    show_variables(s, out);
    return ok();
  }
  if (!args.has('p') && !args.has('c') && !args.positional.empty() && is_variable(args.positional[0]))
    return set_variable(s, args, out);
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
  } else if (!args.positional.empty()) {
    // A PID (decimal) or a task_struct address (hex); crash takes no command names here.
    const std::string& a = args.positional[0];
    bool hexish = !a.empty() && a.find_first_not_of("0123456789abcdefABCDEFx") == std::string::npos;
    // crash reports a bad one with error(INFO): no restart (kernel/session_flags.h).
    if (!hexish) return kernel::info_error(s.kernel, Error::make(Errc::usage, "invalid task or pid value: {}", a));
    auto sel = select_tasks(tt, a);
    if (!sel || sel->empty())
      return kernel::info_error(s.kernel, Error::make(Errc::not_found, "invalid task or pid value: {}", a));
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
                              "[[-a] [pid | taskp] | [-c cpu] | -p] | [crash_variable [setting]] | -v",
                              {{'c', true, "sets the context to the task running on this CPU"},
                               {'p', false, "sets the context to the panic task"},
                               {'v', false,
                                "display the internal variables: scroll, radix (10 or 16: how p and struct print "
                                "integers), print_max, namelist, dumpfile"}},
                              {"set", "set 1", "set ffff8de9c11fb000", "set -c 1", "set -p", "set -v", "set radix 16",
                               "set radix"}},
                  run_set}};
}

}  // namespace coroner::commands
