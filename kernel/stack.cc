#include "kernel/stack.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <set>
#include <cstring>

#include "symbols/orc.h"

namespace coroner::kernel {
namespace {

struct OrcCache {
  std::optional<Result<symbols::OrcTable>> table;
};

Result<const symbols::OrcTable*> orc(Kernel& k) {
  auto& c = k.extension<OrcCache>();
  if (!c.table) c.table = symbols::OrcTable::from_vmlinux(k.vmlinux(), k.types());
  if (!*c.table) return c.table->error();
  return &**c.table;
}

constexpr size_t kMaxFrames = 256;

struct Walker {
  Kernel& k;
  const symbols::OrcTable& orc;
  uint64_t stack_lo, stack_hi;

  bool on_stack(uint64_t a, uint64_t len = 8) const { return a >= stack_lo && a + len <= stack_hi && a + len > a; }

  Result<uint64_t> read(uint64_t a) {
    if (!on_stack(a)) return Error::make(Errc::out_of_bounds, "stack address {:x} outside the task's stack", a);
    return k.read_u64(a);
  }

  // For a function with the `push %rbp; mov %rsp,%rbp` prologue: how far below %rbp its
  // stack pointer sits once the prologue's pushes and `sub $N,%rsp` are done. Nothing when the
  // prologue is not of that shape or realigns the stack.
  std::optional<uint64_t> rbp_distance(uint64_t pc) {
    auto hit = k.symbols().lookup(pc);
    if (!hit || hit->offset > (1u << 20)) return std::nullopt;
    uint64_t start = pc - hit->offset;
    uint8_t code[96];
    size_t len = std::min<uint64_t>(sizeof code, hit->offset);
    if (len == 0 || !k.read(start, std::span(code, len))) return std::nullopt;
    csh cs;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) return std::nullopt;
    cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn* insn = nullptr;
    size_t n = cs_disasm(cs, code, len, start, 24, &insn);
    std::optional<uint64_t> result;
    bool framed = false, pushed_bp = false;
    uint64_t below = 0;
    for (size_t i = 0; i < n; ++i) {
      const cs_insn& in = insn[i];
      const cs_x86& x = in.detail->x86;
      bool op_reg0 = x.op_count >= 1 && x.operands[0].type == X86_OP_REG;
      if (in.id == X86_INS_PUSH && op_reg0 && x.operands[0].reg == X86_REG_RBP && !framed) {
        pushed_bp = true;
      } else if (in.id == X86_INS_MOV && x.op_count == 2 && op_reg0 && x.operands[0].reg == X86_REG_RBP &&
                 x.operands[1].type == X86_OP_REG && x.operands[1].reg == X86_REG_RSP && pushed_bp) {
        framed = true;  // capstone lists the destination first
      } else if (framed && in.id == X86_INS_PUSH) {
        below += 8;
      } else if (framed && in.id == X86_INS_SUB && x.op_count == 2 && op_reg0 && x.operands[0].reg == X86_REG_RSP &&
                 x.operands[1].type == X86_OP_IMM) {
        below += static_cast<uint64_t>(x.operands[1].imm);
        result = below;
        break;
      } else if (framed && (in.id == X86_INS_AND || in.id == X86_INS_CALL || in.id == X86_INS_JMP ||
                            in.id == X86_INS_RET || (op_reg0 && x.operands[0].reg == X86_REG_RSP))) {
        if (in.id != X86_INS_AND && !(op_reg0 && x.operands[0].reg == X86_REG_RSP)) result = below;
        break;
      }
      if (in.address + in.size > pc) break;
    }
    if (n) cs_free(insn, n);
    cs_close(&cs);
    return result;
  }

  // A return address: kernel text right after a call instruction (e8 rel32, or ff /2 in
  // its register, memory and RIP-relative forms).
  bool is_return_address(uint64_t a) {
    auto hit = k.symbols().lookup(a);
    if (!hit || (hit->symbol->type != 't' && hit->symbol->type != 'T') || a < 7) return false;
    uint8_t b[7];
    if (!k.read(a - 7, std::span(b, 7))) return false;
    if (b[2] == 0xe8) return true;                                   // call rel32
    if (b[5] == 0xff && (b[6] & 0xf8) == 0xd0) return true;          // call *%reg
    if ((b[4] & 0xf0) == 0x40 && b[5] == 0xff && (b[6] & 0xf8) == 0xd0) return true;  // REX call *%r8-15
    if (b[1] == 0xff && (b[2] == 0x15 || (b[2] & 0xf8) == 0x90)) return true;  // call *disp32(%rip|%reg)
    if (b[4] == 0xff && (b[5] & 0xf8) == 0x50) return true;          // call *disp8(%reg)
    if (b[0] == 0xff && b[1] == 0x14 && b[2] == 0x25) return true;   // call *abs32
    return false;
  }

