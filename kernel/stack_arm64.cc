#include "kernel/stack_arm64.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "kernel/stack.h"

namespace coroner::kernel::arm64 {
namespace {

constexpr size_t kMaxFrames = 1024;

// PSTATE modes of a kernel exception frame (EL1t, EL1h, EL2t, EL2h).
bool kernel_mode(uint64_t pstate) {
  switch (pstate & 0xf) {
    case 0x4: case 0x5: case 0x8: case 0x9: return true;
    default: return false;
  }
}

struct Range {
  uint64_t lo = 0, hi = 0;
  std::string name;
  bool contains(uint64_t a) const { return a >= lo && a < hi; }
};

// The crash path's own functions: when a CPU ran the kdump path, its trace starts from
// their frames on the stack (crash's arm64_in_kdump_text).
struct FuncRange {
  uint64_t lo = 0, hi = 0;
  bool contains(uint64_t a) const { return lo && a >= lo && a < hi; }
};

// crash's arm64_init: a function ends where the next symbol in address order starts
// (next_symbol), else at its ELF size. One binary search in the sorted table; symbols that
// lookup() skips (absolute, not in the image) do not end it either.
FuncRange function_range(Kernel& k, std::string_view name) {
  const auto& table = k.symbols();
  const auto* s = table.find(name);
  if (!s) return {};
  uint64_t lo = table.address(*s);
  const auto& all = table.all();
  auto next = std::upper_bound(all.begin(), all.end(), s->link_addr,
                               [](uint64_t a, const symbols::Symbol& x) { return a < x.link_addr; });
  for (; next != all.end(); ++next)
    if (next->relocatable && next->type != 'A' && next->type != 'a') return {lo, table.address(*next)};
  if (s->size) return {lo, lo + s->size};
  return {};
}

class Walker {
 public:
  Walker(Kernel& k, const Task& t, int cpu, const std::function<bool(uint64_t)>& is_text)
      : k_(k), t_(t), cpu_(cpu), is_text_(is_text) {}

  Result<void> init() {
    auto [lo, hi] = TRY(task_stack(k_, t_));
    task_ = {lo, hi, "task's stack"};
    eo_ = TRY(eframe_offsets(k_));
    if (auto m = k_.vmcoreinfo().number("NUMBER(KERNELPACMASK)", 16)) pac_mask_ = *m;
    machine_kexec_ = function_range(k_, "machine_kexec");
    crash_kexec_ = function_range(k_, "crash_kexec");
    crash_save_cpu_ = function_range(k_, "crash_save_cpu");
    if (cpu_ >= 0) {
      uint64_t size = hi - lo;  // IRQ_STACK_SIZE is THREAD_SIZE
      if (auto p = k_.per_cpu("irq_stack_ptr", cpu_)) {
        if (auto base = k_.read_u64(*p); base && *base) irq_ = {*base, *base + size, "IRQ stack"};
      }
      if (auto p = k_.per_cpu("overflow_stack", cpu_)) {
        const auto* s = k_.symbols().find("overflow_stack");
        uint64_t osize = s && s->size ? s->size : 0;
        if (osize) overflow_ = {*p, *p + osize, "Overflow stack"};
      }
      // The SDEI handlers' stacks (CONFIG_ARM_SDE_INTERFACE with VMAP_STACK): per-CPU
      // pointers to stacks of IRQ_STACK_SIZE.
      if (auto p = k_.per_cpu("sdei_stack_normal_ptr", cpu_))
        if (auto base = k_.read_u64(*p); base && *base) sdei_normal_ = {*base, *base + size, "SDEI normal stack"};
      if (auto p = k_.per_cpu("sdei_stack_critical_ptr", cpu_))
        if (auto base = k_.read_u64(*p); base && *base) sdei_critical_ = {*base, *base + size, "SDEI critical stack"};
    }
    return ok();
  }

  uint64_t strip_pac(uint64_t v) const {
    if (pac_mask_ && !is_text_(v) && is_text_(v | pac_mask_)) return v | pac_mask_;
    return v;
  }
  uint64_t pac_mask() const { return pac_mask_; }

