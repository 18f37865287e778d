// Kernel stack unwinding on x86_64: the kernel's own ORC data first, each frame knowing how
// it was found; bounded (frame cap, the stack pointer must move up, reads stay on the
// task's stacks) so a corrupt stack ends with a note instead of a hang.
// An active task's walk may start on its CPU's exception stacks (NMI, #DF, #DB, #MC) or IRQ
// stack and cross to the next one down (exception -> IRQ -> task stack); each stack is
// entered at most once, and the first frame on a new stack names the one left, as crash's
// `--- <IRQ stack> ---` line does.
//
//   auto bt = TRY(unwind_task(k, task, table));
//   for (auto& f : bt.frames) fmt::print("{:x} {:x}\n", f.slot, f.pc);
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/kernel.h"
#include "kernel/tasks.h"
#include "symbols/orc.h"

namespace coroner::kernel {

// struct pt_regs, in the kernel's member order (r15 ... ss), read through the type layer.
struct PtRegs {
  uint64_t addr = 0;  // where it lies on the stack
  uint64_t r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
  bool from_cpu_note = false;  // read from a dump note, which has no orig_ax
  bool user_mode() const { return (cs & 3) != 0; }
};

// A kernel stack a walk may use, [lo, hi): the task's own, or its CPU's IRQ or an exception stack.
struct StackRange {
  enum class Kind { task, irq, exception };
  uint64_t lo = 0, hi = 0;
  Kind kind = Kind::task;
  std::string name;  // "IRQ stack", "NMI exception stack", "task's stack"
  bool contains(uint64_t a, uint64_t len = 8) const { return a >= lo && a + len <= hi && a + len > a; }
};

// How a frame was found: the saved switch frame, ORC, the registers' starting point, or a
// stack scan for a return address where ORC had nothing.
enum class FrameSource { saved_context, orc, registers, scan };

struct StackFrame {
  uint64_t slot = 0;  // the stack address the frame's pc was read from (crash's [ADDR])
  uint64_t pc = 0;
  FrameSource how = FrameSource::orc;
  std::optional<PtRegs> exception;  // an exception or entry frame found above this frame
  // Set on the first frame after the walk left another stack: that stack's name as crash
  // prints it before this frame ("IRQ stack", "NMI exception stack").
  std::string left_stack;
};

struct Backtrace {
  std::optional<PtRegs> start;  // the CPU registers the walk began from, when it did
  std::vector<StackFrame> frames;
  std::string stopped;  // why the walk ended early (empty when it reached the stack's end)
  // The stacks walked, in order: the first frame's, then one per frame with left_stack set.
  std::vector<StackRange> stacks;
};

// Any task as crash unwinds it: a task switched out from its saved frame; a task running on a
// CPU from the crash path's own frames on its stack (crash_kexec, machine_kexec,
// crash_nmi_callback, panic; stop_this_cpu off the task's stack: the lowest such word), else
// from that CPU's registers in the dump.
Result<Backtrace> unwind(Kernel& k, const TaskTable& tt, const Task& t);
// Whether unwind() starts an active task from a crash-path word on its stacks (not from the
// CPU's registers); false for a task not running on a CPU.
bool starts_on_crash_path(Kernel& k, const TaskTable& tt, const Task& t);
// A task switched out: from thread.sp's inactive_task_frame.
Result<Backtrace> unwind_task(Kernel& k, const Task& t);
// From a return-address slot on the task's stack (crash's starting frame for active tasks).
Result<Backtrace> unwind_from_slot(Kernel& k, const Task& t, uint64_t slot, uint64_t bp);
// From a CPU's registers as the dump recorded them (an interrupted instruction).
Result<Backtrace> unwind_from_registers(Kernel& k, const Task& t, const PtRegs& regs);
Result<PtRegs> read_pt_regs(Kernel& k, uint64_t addr);
// A CPU's registers from the dump's notes (NT_PRSTATUS, else QEMU's CPU state).
Result<PtRegs> cpu_registers(Kernel& k, int cpu);
// The first `count` 64-bit words of pr_reg in CPU `cpu`'s NT_PRSTATUS note (elf_prstatus of
// a 64-bit kernel: pr_reg follows the 112-byte elf_prstatus_common on x86_64 and arm64; the
// register layout is the architecture's). Fails naming the CPU when the dump has no note for
// it, and the CPU and the note's size when the note is too short.
Result<std::vector<uint64_t>> prstatus_registers(Kernel& k, int cpu, size_t count);
// Whether v is text of the kernel image as crash's is_kernel_text() sees it: inside
// _stext.._etext or _sinittext.._einittext and inside a text symbol ('t', 'T', 'W'). The
// bounds are read once per Kernel. Module text is the caller's to test (kernel/modules.h).
bool in_kernel_image_text(Kernel& k, uint64_t v);
// Whether v lies in _stext.._etext (no symbol test).
bool in_kernel_core_text(Kernel& k, uint64_t v);
// The task's kernel stack, [low, high).
Result<std::pair<uint64_t, uint64_t>> task_stack(Kernel& k, const Task& t);
// A CPU's exception stacks (from the per-CPU cea_exception_stacks, 4.20+; names as crash
// gives them) followed by its hard-IRQ stack (per-CPU hardirq_stack_ptr, 5.2+, or
// pcpu_hot.hardirq_stack_ptr, 6.2+): the order a walk leaves them in. Stacks the kernel
// does not have, or whose pointer is not set up, are left out.
Result<std::vector<StackRange>> cpu_stacks(Kernel& k, int cpu);
// crash's `bt -S SP` / `bt -I IP`: a walk from a stack address given by the user. The scan
// starts at `sp` (default: where the task's own trace starts), moved past the switch frame's
// registers to its return address when no `ip` is given and the task is switched out in
// __schedule (crash skips inactive_task_frame there); the first word from there up that is
// kernel text past a function's start is frame #0, and the walk goes on with ORC from it.
// `ip` (default: the task's own pc) is what `bt -t` names as START. `sp` must lie on the
// task's stack or on its CPU's IRQ or exception stacks.
struct HookStart {
  uint64_t pc = 0;  // -I, else the task's own
  uint64_t sp = 0;  // -S, else the task's own
};
Result<HookStart> hook_start(Kernel& k, const TaskTable& tt, const Task& t, std::optional<uint64_t> ip,
                             std::optional<uint64_t> sp);
Result<Backtrace> unwind_from_hook(Kernel& k, const TaskTable& tt, const Task& t, std::optional<uint64_t> ip,
                                   std::optional<uint64_t> sp);

// A loaded module's own ORC table (struct module's arch.orc_unwind_ip, arch.orc_unwind and
// arch.num_orcs, read through the type layer; addresses are run-time ones): empty when the
// module has none.
Result<symbols::OrcTable> module_orc(Kernel& k, uint64_t module);

}  // namespace coroner::kernel