  Result<std::optional<uint64_t>> scan_for_return(uint64_t sp) {
    for (uint64_t a = sp; on_stack(a); a += 8)
      if (is_return_address(TRY(read(a)))) return std::optional<uint64_t>{a};
    return std::optional<uint64_t>{};
  }

  // Walk from a frame whose pc was read at `slot` (a return address), with frame pointer bp.
  Result<Backtrace> walk(uint64_t slot, uint64_t pc, uint64_t bp, FrameSource first) {
    Backtrace bt;
    bt.frames.push_back({slot, pc, first, std::nullopt});
    TRY(run(bt, pc, slot + 8, bp, false, bp != 0));
    return bt;
  }

  // From a CPU's registers: pc is the interrupted instruction itself.
  Result<Backtrace> walk_regs(const PtRegs& r) {
    Backtrace bt;
    bt.start = r;
    TRY(run(bt, r.ip, r.sp, r.bp, true, true));
    return bt;
  }

  // `signal`: pc is an interrupted instruction, not a return address.
  // `bp_known`: bp holds the frame pointer's real value (not so when a walk starts from a
  // stack slot found by a scan); a frame that needs an unknown bp is found by scanning.
  Result<void> run(Backtrace& bt, uint64_t pc, uint64_t sp, uint64_t bp, bool signal, bool bp_known) {
    uint64_t reloc = k.kaslr_offset();
    while (bt.frames.size() < kMaxFrames) {
      auto e = orc.lookup(pc - reloc - (signal ? 0 : 1));
      if (!e) {
        bt.stopped = fmt::format("no ORC data for {:x}", pc);
        return ok();
      }
      if (e->type == symbols::OrcType::end_of_stack) return ok();
      bool needs_bp = e->sp_reg == symbols::OrcReg::bp || e->sp_reg == symbols::OrcReg::bp_indirect;
      if (needs_bp && !bp_known && !signal) {
        // %rbp is unknown (the walk began at a scanned slot): a frame-pointer function's
        // prologue fixes the distance from %rbp to %rsp at its call sites.
        if (auto below = rbp_distance(pc)) {
          bp = sp + *below;
          bp_known = true;
        }
      }
      if (e->type == symbols::OrcType::undefined || (needs_bp && !bp_known)) {
        // objtool could not describe this code (inline asm, a noreturn call): find the
        // caller's return address by scanning up the stack, as crash does everywhere.
        auto next = TRY(scan_for_return(sp));
        if (!next) {
          bt.stopped = fmt::format("ORC data undefined at {:x} and no return address above {:x}", pc, sp);
          return ok();
        }
        pc = TRY(read(*next));
        sp = *next + 8;
        signal = false;
        bt.frames.push_back({*next, pc, FrameSource::scan, std::nullopt});
        continue;
      }
      uint64_t cfa;
      switch (e->sp_reg) {
        case symbols::OrcReg::sp: cfa = sp + static_cast<uint64_t>(static_cast<int64_t>(e->sp_offset)); break;
        case symbols::OrcReg::bp: cfa = bp + static_cast<uint64_t>(static_cast<int64_t>(e->sp_offset)); break;
        case symbols::OrcReg::sp_indirect: cfa = TRY(read(sp)) + static_cast<uint64_t>(static_cast<int64_t>(e->sp_offset)); break;
        case symbols::OrcReg::bp_indirect: cfa = TRY(read(bp + static_cast<uint64_t>(static_cast<int64_t>(e->sp_offset)))); break;
        default:
          bt.stopped = fmt::format("ORC at {:x} needs register {} not saved on the stack", pc, static_cast<int>(e->sp_reg));
          return ok();
      }
      if (e->type == symbols::OrcType::call) {
        uint64_t next_slot = cfa - 8;
        if (next_slot < sp || !on_stack(next_slot)) {
          if (next_slot == stack_hi - 8 || cfa == stack_hi) return ok();
          bt.stopped = fmt::format("stack pointer {:x} does not move up or leaves the stack", next_slot);
          return ok();
        }
        switch (e->bp_reg) {
          case symbols::OrcReg::prev_sp:
            bp = TRY(read(cfa + static_cast<uint64_t>(static_cast<int64_t>(e->bp_offset))));
            bp_known = true;
            break;
          case symbols::OrcReg::bp:
            if (bp_known) bp = TRY(read(bp + static_cast<uint64_t>(static_cast<int64_t>(e->bp_offset))));
            break;
          default: break;
        }
        pc = TRY(read(next_slot));
        if (!pc) return ok();
        sp = cfa;
        signal = false;
        bt.frames.push_back({next_slot, pc, FrameSource::orc, std::nullopt});
        continue;
      }
      // An entry or exception frame: full pt_regs at cfa, or just the IRET frame.
      uint64_t ip_off = TRY(k.offset_of("pt_regs", "ip"));
      uint64_t regs_addr = e->type == symbols::OrcType::regs ? cfa : cfa - ip_off;
      if (!on_stack(regs_addr + ip_off, 40)) {
        bt.stopped = fmt::format("exception frame at {:x} outside the task's stack", regs_addr);
        return ok();
      }
      PtRegs r = TRY(read_pt_regs(k, regs_addr));
      if (bt.frames.empty()) {
        bt.stopped = fmt::format("exception frame at {:x} before any frame", regs_addr);
        return ok();
      }
      bt.frames.back().exception = r;
      if (r.user_mode()) return ok();
      // A kernel-mode exception: go on from the interrupted instruction.
      if (r.sp <= regs_addr || !on_stack(r.sp)) {
        bt.stopped = fmt::format("exception frame's stack pointer {:x} leaves the task's stack", r.sp);
        return ok();
      }
      pc = r.ip;
      sp = r.sp;
      bp = r.bp;
      bp_known = true;
      signal = true;
      continue;
    }
    bt.stopped = fmt::format("more than {} frames", kMaxFrames);
    return ok();
  }
};

// THREAD_SIZE: the init task's stack as the kernel's linker script lays it out
// (init_stack .. __end_init_stack, called __end_init_task before 6.2), else union thread_union.
Result<uint64_t> thread_size(Kernel& k) {
  auto lo = k.symbols().address_of("init_stack");
  auto hi = k.symbols().address_of("__end_init_stack");
  if (!hi) hi = k.symbols().address_of("__end_init_task");
  if (lo && hi && *hi > *lo) return *hi - *lo;
  return k.types().size_of_name("thread_union");
}

Result<std::pair<uint64_t, uint64_t>> stack_bounds(Kernel& k, const Task& t) {
  uint64_t size = TRY(thread_size(k));
  if (!t.stack || size == 0 || size > (1u << 20))
    return Error::make(Errc::bad_data, "task {:x}: no usable kernel stack ({:x}, size {:#x})", t.addr, t.stack, size);
  return std::pair{t.stack, t.stack + size};
}

// Where crash starts an active task's trace in a kdump: the first word on the task's stack,
// from its lowest address up, inside one of the functions the crash path runs through.
Result<std::optional<uint64_t>> active_start_slot(Kernel& k, const Task& t) {
  auto [lo, hi] = TRY(stack_bounds(k, t));
  uint64_t size = hi - lo;
  std::vector<uint64_t> words(size / 8);
  TRY(k.read(lo, std::span(reinterpret_cast<uint8_t*>(words.data()), size)));
  static const std::set<std::string_view> starts = {"crash_kexec", "machine_kexec", "crash_nmi_callback", "panic"};
  for (size_t i = 0; i < words.size(); ++i) {
    auto hit = k.symbols().lookup(words[i]);
    if (!hit || (hit->symbol->type != 't' && hit->symbol->type != 'T')) continue;
    if (starts.count(hit->symbol->name)) return std::optional<uint64_t>{lo + 8 * i};
  }
  return std::optional<uint64_t>{};
}

}  // namespace