  const Range* stack_of(uint64_t a) const {
    if (task_.contains(a)) return &task_;
    if (irq_.hi && irq_.contains(a)) return &irq_;
    if (overflow_.hi && overflow_.contains(a)) return &overflow_;
    if (sdei_normal_.hi && sdei_normal_.contains(a)) return &sdei_normal_;
    if (sdei_critical_.hi && sdei_critical_.contains(a)) return &sdei_critical_;
    return nullptr;
  }

  // crash's arm64_is_kernel_exception_frame: a pt_regs whose sp and x29 lie on the stack
  // being walked, a kernel-mode AArch64 PSTATE, and text at pc and lr.
  std::optional<Regs> kernel_eframe(uint64_t addr, const Range& on) {
    if (addr < on.lo || addr + eo_.size > on.hi) return std::nullopt;
    auto r = arm64::read_pt_regs(k_, addr);
    if (!r) return std::nullopt;
    if (!on.contains(r->sp) || !on.contains(r->x[29])) return std::nullopt;
    if (r->pstate & (0xffffffff00000000ull | 0x10)) return std::nullopt;
    if (!is_text_(r->pc) || !is_text_(strip_pac(r->x[30]))) return std::nullopt;
    if (!kernel_mode(r->pstate)) return std::nullopt;
    return *r;
  }

  bool in_exception_text(uint64_t pc) {
    auto in = [&](const char* a, const char* b) {
      auto lo = k_.symbols().address_of(a), hi = k_.symbols().address_of(b);
      return lo && hi && pc >= *lo && pc < *hi;
    };
    if (in("__irqentry_text_start", "__irqentry_text_end")) return true;
    if (in("__exception_text_start", "__exception_text_end")) return true;
    static constexpr std::array<std::string_view, 7> kHandlers = {
        "do_undefinstr", "do_sysinstr", "do_debug_exception", "do_mem_abort",
        "do_el0_irq_bp_hardening", "do_sp_pc_abort", "handle_bad_stack"};
    auto hit = k_.symbols().lookup(pc);
    if (!hit || !hit->symbol) return false;
    std::string_view name = hit->symbol->name;
    for (auto h : kHandlers)
      if (name == h) return true;
    return false;
  }

  // crash's arm64_in_kdump_text: from the frame pointer (or the stack's top) down, the
  // first word inside machine_kexec or crash_save_cpu, else the first inside crash_kexec.
  // On the IRQ stack (arm64_in_kdump_text_on_irq_stack) only crash_kexec and crash_save_cpu
  // count, whichever comes first from the top.
  std::optional<uint64_t> kdump_slot(uint64_t fp, const Range& on, bool irq_stack = false) {
    const FuncRange &mk = machine_kexec_, &ck = crash_kexec_, &cs = crash_save_cpu_;
    if (!mk.lo || !ck.lo || !cs.lo) return std::nullopt;
    uint64_t start = on.contains(fp) ? fp : on.hi;
    if (start < on.lo + 8 * 8) return std::nullopt;
    std::vector<uint64_t> w((start - 8 * 8 - on.lo) / 8 + 1);
    if (!k_.read(on.lo, std::span(reinterpret_cast<uint8_t*>(w.data()), w.size() * 8))) return std::nullopt;
    std::optional<uint64_t> ck_slot;
    for (size_t i = w.size(); i-- > 0;) {
      uint64_t v = w[i];
      if (irq_stack) {
        if (ck.contains(v) || cs.contains(v)) return on.lo + 8 * i;
        continue;
      }
      if (mk.contains(v) || cs.contains(v)) return on.lo + 8 * i;
      if (ck.contains(v) && !ck_slot) ck_slot = on.lo + 8 * i;
    }
    return ck_slot;
  }

