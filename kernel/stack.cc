#include "kernel/stack.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <cstring>

#include "kernel/modules.h"
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

// The kernel image's text bounds, read from the symbol table once (a walk tests them for
// every frame and stack word).
struct TextBounds {
  bool read = false;
  std::optional<uint64_t> text, etext, init, einit;
};
const TextBounds& text_bounds(Kernel& k) {
  auto& b = k.extension<TextBounds>();
  if (!b.read) {
    b.text = k.symbols().address_of("_stext");
    b.etext = k.symbols().address_of("_etext");
    b.init = k.symbols().address_of("_sinittext");  // init text: start_kernel under swapper/0
    b.einit = k.symbols().address_of("_einittext");
    b.read = true;
  }
  return b;
}

// _stext.._etext or _sinittext.._einittext.
bool in_image_text_ranges(Kernel& k, uint64_t v) {
  const TextBounds& b = text_bounds(k);
  return (b.text && b.etext && v >= *b.text && v < *b.etext) || (b.init && b.einit && v >= *b.init && v < *b.einit);
}

}  // namespace

bool in_kernel_core_text(Kernel& k, uint64_t v) {
  const TextBounds& b = text_bounds(k);
  return b.text && b.etext && v >= *b.text && v < *b.etext;
}

bool in_kernel_image_text(Kernel& k, uint64_t v) {
  if (!in_image_text_ranges(k, v)) return false;
  auto hit = k.symbols().lookup(v);
  return hit && (hit->symbol->type == 't' || hit->symbol->type == 'T' || hit->symbol->type == 'W');
}

namespace {

struct ModuleOrcCache {
  std::map<uint64_t, Result<symbols::OrcTable>> by_module;  // by struct module address
};

// The ORC table of the module whose text holds `ip`, or nothing when no module does.
std::optional<const Result<symbols::OrcTable>*> module_orc_at(Kernel& k, uint64_t ip) {
  if (in_kernel_core_text(k, ip)) return std::nullopt;
  auto table = modules(k);
  if (!table) return std::nullopt;
  const Module* m = (*table)->containing(ip);
  if (!m || !m->in_text(ip)) return std::nullopt;
  auto& cache = k.extension<ModuleOrcCache>().by_module;
  auto it = cache.find(m->address);
  if (it == cache.end()) it = cache.emplace(m->address, module_orc(k, m->address)).first;
  return &it->second;
}

struct Walker {
  Kernel& k;
  const symbols::OrcTable& orc;
  std::vector<StackRange> stacks;  // the task's stack, then its CPU's, when it is active
  size_t cur = 0;                  // the stack the walk is on
  std::vector<bool> entered;       // stacks the walk has been on: none is entered twice
  std::string pending;             // the name of the stack just left, for the next frame
  StackRange::Kind pending_kind = StackRange::Kind::task;
  bool last_left_irq = false;      // the last frame pushed is the first one after the IRQ stack
  // Whether an unknown %rbp may be derived from a frame-pointer function's prologue. crash
  // has %rbp for a task's own trace (the switch frame, the CPU's registers) but not for one
  // started at a stack address the user gives (bt -S): there it scans on for the next text
  // word, listing stale frames, and so does the walk here.
  bool guess_bp = true;

  Walker(Kernel& k_, const symbols::OrcTable& orc_, std::vector<StackRange> stacks_, size_t start)
      : k(k_), orc(orc_), stacks(std::move(stacks_)), cur(start), entered(stacks.size(), false) {
    entered[cur] = true;
  }

  bool on_stack(uint64_t a, uint64_t len = 8) const { return stacks[cur].contains(a, len); }

  // The ORC entry for pc (a return address unless `signal`): the module's own table for
  // module text (its addresses are run-time ones), else vmlinux's (link-time addresses). A
  // module whose table cannot be read gets an undefined entry: the caller is found by a scan.
  std::optional<symbols::OrcEntry> lookup(uint64_t pc, bool signal) {
    uint64_t ip = pc - (signal ? 0 : 1);
    if (auto mod = module_orc_at(k, ip)) {
      if (!**mod || (**mod)->empty()) return symbols::OrcEntry{};
      return (**mod)->lookup(ip);
    }
    return orc.lookup(ip - k.kaslr_offset());
  }

