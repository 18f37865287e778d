// bt: kernel stack backtraces in crash's layout, unwound with the kernel's ORC data.
// foreach: run a task command (bt, ps-style selection) over a set of tasks.
#include <set>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/stack.h"
#include "kernel/tasks.h"

namespace coroner::commands {
namespace {

using kernel::Task;

std::string frame_name(kernel::Kernel& k, uint64_t pc) {
  auto hit = k.symbols().lookup(pc);
  return hit ? std::string(hit->symbol->name) : fmt::format("{:x}", pc);
}

void print_regs(Output& out, const kernel::PtRegs& r) {
  // crash omits ORIG_RAX for registers that came from a dump note.
  out.print("    RIP: {:016x}  RSP: {:016x}  RFLAGS: {:08x}\n", r.ip, r.sp, r.flags);
  out.print("    RAX: {:016x}  RBX: {:016x}  RCX: {:016x}\n", r.ax, r.bx, r.cx);
  out.print("    RDX: {:016x}  RSI: {:016x}  RDI: {:016x}\n", r.dx, r.si, r.di);
  out.print("    RBP: {:016x}   R8: {:016x}   R9: {:016x}\n", r.bp, r.r8, r.r9);
  out.print("    R10: {:016x}  R11: {:016x}  R12: {:016x}\n", r.r10, r.r11, r.r12);
  out.print("    R13: {:016x}  R14: {:016x}  R15: {:016x}\n", r.r13, r.r14, r.r15);
  if (r.from_cpu_note) out.print("    CS: {:04x}  SS: {:04x}\n", r.cs, r.ss);
  else out.print("    ORIG_RAX: {:016x}  CS: {:04x}  SS: {:04x}\n", r.orig_ax, r.cs, r.ss);
}

// A kernel-mode frame names the interrupted instruction first: `[exception RIP: sym+off]`.
void print_exception(kernel::Kernel& k, Output& out, const kernel::PtRegs& r) {
  if (!r.user_mode()) {
    auto hit = k.symbols().lookup(r.ip);
    std::string where = !hit ? fmt::format("unknown or invalid address")
                        : hit->offset ? fmt::format("{}+{}", hit->symbol->name, hit->offset)
                                      : std::string(hit->symbol->name);
    out.print("    [exception RIP: {}]\n", where);
  }
  print_regs(out, r);
}

// Where crash starts an active task's trace in a kdump: the first word on the task's stack,
// from its lowest address up, inside one of the functions the crash path runs through.
Result<std::optional<uint64_t>> active_start_slot(kernel::Kernel& k, const Task& t) {
  auto [lo, hi] = TRY(kernel::task_stack(k, t));
  uint64_t size = hi - lo;
  std::vector<uint64_t> words(size / 8);
  TRY(k.read(t.stack, std::span(reinterpret_cast<uint8_t*>(words.data()), size)));
  static const std::set<std::string_view> starts = {"crash_kexec", "machine_kexec", "crash_nmi_callback", "panic"};
  for (size_t i = 0; i < words.size(); ++i) {
    auto hit = k.symbols().lookup(words[i]);
    if (!hit || (hit->symbol->type != 't' && hit->symbol->type != 'T')) continue;
    if (starts.count(hit->symbol->name)) return std::optional<uint64_t>{t.stack + 8 * i};
  }
  return std::optional<uint64_t>{};
}

Result<void> print_bt(Session& s, const kernel::TaskTable& tt, const Task& t, Output& out) {
  kernel::Kernel& k = s.kernel;
  out.print("{}\n", task_header(t));
  Result<kernel::Backtrace> bt = Error{Errc::not_found, "", std::nullopt};
  if (tt.is_active(t.addr)) {
    // The crash path's own frames when the stack holds them, else the CPU's registers.
    auto slot = TRY(active_start_slot(k, t));
    if (slot) {
      bt = kernel::unwind_from_slot(k, t, *slot, 0);
    } else {
      auto regs = kernel::cpu_registers(k, tt.active_cpu(t.addr));
      if (!regs) {
        out.print("bt: cannot find the starting frame of active task {:x}: {}\n", t.addr, regs.error().message);
        return ok();
      }
      bt = kernel::unwind_from_registers(k, t, *regs);
    }
  } else {
    bt = kernel::unwind_task(k, t);
  }
  if (!bt) {
    out.print("bt: {}\n", bt.error().message);
    return ok();
  }
  if (bt->start) print_exception(k, out, *bt->start);
  for (size_t i = 0; i < bt->frames.size(); ++i) {
    auto& f = bt->frames[i];
    out.print("{:>3} [{:x}] {} at {:x}\n", fmt::format("#{}", i), f.slot, frame_name(k, f.pc), f.pc);
    if (f.exception) print_exception(k, out, *f.exception);
  }
  if (!bt->stopped.empty()) out.print("bt: {}\n", bt->stopped);
  return ok();
}

Result<std::vector<const Task*>> bt_targets(Session& s, const kernel::TaskTable& tt, const Args& args) {
  std::vector<const Task*> out;
  if (args.has('a')) {
    for (uint64_t a : tt.active)
      if (const Task* t = a ? tt.find(a) : nullptr) out.push_back(t);
    return out;
  }
  if (args.positional.empty()) {
    uint64_t cur = s.current_task ? *s.current_task : (tt.panic ? *tt.panic : 0);
    if (const Task* t = tt.find(cur)) out.push_back(t);
    else if (!tt.tasks.empty()) out.push_back(&tt.tasks.front());
    return out;
  }
  for (auto& a : args.positional) {
    // Like crash, bt takes PIDs and task addresses, not command names.
    if (a.empty() || a.find_first_not_of("0123456789abcdefABCDEFx") != std::string::npos)
      return Error::make(Errc::usage, "invalid task or pid value: {}", a);
    auto r = TRY(select_tasks(tt, a));
    for (auto* t : r) out.push_back(t);
  }
  return out;
}

Result<void> run_bt(Session& s, const Args& args, Output& out) {
  const kernel::TaskTable& tt = *TRY(kernel::task_table(s.kernel));
  auto targets = TRY(bt_targets(s, tt, args));
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i) out.print("\n");
    TRY(print_bt(s, tt, *targets[i], out));
  }
  return ok();
}