  Result<Backtrace> walk(uint64_t pc, uint64_t sp, uint64_t fp, bool active, bool user) {
    Backtrace bt;
    const Range* on = stack_of(fp);
    if (!on) on = stack_of(sp);
    if (!on) on = &task_;
    bool kdump = false;
    if (active) {
      std::optional<uint64_t> slot = kdump_slot(fp, task_);
      if (!slot && irq_.hi) slot = kdump_slot(irq_.hi, irq_, true);
      if (slot) {
        // crash's BT_KDUMP_ADJUST: the return address in the crash path and the frame
        // record below it.
        kdump = true;
        on = stack_of(*slot);
        fp = TRY(k_.read_u64(*slot - 8));
        pc = TRY(k_.read_u64(*slot));
        sp = *slot + 8;
        user = false;
      }
    }
    bt.start_pc = pc;
    bt.start_sp = sp;
    if (user) {
      bt.in_user_space = true;
      bt.user = user_frame();
      return bt;
    }
    if (active && !kdump)
      if (fp >= eo_.kernel) bt.first_exception = kernel_eframe(fp - eo_.kernel, *on);

    std::string left;
    std::vector<const Range*> left_behind;
    // An exception frame found from frame k (in exception text) is printed by crash below
    // frame k + 1, the entry code's frame whose record is pt_regs.stackframe, and not at all
    // when frame k + 1 ends the trace (arm64_back_trace_cmd prints it in the next round).
    std::optional<Regs> pending;
    for (size_t level = 0;; ++level) {
      if (level >= kMaxFrames) {
        bt.stopped = fmt::format("more than {} frames", kMaxFrames);
        break;
      }
      Frame f;
      f.fp = fp ? fp : task_.hi - eo_.user;
      f.pc = pc;
      f.left_stack = std::move(left);
      left.clear();
      bt.frames.push_back(std::move(f));
      auto name = k_.symbols().lookup(pc - 4);
      if (name && name->symbol) {
        std::string_view n = name->symbol->name;
        if (n == "start_kernel" || n == "secondary_start_kernel" || n == "kthread" || n == "kthreadd") return bt;
      }
      if (pending) {
        bt.frames.back().exception = std::move(pending);
        pending.reset();
      }
      // The next frame record: on the stack being walked, 16-byte aligned, not below sp.
      uint64_t cur_pc = pc;
      // One mask on every stack, THREAD_SIZE's, as crash's ARM64_STACK_SIZE: the overflow
      // stack is per-CPU data aligned to 16 bytes only, and its own 4 KiB would end the walk
      // at the first 4 KiB boundary inside it.
      uint64_t stack_mask = (task_.hi - task_.lo) - 1;
      uint64_t high = (sp + stack_mask) & ~stack_mask;
      if (fp < sp || fp > high || (fp & 0xf)) break;
      auto nfp = k_.read_u64(fp);
      auto npc = k_.read_u64(fp + 8);
      if (!nfp || !npc) {
        bt.stopped = fmt::format("cannot read the frame record at {:x}", fp);
        break;
      }
      uint64_t prev_fp = fp;
      sp = fp + 16;
      fp = *nfp;
      pc = strip_pac(*npc);
      if (fp == 0 && pc == 0) break;
      // crash's BT_IRQSTACK / BT_OVERFLOW_STACK still name the stack the record was read on
      // when the exception test below runs, also after the switch to the task's stack.
      const Range* read_on = on;
      if (on != &task_ && !on->contains(fp)) {
        // Leaving the IRQ, overflow or an SDEI stack: to the stack it interrupted (another
        // of them once, or the task's own), else the walk ends (user space, or garbage).
        const Range* next = stack_of(fp);
        if (!next || next == on || std::find(left_behind.begin(), left_behind.end(), next) != left_behind.end()) break;
        left_behind.push_back(on);
        left = on->name;
        on = next;
        sp = fp >= eo_.kernel ? fp - eo_.kernel : fp;
        (void)prev_fp;
      }
      if (in_exception_text(cur_pc) && on->contains(fp) && fp >= eo_.kernel) {
        if (read_on == &overflow_) {
          // Taken unchecked, as crash does: handle_bad_stack's pt_regs hold the stack
          // pointer that overflowed, which lies on no stack.
          if (auto e = arm64::read_pt_regs(k_, fp - eo_.kernel)) pending = *e;
        } else if (read_on != &irq_ || sp + eo_.size < on->hi) {
          pending = kernel_eframe(fp - eo_.kernel, *on);
        }
      }
    }
    if (!t_.kernel_thread()) bt.user = user_frame();
    return bt;
  }