Result<std::pair<uint64_t, uint64_t>> task_stack(Kernel& k, const Task& t) { return stack_bounds(k, t); }

Result<PtRegs> read_pt_regs(Kernel& k, uint64_t addr) {
  PtRegs r;
  r.addr = addr;
  auto get = [&](const char* m) -> Result<uint64_t> { return k.member<uint64_t>(addr, "pt_regs", m); };
  r.r15 = TRY(get("r15")); r.r14 = TRY(get("r14")); r.r13 = TRY(get("r13")); r.r12 = TRY(get("r12"));
  r.bp = TRY(get("bp")); r.bx = TRY(get("bx")); r.r11 = TRY(get("r11")); r.r10 = TRY(get("r10"));
  r.r9 = TRY(get("r9")); r.r8 = TRY(get("r8")); r.ax = TRY(get("ax")); r.cx = TRY(get("cx"));
  r.dx = TRY(get("dx")); r.si = TRY(get("si")); r.di = TRY(get("di")); r.orig_ax = TRY(get("orig_ax"));
  r.ip = TRY(get("ip")); r.cs = TRY(get("cs")); r.flags = TRY(get("flags")); r.sp = TRY(get("sp"));
  r.ss = TRY(get("ss"));
  return r;
}

Result<Backtrace> unwind_from_slot(Kernel& k, const Task& t, uint64_t slot, uint64_t bp) {
  auto [lo, hi] = TRY(stack_bounds(k, t));
  const symbols::OrcTable* table = TRY(orc(k));
  if (table->empty()) return Error::make(Errc::unsupported, "vmlinux has no ORC unwind data (.orc_unwind)");
  Walker w{k, *table, lo, hi};
  uint64_t pc = TRY(w.read(slot));
  return w.walk(slot, pc, bp, FrameSource::registers);
}