  Result<uint64_t> read(uint64_t a) {
    if (!on_stack(a))
      return Error::make(Errc::out_of_bounds, "stack address {:x} outside the {}", a, stacks[cur].name);
    return k.read_u64(a);
  }

  static int rank(StackRange::Kind kind) {
    switch (kind) {
      case StackRange::Kind::exception: return 2;
      case StackRange::Kind::irq: return 1;
      default: return 0;
    }
  }

  // Moves the walk to the stack holding `a`: only downwards (an exception stack to another
  // exception stack, the IRQ stack or the task's; the IRQ stack to the task's), and only to a
  // stack not walked yet, so two stacks pointing at each other cannot loop.
  bool cross_to(uint64_t a) {
    int from = rank(stacks[cur].kind);
    for (size_t i = 0; i < stacks.size(); ++i) {
      if (i == cur || entered[i] || !stacks[i].contains(a)) continue;
      int to = rank(stacks[i].kind);
      if (to > from || (to == from && to != 2)) return false;
      enter(i);
      return true;
    }
    return false;
  }

  // Moves the walk onto stack i, to print the marker of the stack it leaves.
  void enter(size_t i) {
    pending = stacks[cur].name;
    pending_kind = stacks[cur].kind;
    cur = i;
    entered[i] = true;
  }

  // A kernel stack overflow: the #DF handler's exception frame holds a stack pointer in the
  // guard page below the task's vmap'ed stack (the push that faulted went there). crash goes
  // on from it onto the task's stack, listing the interrupted instruction at that stack
  // pointer; so does the walk, from an exception stack only and within one page of the
  // stack's bottom (the guard), onto a task stack not walked yet.
  bool cross_below_task_stack(uint64_t a) {
    if (stacks[cur].kind != StackRange::Kind::exception) return false;
    uint64_t guard = k.arch().page_size();
    for (size_t i = 0; i < stacks.size(); ++i) {
      const StackRange& s = stacks[i];
      if (s.kind != StackRange::Kind::task || entered[i] || a >= s.lo || a < s.lo - guard || s.lo < guard) continue;
      enter(i);
      return true;
    }
    return false;
  }

  bool on_other_stack(uint64_t a) const {
    for (size_t i = 0; i < stacks.size(); ++i)
      if (i != cur && stacks[i].contains(a)) return true;
    return false;
  }

  // Says why an address off the current stack ends the walk.
  std::string off_stack(std::string_view what, uint64_t a) const {
    for (size_t i = 0; i < stacks.size(); ++i)
      if (i != cur && stacks[i].contains(a))
        return fmt::format("{} {:x} goes from the {} back to the {}", what, a, stacks[cur].name, stacks[i].name);
    return fmt::format("{} {:x} leaves the {}", what, a, stacks[cur].name);
  }