  std::optional<Regs> user_frame() {
    if (task_.hi < eo_.user) return std::nullopt;
    auto r = arm64::read_pt_regs(k_, task_.hi - eo_.user);
    if (!r) return std::nullopt;
    return *r;
  }

 private:
  Kernel& k_;
  const Task& t_;
  int cpu_;
  const std::function<bool(uint64_t)>& is_text_;
  Range task_, irq_, overflow_, sdei_normal_, sdei_critical_;
  FuncRange machine_kexec_, crash_kexec_, crash_save_cpu_;  // the kdump start's functions
  EframeOffsets eo_;
  uint64_t pac_mask_ = 0;
};

}  // namespace

uint64_t strip_pac(Kernel& k, uint64_t v, const std::function<bool(uint64_t)>& is_text) {
  auto m = k.vmcoreinfo().number("NUMBER(KERNELPACMASK)", 16);
  if (m && *m && !is_text(v) && is_text(v | *m)) return v | *m;
  return v;
}

Result<Regs> cpu_registers(Kernel& k, int cpu) {
  // arm64's pr_reg is a user_pt_regs: x0..x30, sp, pc, pstate.
  auto v = TRY(prstatus_registers(k, cpu, 34));
  Regs r;
  std::copy_n(v.begin(), 31, r.x);
  r.sp = v[31];
  r.pc = v[32];
  r.pstate = v[33];
  return r;
}

Result<Regs> read_pt_regs(Kernel& k, uint64_t addr) {
  Regs r;
  r.addr = addr;
  uint64_t regs = TRY(k.offset_of("pt_regs", "regs"));
  std::array<uint64_t, 34> v{};
  TRY(k.read(addr + regs, std::span(reinterpret_cast<uint8_t*>(v.data()), v.size() * 8)));
  std::memcpy(r.x, v.data(), sizeof r.x);
  r.sp = TRY(k.member<uint64_t>(addr, "pt_regs", "sp"));
  r.pc = TRY(k.member<uint64_t>(addr, "pt_regs", "pc"));
  r.pstate = TRY(k.member<uint64_t>(addr, "pt_regs", "pstate"));
  r.orig_x0 = TRY(k.member<uint64_t>(addr, "pt_regs", "orig_x0"));
  r.syscallno = static_cast<uint64_t>(static_cast<int64_t>(TRY(k.member<int32_t>(addr, "pt_regs", "syscallno"))));
  return r;
}

Result<EframeOffsets> eframe_offsets(Kernel& k) {
  EframeOffsets e;
  e.size = TRY(k.types().size_of_name("pt_regs"));
  // Since 4.14 pt_regs holds the exception's frame record (stackframe): a frame pointer
  // that points at it gives the pt_regs below. Before, the record sat just above pt_regs.
  if (auto sf = k.offset_of("pt_regs", "stackframe")) {
    e.kernel = *sf;
    e.user = e.size;
  } else {
    e.kernel = e.size;
    e.user = e.size + 16;
  }
  return e;
}

Result<Backtrace> unwind(Kernel& k, const TaskTable& tt, const Task& t, const std::function<bool(uint64_t)>& is_text) {
  bool active = tt.is_active(t.addr);
  int cpu = active ? tt.active_cpu(t.addr) : -1;
  Walker w(k, t, cpu, is_text);
  TRY(w.init());
  if (active) {
    auto r = arm64::cpu_registers(k, cpu);
    if (!r)
      return Error::make(Errc::not_found, "cannot determine starting stack frame for task {:x}: {}", t.addr,
                         r.error().message);
    bool user = r->user_mode();
    return w.walk(r->pc, r->sp, r->x[29], true, user);
  }
  uint64_t sp = TRY(k.member<uint64_t>(t.addr, "task_struct", "thread.cpu_context.sp"));
  uint64_t fp = TRY(k.member<uint64_t>(t.addr, "task_struct", "thread.cpu_context.fp"));
  uint64_t pc = TRY(k.member<uint64_t>(t.addr, "task_struct", "thread.cpu_context.pc"));
  return w.walk(pc, sp, fp, false, false);
}

}  // namespace coroner::kernel::arm64