Result<Backtrace> unwind_from_registers(Kernel& k, const Task& t, const PtRegs& regs) {
  auto [lo, hi] = TRY(stack_bounds(k, t));
  const symbols::OrcTable* table = TRY(orc(k));
  if (table->empty()) return Error::make(Errc::unsupported, "vmlinux has no ORC unwind data (.orc_unwind)");
  Walker w{k, *table, lo, hi};
  if (!w.on_stack(regs.sp)) return Error::make(Errc::unsupported, "stack pointer {:x} is not on the task's stack", regs.sp);
  return w.walk_regs(regs);
}

Result<Backtrace> unwind_task(Kernel& k, const Task& t) {
  auto [lo, hi] = TRY(stack_bounds(k, t));
  const symbols::OrcTable* table = TRY(orc(k));
  if (table->empty()) return Error::make(Errc::unsupported, "vmlinux has no ORC unwind data (.orc_unwind)");
  Walker w{k, *table, lo, hi};
  // switch_to() left an inactive_task_frame at thread.sp; its ret_addr returns into
  // __schedule (or ret_from_fork for a task that never ran).
  uint64_t ret_off = TRY(k.offset_of("inactive_task_frame", "ret_addr"));
  uint64_t bp_off = TRY(k.offset_of("inactive_task_frame", "bp"));
  uint64_t slot = t.thread_sp + ret_off;
  uint64_t pc = TRY(w.read(slot));
  uint64_t bp = TRY(w.read(t.thread_sp + bp_off));
  return w.walk(slot, pc, bp, FrameSource::saved_context);
}

}  // namespace coroner::kernel

namespace coroner::kernel {

Result<PtRegs> cpu_registers(Kernel& k, int cpu) {
  // elf_prstatus (x86_64): pr_reg, a user_regs_struct, at offset 112: r15 r14 r13 r12 bp bx
  // r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss ... (the kernel's ELF core ABI).
  constexpr size_t kPrReg = 112, kNRegs = 21;
  for (const auto& n : k.dump().info().cpus) {
    if (n.kind != dumpfmt::CpuNote::Kind::prstatus || n.index != cpu) continue;
    if (n.raw.size() < kPrReg + kNRegs * 8)
      return Error::make(Errc::bad_data, "NT_PRSTATUS of CPU {}: {} bytes, too short", cpu, n.raw.size());
    uint64_t v[kNRegs];
    std::memcpy(v, n.raw.data() + kPrReg, sizeof v);
    PtRegs r;
    r.r15 = v[0]; r.r14 = v[1]; r.r13 = v[2]; r.r12 = v[3]; r.bp = v[4]; r.bx = v[5]; r.r11 = v[6];
    r.r10 = v[7]; r.r9 = v[8]; r.r8 = v[9]; r.ax = v[10]; r.cx = v[11]; r.dx = v[12]; r.si = v[13];
    r.di = v[14]; r.orig_ax = v[15]; r.ip = v[16]; r.cs = v[17]; r.flags = v[18]; r.sp = v[19]; r.ss = v[20];
    r.from_cpu_note = true;
    return r;
  }
  return Error::make(Errc::not_found, "the dump has no registers for CPU {}", cpu);
}

Result<Backtrace> unwind(Kernel& k, const TaskTable& tt, const Task& t) {
  if (!tt.is_active(t.addr)) return unwind_task(k, t);
  // The crash path's own frames when the stack holds them, else the CPU's registers.
  auto slot = TRY(active_start_slot(k, t));
  if (slot) return unwind_from_slot(k, t, *slot, 0);
  auto regs = cpu_registers(k, tt.active_cpu(t.addr));
  if (!regs)
    return Error::make(Errc::not_found, "cannot find the starting frame of active task {:x}: {}", t.addr,
                       regs.error().message);
  return unwind_from_registers(k, t, *regs);
}

}  // namespace coroner::kernel