// foreach [pid | task | command]... [RU IN UN ...] [kernel | user | active] bt [bt options]
Result<void> run_foreach(Session& s, const Args& args, Output& out) {
  const kernel::TaskTable& tt = *TRY(kernel::task_table(s.kernel));
  static const std::set<std::string> states = {"RU", "IN", "UN", "ST", "TR", "ZO", "DE", "PA", "WA", "ID", "NE"};
  std::vector<std::string> selectors, state_sel;
  bool kernel_only = false, user_only = false, active_only = false;
  size_t i = 0;
  for (; i < args.positional.size(); ++i) {
    const std::string& w = args.positional[i];
    if (w == "bt") break;
    if (states.count(w)) state_sel.push_back(w);
    else if (w == "kernel") kernel_only = true;
    else if (w == "user") user_only = true;
    else if (w == "active") active_only = true;
    else selectors.push_back(w);
  }
  if (i == args.positional.size()) return Error::make(Errc::usage, "foreach: no command given (supported: bt)");
  std::vector<std::string> sub(args.positional.begin() + static_cast<long>(i) + 1, args.positional.end());
  if (!sub.empty()) return Error::make(Errc::unsupported, "foreach bt: options are not supported yet");
  std::vector<const Task*> chosen;
  std::set<uint64_t> named;
  for (auto& sel : selectors)
    for (auto* t : TRY(select_tasks(tt, sel))) named.insert(t->addr);
  for (auto& t : tt.tasks) {
    if (!selectors.empty() && !named.count(t.addr)) continue;
    if (!state_sel.empty()) {
      std::string st = kernel::task_state_code(s.kernel, t);
      bool match = false;
      for (auto& x : state_sel) match = match || x == st;
      if (!match) continue;
    }
    if (kernel_only && !t.kernel_thread()) continue;
    if (user_only && t.kernel_thread()) continue;
    if (active_only && !tt.is_active(t.addr)) continue;
    chosen.push_back(&t);
  }
  for (size_t j = 0; j < chosen.size(); ++j) {
    if (j) out.print("\n");
    TRY(print_bt(s, tt, *chosen[j], out));
  }
  return ok();
}

}  // namespace

std::vector<Command> bt_commands() {
  return {
      Command{CommandSpec{"bt",
                          {},
                          "backtrace",
                          "[-a] [pid | task | command] ...",
                          {{'a', false, "the active task on every CPU"}},
                          {"bt", "bt -a", "bt 1", "bt 'kworker.*'"}},
              run_bt},
      Command{CommandSpec{"foreach",
                          {},
                          "display command data for multiple tasks in the system",
                          "[pid | task | command]... [RU|IN|UN|ID|ST|TR|ZO|DE...] [kernel|user|active] bt",
                          {},
                          {"foreach bt", "foreach UN bt", "foreach kernel bt"}},
              run_foreach},
  };
}

}  // namespace coroner::commands
