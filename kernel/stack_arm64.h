// Kernel stack unwinding on arm64, the way crash's arm64 `bt` walks: AAPCS64 frame records
// (x29 points at {previous x29, return address}) from the CPU's registers in the dump (an
// active task) or from thread.cpu_context (a task switched out), across the CPU's IRQ and
// overflow stacks back to the task's stack, with the kernel exception frames (struct
// pt_regs) crash prints, and the user-mode frame at the top of a user task's stack.
// Bounded: a frame record must lie on the stack being walked, 16-byte aligned, above the
// last one; the walk ends at a zero record, at crash's last functions (start_kernel,
// secondary_start_kernel, kthread, kthreadd), or after a frame cap, saying why.
//
//   auto bt = TRY(arm64::unwind(k, tt, task, is_text));
//   for (auto& f : bt.frames) fmt::print("[{:x}] {:x}\n", f.fp, f.pc - 4);
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernel/kernel.h"
#include "kernel/tasks.h"

namespace coroner::kernel::arm64 {

// struct pt_regs / the NT_PRSTATUS register set (user_pt_regs): x0..x30, sp, pc, pstate.
struct Regs {
  uint64_t addr = 0;  // where it lies in memory (0 for a dump note)
  uint64_t x[31] = {};
  uint64_t sp = 0, pc = 0, pstate = 0;
  uint64_t orig_x0 = 0, syscallno = 0;  // pt_regs only
  // EL0 (user mode): PSTATE.M[3:0] == 0.
  bool user_mode() const { return (pstate & 0xf) == 0; }
  bool aarch32() const { return (pstate & 0x10) != 0; }
};

struct Frame {
  uint64_t fp = 0;  // the frame record's address as crash prints it in brackets
  uint64_t pc = 0;  // the instruction address as found (a return address except for #0)
  // Printed after this frame: a kernel exception frame found above it.
  std::optional<Regs> exception;
  // Printed before this frame: the walk left the IRQ (or overflow) stack to reach it.
  std::string left_stack;
};

struct Backtrace {
  // An active task interrupted by an exception: the frame crash prints before #0.
  std::optional<Regs> first_exception;
  std::vector<Frame> frames;
  // A user task: the user-mode registers at the top of its kernel stack, printed last.
  std::optional<Regs> user;
  // The task was in user mode when the dump was taken (crash prints " #0 [user space]").
  bool in_user_space = false;
  std::string stopped;  // why the walk ended early (empty at a normal end)
  uint64_t start_pc = 0, start_sp = 0;  // where the walk began (bt -t's START)
};

// A CPU's registers from the dump's NT_PRSTATUS note (QEMU numbers them by vCPU).
Result<Regs> cpu_registers(Kernel& k, int cpu);
// struct pt_regs at `addr`, through the type layer.
Result<Regs> read_pt_regs(Kernel& k, uint64_t addr);
// Bytes from a frame record in pt_regs (pt_regs.stackframe) back to the pt_regs itself, and
// from the task's stack top down to the user-mode pt_regs.
struct EframeOffsets {
  uint64_t kernel = 0, user = 0, size = 0;
};
Result<EframeOffsets> eframe_offsets(Kernel& k);

// A return address with its pointer-authentication bits put back (VMCOREINFO's
// KERNELPACMASK) when that makes it kernel text; other values unchanged.
uint64_t strip_pac(Kernel& k, uint64_t v, const std::function<bool(uint64_t)>& is_text);

// `is_text`: kernel or module text (the caller's test, as bt -t uses it).
Result<Backtrace> unwind(Kernel& k, const TaskTable& tt, const Task& t, const std::function<bool(uint64_t)>& is_text);

}  // namespace coroner::kernel::arm64