  void push(Backtrace& bt, StackFrame f) {
    if ((f.how == FrameSource::orc || f.how == FrameSource::scan) && !bt.frames.empty() && pending.empty()) {
      // A return address at a function's first byte (its caller ended with a call to a
      // noreturn function, e.g. nmi_panic.cold calling panic): the walk goes on from the
      // caller's ORC entry (pc - 1), but crash does not list the frame, taking the word for
      // a function pointer; neither is it listed here.
      auto hit = k.symbols().lookup(f.pc);
      if (hit && hit->offset == 0) return;
      // The same in module text (a noreturn call ending a module function, its return
      // address the next function's first byte, e.g. a .cold part), by the module's symbols.
      if (!in_kernel_core_text(k, f.pc)) {  // module text lies outside the kernel image's
        auto at = symbol_at(k, f.pc);
        if (at && !at->module.empty() && !at->region_end && at->offset == 0 && at->symbol_address == f.pc) return;
      }
    }
    if (bt.stacks.empty() || !pending.empty()) bt.stacks.push_back(stacks[cur]);
    last_left_irq = !pending.empty() && pending_kind == StackRange::Kind::irq;
    f.left_stack = std::move(pending);
    pending.clear();
    bt.frames.push_back(std::move(f));
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

  // Kernel text as crash's is_kernel_text() sees it: a text symbol of the kernel image (init
  // text too) or an address in a module's text.
  bool is_text(uint64_t v) {
    if (in_image_text_ranges(k, v)) return in_kernel_image_text(k, v);
    auto table = modules(k);
    if (!table) return false;
    const Module* m = (*table)->containing(v);
    return m && m->in_text(v);
  }

  // The first word from sp up that is kernel text past a function's start (crash's test for
  // a frame when it scans a stack).
  Result<std::optional<uint64_t>> scan_for_text(uint64_t sp) {
    for (uint64_t a = sp; on_stack(a); a += 8) {
      uint64_t v = TRY(read(a));
      auto hit = k.symbols().lookup(v);
      if (hit && hit->offset != 0 && is_text(v)) return std::optional<uint64_t>{a};
    }
    return std::optional<uint64_t>{};
  }

  Result<std::optional<uint64_t>> scan_for_return(uint64_t sp) {
    for (uint64_t a = sp; on_stack(a); a += 8)
      if (is_return_address(TRY(read(a)))) return std::optional<uint64_t>{a};
    return std::optional<uint64_t>{};
  }

  // Walk from a frame whose pc was read at `slot` (a return address), with frame pointer bp.
  Result<Backtrace> walk(uint64_t slot, uint64_t pc, uint64_t bp, FrameSource first) {
    Backtrace bt;
    push(bt, {slot, pc, first, std::nullopt, {}});
    TRY(run(bt, pc, slot + 8, bp, false, bp != 0));
    return bt;
  }

  // From a CPU's registers: pc is the interrupted instruction itself.
  Result<Backtrace> walk_regs(const PtRegs& r) {
    Backtrace bt;
    bt.start = r;
    bt.stacks.push_back(stacks[cur]);
    TRY(run(bt, r.ip, r.sp, r.bp, true, true));
    return bt;
  }

  // `signal`: pc is an interrupted instruction, not a return address.
  // `bp_known`: bp holds the frame pointer's real value (not so when a walk starts from a
  // stack slot found by a scan); a frame that needs an unknown bp is found by scanning.
  Result<void> run(Backtrace& bt, uint64_t pc, uint64_t sp, uint64_t bp, bool signal, bool bp_known) {
    while (bt.frames.size() < kMaxFrames) {
      auto e = lookup(pc, signal);
      if (!e) {
        bt.stopped = fmt::format("no ORC data for {:x}", pc);
        return ok();
      }
      if (e->type == symbols::OrcType::end_of_stack) return ok();
      bool needs_bp = e->sp_reg == symbols::OrcReg::bp || e->sp_reg == symbols::OrcReg::bp_indirect;
      if (needs_bp && !bp_known && !signal && guess_bp) {
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
        auto next = guess_bp ? TRY(scan_for_return(sp)) : TRY(scan_for_text(sp));
        if (!next) {
          bt.stopped = fmt::format("ORC data undefined at {:x} and no return address above {:x}", pc, sp);
          return ok();
        }
        pc = TRY(read(*next));
        sp = *next + 8;
        signal = false;
        push(bt, {*next, pc, FrameSource::scan, std::nullopt, {}});
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
        if (!on_stack(next_slot) && !(cfa == stacks[cur].hi) && cross_to(next_slot)) {
          // The caller's frame is on the next stack down (the IRQ entry code switched stacks).
        } else if (next_slot < sp || !on_stack(next_slot)) {
          if (next_slot == stacks[cur].hi - 8 || cfa == stacks[cur].hi) return ok();
          bt.stopped = on_other_stack(next_slot)
                           ? off_stack("stack pointer", next_slot)
                           : fmt::format("stack pointer {:x} does not move up or leaves the stack", next_slot);
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
        push(bt, {next_slot, pc, FrameSource::orc, std::nullopt, {}});
        continue;
      }
      // An entry or exception frame: full pt_regs at cfa, or just the IRET frame.
      uint64_t ip_off = TRY(k.offset_of("pt_regs", "ip"));
      uint64_t regs_addr = e->type == symbols::OrcType::regs ? cfa : cfa - ip_off;
      if (!on_stack(regs_addr + ip_off, 40)) {
        bt.stopped = fmt::format("exception frame at {:x} outside the {}", regs_addr, stacks[cur].name);
        return ok();
      }
      PtRegs r = TRY(read_pt_regs(k, regs_addr));
      bool partial = e->type == symbols::OrcType::regs_partial;
      if (partial && !r.user_mode()) {
        // Only the hardware's IRET frame (ip, cs, flags, sp, ss), from kernel mode (an entry
        // stub interrupted before it saved the registers): crash lists the interrupted
        // instruction as a frame at the ip's slot, with no register block; the other
        // registers are not saved, so %rbp stays as it was.
        push(bt, {regs_addr + ip_off, r.ip, FrameSource::orc, std::nullopt, {}});
        if (!on_stack(r.sp) && !cross_to(r.sp)) {
          bt.stopped = off_stack("exception frame's stack pointer", r.sp);
          return ok();
        }
        if (r.sp <= regs_addr + ip_off && on_stack(regs_addr + ip_off)) {
          bt.stopped = fmt::format("exception frame's stack pointer {:x} does not lie above it", r.sp);
          return ok();
        }
        pc = r.ip;
        sp = r.sp;
        signal = true;
        continue;
      }
      if (bt.frames.empty()) {
        bt.stopped = fmt::format("exception frame at {:x} before any frame", regs_addr);
        return ok();
      }
      bt.frames.back().exception = r;
      // crash finds the interrupt's pt_regs from the stack pointer the IRQ entry saved and
      // shows that address, not the return address's slot below it, for the entry stub.
      if (last_left_irq) bt.frames.back().slot = regs_addr;
      if (r.user_mode()) return ok();
      // A kernel-mode exception: go on from the interrupted instruction, on this stack or on
      // the one the exception came from (an NMI or IRQ on an exception stack or IRQ stack).
      bool from_exception_stack = stacks[cur].kind == StackRange::Kind::exception;
      if (!on_stack(r.sp) && !cross_to(r.sp) && !cross_below_task_stack(r.sp)) {
        bt.stopped = off_stack("exception frame's stack pointer", r.sp);
        return ok();
      }
      if (from_exception_stack && !pending.empty()) {
        // Leaving an exception stack, crash shows the interrupted instruction as a frame of
        // its own, at the interrupted stack pointer; the walk goes on from there as usual.
        push(bt, {r.sp, r.ip, FrameSource::registers, std::nullopt, {}});
      }
      if (r.sp <= regs_addr && on_stack(regs_addr)) {
        bt.stopped = fmt::format("exception frame's stack pointer {:x} does not lie above it", r.sp);
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
Result<uint64_t> read_thread_size(Kernel& k) {
  auto lo = k.symbols().address_of("init_stack");
  auto hi = k.symbols().address_of("__end_init_stack");
  if (!hi) hi = k.symbols().address_of("__end_init_task");
  if (lo && hi && *hi > *lo) return *hi - *lo;
  return k.types().size_of_name("thread_union");
}
// Read once per Kernel: every task's walk needs it.
struct ThreadSizeCache {
  std::optional<Result<uint64_t>> size;
};
Result<uint64_t> thread_size(Kernel& k) {
  auto& c = k.extension<ThreadSizeCache>();
  if (!c.size) c.size = read_thread_size(k);
  return *c.size;
}

Result<std::pair<uint64_t, uint64_t>> stack_bounds(Kernel& k, const Task& t) {
  uint64_t size = TRY(thread_size(k));
  if (!t.stack || size == 0 || size > (1u << 20))
    return Error::make(Errc::bad_data, "task {:x}: no usable kernel stack ({:x}, size {:#x})", t.addr, t.stack, size);
  return std::pair{t.stack, t.stack + size};
}

// The stacks a walk of `t` may use: its own first, then, when it runs on a CPU, that CPU's
// exception and IRQ stacks.
Result<std::vector<StackRange>> walk_stacks(Kernel& k, const Task& t, int cpu) {
  auto [lo, hi] = TRY(stack_bounds(k, t));
  std::vector<StackRange> out{{lo, hi, StackRange::Kind::task, "task's stack"}};
  if (cpu >= 0) {
    auto more = cpu_stacks(k, cpu);
    if (more)
      for (auto& s : *more)
        if (!(s.lo < hi && lo < s.hi)) out.push_back(s);  // never one overlapping the task's
  }
  return out;
}

Result<Walker> make_walker(Kernel& k, const Task& t, int cpu, uint64_t start) {
  auto stacks = TRY(walk_stacks(k, t, cpu));
  const symbols::OrcTable* table = TRY(orc(k));
  if (table->empty()) return Error::make(Errc::unsupported, "vmlinux has no ORC unwind data (.orc_unwind)");
  for (size_t i = 0; i < stacks.size(); ++i)
    if (stacks[i].contains(start)) return Walker(k, *table, std::move(stacks), i);
  if (cpu < 0) return Error::make(Errc::unsupported, "stack address {:x} is not on the task's stack", start);
  return Error::make(Errc::unsupported, "stack address {:x} is on neither the task's stack nor CPU {}'s IRQ or exception stacks",
                     start, cpu);
}

// Where crash starts an active task's trace in a kdump: the first word inside one of the
// functions the crash path runs through, from the lowest address up, on the CPU's exception
// stacks, then its IRQ stack, then the task's own stack.
Result<std::optional<uint64_t>> active_start_slot(Kernel& k, const Task& t, int cpu) {
  auto stacks = TRY(walk_stacks(k, t, cpu));
  std::rotate(stacks.begin(), stacks.begin() + 1, stacks.end());  // the task's stack last
  static const std::set<std::string_view> starts = {"crash_kexec", "machine_kexec", "crash_nmi_callback", "panic"};
  // A CPU stopped by the panicking one's REBOOT IPI (QEMU dumps) halts in stop_this_cpu. In an
  // ELF dump (crash's netdump search) a word inside it on the IRQ or an exception stack starts
  // the trace, even a stale return address just below the halted stack pointer: 6.1
  // qemu-nokaslr.elf of 2 December, the IPI taken on the IRQ stack. Not on the task's own
  // stack (6.1 qemu-net.elf, the IPI taken from user mode), and not in a kdump-compressed
  // dump, where crash takes the CPU's registers first (qemu-nokaslr.kdump-zlib, the same
  // memory): there the trace starts from the registers.
  static const std::string_view off_task_start = "stop_this_cpu";
  bool elf = k.dump().info().format.find("ELF") != std::string::npos;
  for (auto& s : stacks) {
    uint64_t size = s.hi - s.lo;
    if (size == 0 || size > (1u << 20)) continue;
    std::vector<uint64_t> words(size / 8);
    if (!k.read(s.lo, std::span(reinterpret_cast<uint8_t*>(words.data()), words.size() * 8))) continue;
    for (size_t i = 0; i < words.size(); ++i) {
      auto hit = k.symbols().lookup(words[i]);
      if (!hit || (hit->symbol->type != 't' && hit->symbol->type != 'T')) continue;
      if (starts.count(hit->symbol->name) || (elf && s.kind != StackRange::Kind::task && hit->symbol->name == off_task_start))
        return std::optional<uint64_t>{s.lo + 8 * i};
    }
  }
  return std::optional<uint64_t>{};
}

struct CpuStacksCache {
  std::map<int, std::vector<StackRange>> by_cpu;
};

// The IRQ stack's top: a per-CPU pointer (hardirq_stack_ptr 5.2+, in pcpu_hot 6.2+) to its
// last word (5.10+ keeps the top word for the interrupted stack pointer: hi = ptr + 8) or to
// its end (before).
Result<std::optional<StackRange>> irq_stack(Kernel& k, int cpu) {
  uint64_t var = 0;
  if (k.symbols().address_of("hardirq_stack_ptr")) {
    var = TRY(k.per_cpu("hardirq_stack_ptr", cpu));
  } else if (k.symbols().address_of("pcpu_hot")) {
    // 6.2+ moved it into struct pcpu_hot (as hardirq_stack_ptr; some trees spell it
    // hard_irq_stack_ptr).
    for (const char* m : {"hardirq_stack_ptr", "hard_irq_stack_ptr"})
      if (k.types().has_member("pcpu_hot", m)) {
        var = TRY(k.per_cpu("pcpu_hot", cpu)) + TRY(k.offset_of("pcpu_hot", m));
        break;
      }
  }
  if (!var) return std::optional<StackRange>{};
  uint64_t ptr = TRY(k.read_u64(var));
  uint64_t size = TRY(k.types().size_of_name("irq_stack"));
  if (!ptr || size == 0 || size > (1u << 20)) return std::optional<StackRange>{};
  uint64_t hi = (ptr % 16 == 8) ? ptr + 8 : ptr;
  return std::optional<StackRange>{StackRange{hi - size, hi, StackRange::Kind::irq, "IRQ stack"}};
}

// struct cea_exception_stacks (4.20+): DF, NMI, DB, MCE, VC, VC2 stacks with guard pages.
Result<std::vector<StackRange>> exception_stacks(Kernel& k, int cpu) {
  std::vector<StackRange> out;
  if (!k.symbols().address_of("cea_exception_stacks")) return out;
  uint64_t base = TRY(k.read_u64(TRY(k.per_cpu("cea_exception_stacks", cpu))));
  if (!base) return out;
  symbols::Types& types = k.types();
  auto t = TRY(types.find("struct cea_exception_stacks"));
  // crash's names for them.
  static const std::pair<const char*, const char*> names[] = {
      {"NMI_stack", "NMI"}, {"DF_stack", "DOUBLEFAULT"}, {"DB_stack", "DEBUG"},
      {"MCE_stack", "MCE"}, {"VC_stack", "VC"},          {"VC2_stack", "VC2"}};
  for (auto& [member, name] : names) {
    auto m = types.member(t, member);
    if (!m) continue;
    uint64_t size = TRY(types.size_of(m->type));
    if (size == 0 || size > (1u << 20)) continue;
    uint64_t lo = base + m->offset();
    out.push_back({lo, lo + size, StackRange::Kind::exception, fmt::format("{} exception stack", name)});
  }
  return out;
}

}  // namespace

Result<std::vector<StackRange>> cpu_stacks(Kernel& k, int cpu) {
  auto& cache = k.extension<CpuStacksCache>();
  if (auto it = cache.by_cpu.find(cpu); it != cache.by_cpu.end()) return it->second;
  std::vector<StackRange> out = TRY(exception_stacks(k, cpu));
  if (auto irq = TRY(irq_stack(k, cpu))) out.push_back(*irq);
  cache.by_cpu[cpu] = out;
  return out;
}

Result<std::pair<uint64_t, uint64_t>> task_stack(Kernel& k, const Task& t) { return stack_bounds(k, t); }

namespace {
// struct pt_regs's members, each an 8-byte word at its offset from the types (6.x's cs and
// ss are unions of a u16 and a u64 at one offset: the word is read whole, as before).
constexpr std::array<std::pair<const char*, uint64_t PtRegs::*>, 21> kPtRegsMembers = {{
    {"r15", &PtRegs::r15}, {"r14", &PtRegs::r14}, {"r13", &PtRegs::r13}, {"r12", &PtRegs::r12},
    {"bp", &PtRegs::bp},   {"bx", &PtRegs::bx},   {"r11", &PtRegs::r11}, {"r10", &PtRegs::r10},
    {"r9", &PtRegs::r9},   {"r8", &PtRegs::r8},   {"ax", &PtRegs::ax},   {"cx", &PtRegs::cx},
    {"dx", &PtRegs::dx},   {"si", &PtRegs::si},   {"di", &PtRegs::di},   {"orig_ax", &PtRegs::orig_ax},
    {"ip", &PtRegs::ip},   {"cs", &PtRegs::cs},   {"flags", &PtRegs::flags}, {"sp", &PtRegs::sp},
    {"ss", &PtRegs::ss},
}};
// The members' offsets and the span they cover, from the types once per Kernel.
struct PtRegsLayout {
  std::optional<Result<std::array<uint64_t, 21>>> offsets;
  uint64_t span = 0;  // bytes from offset 0 to the end of the last member
};
Result<const PtRegsLayout*> pt_regs_layout(Kernel& k) {
  auto& l = k.extension<PtRegsLayout>();
  if (!l.offsets) {
    l.offsets = [&]() -> Result<std::array<uint64_t, 21>> {
      std::array<uint64_t, 21> off{};
      for (size_t i = 0; i < kPtRegsMembers.size(); ++i) off[i] = TRY(k.offset_of("pt_regs", kPtRegsMembers[i].first));
      return off;
    }();
    if (*l.offsets)
      for (uint64_t o : **l.offsets) l.span = std::max(l.span, o + 8);
  }
  if (!*l.offsets) return l.offsets->error();
  if (l.span > 4096) return Error::make(Errc::bad_data, "struct pt_regs spans {} bytes", l.span);
  return &l;
}
}  // namespace

Result<PtRegs> read_pt_regs(Kernel& k, uint64_t addr) {
  const PtRegsLayout* l = TRY(pt_regs_layout(k));
  std::vector<uint8_t> raw(l->span);
  TRY(k.read(addr, std::span(raw)));
  PtRegs r;
  r.addr = addr;
  for (size_t i = 0; i < kPtRegsMembers.size(); ++i) std::memcpy(&(r.*kPtRegsMembers[i].second), raw.data() + (**l->offsets)[i], 8);
  return r;
}

Result<Backtrace> unwind_from_slot(Kernel& k, const Task& t, uint64_t slot, uint64_t bp) {
  Walker w = TRY(make_walker(k, t, t.cpu, slot));
  uint64_t pc = TRY(w.read(slot));
  return w.walk(slot, pc, bp, FrameSource::registers);
}

Result<Backtrace> unwind_from_registers(Kernel& k, const Task& t, const PtRegs& regs) {
  auto w = make_walker(k, t, t.cpu, regs.sp);
  if (!w) return Error::make(Errc::unsupported, "stack pointer {:x} is not on the task's stack", regs.sp);
  return w->walk_regs(regs);
}

Result<Backtrace> unwind_task(Kernel& k, const Task& t) {
  // A task switched out runs on its own stack only.
  Walker w = TRY(make_walker(k, t, -1, t.stack));
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

Result<std::vector<uint64_t>> prstatus_registers(Kernel& k, int cpu, size_t count) {
  constexpr size_t kPrReg = 112;  // sizeof(struct elf_prstatus_common) on 64-bit kernels
  for (const auto& n : k.dump().info().cpus) {
    if (n.kind != dumpfmt::CpuNote::Kind::prstatus || n.index != cpu) continue;
    if (n.raw.size() < kPrReg + count * 8)
      return Error::make(Errc::bad_data, "NT_PRSTATUS of CPU {}: {} bytes, too short", cpu, n.raw.size());
    std::vector<uint64_t> v(count);
    std::memcpy(v.data(), n.raw.data() + kPrReg, count * 8);
    return v;
  }
  return Error::make(Errc::not_found, "the dump has no registers for CPU {}", cpu);
}

Result<PtRegs> cpu_registers(Kernel& k, int cpu) {
  // x86_64's pr_reg is a user_regs_struct: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di
  // orig_ax ip cs flags sp ss ... (the kernel's ELF core ABI).
  auto v = TRY(prstatus_registers(k, cpu, 21));
  PtRegs r;
  r.r15 = v[0]; r.r14 = v[1]; r.r13 = v[2]; r.r12 = v[3]; r.bp = v[4]; r.bx = v[5]; r.r11 = v[6];
  r.r10 = v[7]; r.r9 = v[8]; r.r8 = v[9]; r.ax = v[10]; r.cx = v[11]; r.dx = v[12]; r.si = v[13];
  r.di = v[14]; r.orig_ax = v[15]; r.ip = v[16]; r.cs = v[17]; r.flags = v[18]; r.sp = v[19]; r.ss = v[20];
  r.from_cpu_note = true;
  return r;
}

bool starts_on_crash_path(Kernel& k, const TaskTable& tt, const Task& t) {
  if (!tt.is_active(t.addr)) return false;
  int cpu = tt.active_cpu(t.addr);
  Task on_cpu = t;
  on_cpu.cpu = cpu;
  auto slot = active_start_slot(k, on_cpu, cpu);
  return slot && *slot;
}

Result<Backtrace> unwind(Kernel& k, const TaskTable& tt, const Task& t) {
  if (!tt.is_active(t.addr)) return unwind_task(k, t);
  int cpu = tt.active_cpu(t.addr);
  Task on_cpu = t;
  on_cpu.cpu = cpu;
  // The crash path's own frames when the stacks hold them, else the CPU's registers.
  auto slot = TRY(active_start_slot(k, on_cpu, cpu));
  if (slot) return unwind_from_slot(k, on_cpu, *slot, 0);
  auto regs = cpu_registers(k, cpu);
  if (!regs)
    return Error::make(Errc::not_found, "cannot find the starting frame of active task {:x}: {}", t.addr,
                       regs.error().message);
  return unwind_from_registers(k, on_cpu, *regs);
}

}  // namespace coroner::kernel

namespace coroner::kernel {

Result<HookStart> hook_start(Kernel& k, const TaskTable& tt, const Task& t, std::optional<uint64_t> ip,
                             std::optional<uint64_t> sp) {
  HookStart h;
  bool active = tt.is_active(t.addr);
  if (active) {
    auto bt = TRY(unwind(k, tt, t));
    if (bt.start) {
      h.pc = bt.start->ip;
      h.sp = bt.start->sp;
    } else if (!bt.frames.empty()) {
      h.pc = bt.frames.front().pc;
      h.sp = bt.frames.front().slot;
    }
  } else {
    uint64_t ret_off = TRY(k.offset_of("inactive_task_frame", "ret_addr"));
    h.pc = TRY(k.read_u64(t.thread_sp + ret_off));
    h.sp = t.thread_sp;
  }
  if (sp) {
    if (*sp == 0) return Error::make(Errc::usage, "invalid stack address for this task: 0");
    auto [lo, hi] = TRY(stack_bounds(k, t));
    bool ok_sp = *sp >= lo && *sp < hi;
    if (!ok_sp && t.cpu >= 0) {
      auto more = cpu_stacks(k, t.cpu);
      if (more)
        for (auto& s : *more) ok_sp = ok_sp || s.contains(*sp);
    }
    if (!ok_sp)
      return Error::make(Errc::out_of_bounds, "non-process stack address for this task: {:x}\n    (valid range: {:x} - {:x})",
                         *sp, lo, hi);
    h.sp = *sp;
  }
  if (!ip && !active) {
    // crash steps over the switch frame's saved registers to its return address.
    auto hit = k.symbols().lookup(h.pc);
    static const std::set<std::string_view> sched = {"__schedule", "schedule", "thread_return"};
    if (hit && sched.count(hit->symbol->name)) h.sp += TRY(k.offset_of("inactive_task_frame", "ret_addr"));
  }
  if (ip) h.pc = *ip;
  return h;
}

Result<Backtrace> unwind_from_hook(Kernel& k, const TaskTable& tt, const Task& t, std::optional<uint64_t> ip,
                                   std::optional<uint64_t> sp) {
  HookStart h = TRY(hook_start(k, tt, t, ip, sp));
  Walker w = TRY(make_walker(k, t, t.cpu, h.sp));
  w.guess_bp = false;
  auto slot = TRY(w.scan_for_text(h.sp));
  if (!slot) {
    Backtrace bt;
    bt.stacks.push_back(w.stacks[w.cur]);
    return bt;
  }
  uint64_t pc = TRY(w.read(*slot));
  return w.walk(*slot, pc, 0, FrameSource::scan);
}

Result<symbols::OrcTable> module_orc(Kernel& k, uint64_t module) {
  uint64_t n = TRY(k.member_uint(module, "module", "arch.num_orcs"));
  uint64_t ips = TRY(k.member<uint64_t>(module, "module", "arch.orc_unwind_ip"));
  uint64_t entries = TRY(k.member<uint64_t>(module, "module", "arch.orc_unwind"));
  if (n == 0 || !ips || !entries) return symbols::OrcTable{};
  if (n > (1u << 20)) return Error::make(Errc::bad_data, "module {:x}: {} ORC entries", module, n);
  uint64_t entry_size = TRY(k.types().size_of_name("orc_entry"));
  std::vector<uint8_t> ip_bytes(n * 4), entry_bytes(n * entry_size);
  TRY(k.read(ips, ip_bytes));
  TRY(k.read(entries, entry_bytes));
  return symbols::OrcTable::from_sections(ips, ip_bytes, entry_bytes, k.types());
}

}  // namespace coroner::kernel
