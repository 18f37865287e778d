// The arm64 frame-record unwinder (kernel/stack_arm64.h) on a synthesized kernel: an
// EM_AARCH64 vmlinux written with libelf (.text, .data, .symtab, .BTF made with libbpf: pt_regs
// with the kernel's anonymous union, task_struct with thread.cpu_context) and an ELF dump of
// its image with arm64 VMCOREINFO (VA_BITS, kimage_voffset, PHYS_OFFSET, KERNELOFFSET,
// optionally KERNELPACMASK) and aarch64 NT_PRSTATUS notes, holding hand-made task, IRQ and
// overflow stacks. Each walk is checked frame by frame (fp, pc) with its exception frames,
// left stacks, user registers and the reason it ended:
//  - a switched-out task from thread.cpu_context up to kthread; a user task ending with the
//    user pt_regs at its stack's top; a task running in user space;
//  - an active task from NT_PRSTATUS, from the IRQ stack back to the task's stack;
//  - kernel exception frames: the first one (x29 at pt_regs.stackframe) and mid-stack ones
//    after functions in __irqentry_text, __exception_text and the named handlers, placed
//    below the entry code's frame as crash prints them; the overflow stack's taken unchecked;
//  - corrupt stacks (loops, records below sp, misaligned, off every stack, zero records,
//    holes in the dump, a chain longer than the frame cap, stacks entered twice);
//  - pointer authentication bits put back with KERNELPACMASK;
//  - the kdump start (crash's arm64_in_kdump_text) on the task's stack, and on the IRQ stack
//    where only crash_kexec and crash_save_cpu count (arm64_in_kdump_text_on_irq_stack).
// Every case runs without and with a KASLR offset.
#include <bpf/btf.h>
#include <elf.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <functional>
#include <tuple>

#include "kernel/kernel.h"
#include "kernel/stack_arm64.h"
#include "kernel/tasks.h"
#include "tests/dumpfmt/dump_builder.h"
#include "tests/kernel/synth_kernel.h"

using namespace coroner;
using namespace coroner::kernel;
using Bytes = std::vector<uint8_t>;

namespace {

// The layout make_btf() gives struct pt_regs (6.1's: regs[31], sp, pc, pstate in an anonymous
// union with user_pt_regs, then orig_x0, syscallno, unused2, sdei_ttbr1, pmr_save,
// stackframe[2], lockdep_hardirqs, exit_rcu). The tests write memory with these; the
// unwinder finds them through the type layer.
constexpr uint64_t kRegsSp = 31 * 8, kRegsPc = 32 * 8, kRegsPstate = 33 * 8, kRegsOrigX0 = 34 * 8,
                   kRegsSyscallno = 35 * 8, kRegsStackframe = 304, kPtRegsSize = 336;
// struct cpu_context { x19..x28, fp, sp, pc } at task_struct.thread (offset kTaskThread).
constexpr uint64_t kTaskThread = 0x180, kCtxFp = 10 * 8, kCtxSp = 11 * 8, kCtxPc = 12 * 8, kTaskSize = 0x200;

Bytes make_btf() {
  struct btf* b = btf__new_empty();
  int u64 = btf__add_int(b, "long long unsigned int", 8, 0);
  int s32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  int u32 = btf__add_int(b, "unsigned int", 4, 0);
  int chr = btf__add_int(b, "char", 1, BTF_INT_CHAR);
  int regs31 = btf__add_array(b, u32, u64, 31);
  int pair = btf__add_array(b, u32, u64, 2);
  int comm = btf__add_array(b, u32, chr, 16);
  int user_pt_regs = btf__add_struct(b, "user_pt_regs", 272);
  btf__add_field(b, "regs", regs31, 0, 0);
  btf__add_field(b, "sp", u64, 8 * kRegsSp, 0);
  btf__add_field(b, "pc", u64, 8 * kRegsPc, 0);
  btf__add_field(b, "pstate", u64, 8 * kRegsPstate, 0);
  int anon_struct = btf__add_struct(b, nullptr, 272);
  btf__add_field(b, "regs", regs31, 0, 0);
  btf__add_field(b, "sp", u64, 8 * kRegsSp, 0);
  btf__add_field(b, "pc", u64, 8 * kRegsPc, 0);
  btf__add_field(b, "pstate", u64, 8 * kRegsPstate, 0);
  int anon_union = btf__add_union(b, nullptr, 272);
  btf__add_field(b, "user_regs", user_pt_regs, 0, 0);
  btf__add_field(b, nullptr, anon_struct, 0, 0);
  btf__add_struct(b, "pt_regs", kPtRegsSize);
  btf__add_field(b, nullptr, anon_union, 0, 0);
  btf__add_field(b, "orig_x0", u64, 8 * kRegsOrigX0, 0);
  btf__add_field(b, "syscallno", s32, 8 * kRegsSyscallno, 0);
  btf__add_field(b, "unused2", u32, 8 * (kRegsSyscallno + 4), 0);
  btf__add_field(b, "sdei_ttbr1", u64, 8 * 288, 0);
  btf__add_field(b, "pmr_save", u64, 8 * 296, 0);
  btf__add_field(b, "stackframe", pair, 8 * kRegsStackframe, 0);
  btf__add_field(b, "lockdep_hardirqs", u64, 8 * 320, 0);
  btf__add_field(b, "exit_rcu", u64, 8 * 328, 0);

  const char* ctx[] = {"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "fp", "sp", "pc"};
  int cpu_context = btf__add_struct(b, "cpu_context", 13 * 8);
  for (uint32_t i = 0; i < 13; ++i) btf__add_field(b, ctx[i], u64, 64 * i, 0);
  int thread = btf__add_struct(b, "thread_struct", 13 * 8 + 8);
  btf__add_field(b, "cpu_context", cpu_context, 0, 0);
  btf__add_field(b, "fault_address", u64, 13 * 64, 0);
  int void_ptr = btf__add_ptr(b, 0);
  int mm_fwd = btf__add_fwd(b, "mm_struct", BTF_FWD_STRUCT);
  int mm_ptr = btf__add_ptr(b, mm_fwd);
  btf__add_struct(b, "task_struct", kTaskSize);
  btf__add_field(b, "__state", u32, 8 * 0x18, 0);
  btf__add_field(b, "stack", void_ptr, 8 * 0x20, 0);
  btf__add_field(b, "flags", u32, 8 * 0x2c, 0);
  btf__add_field(b, "mm", mm_ptr, 8 * 0x80, 0);
  btf__add_field(b, "pid", s32, 8 * 0x100, 0);
  btf__add_field(b, "comm", comm, 8 * 0x110, 0);
  btf__add_field(b, "thread", thread, 8 * kTaskThread, 0);
  return synth::btf_bytes(b);
}

// The kernel image's link address (6.1's KIMAGE_VADDR with 48-bit VA) and where it is loaded.
constexpr uint64_t kLinkText = 0xffff800008000000ull;
constexpr uint64_t kPhys = 0x40000000;  // PHYS_OFFSET: RAM and the image start here
constexpr uint64_t kTextSize = 0x2000;
constexpr uint64_t kPacMask = 0xff7f000000000000ull;  // KERNELPACMASK of a 48-bit VA kernel

using synth::Fn;
// The fake text. gic_handle_irq lies in [__irqentry_text_start, __irqentry_text_end) and
// do_el1_fault in [__exception_text_start, __exception_text_end).
constexpr Fn kSwitchTo{"__switch_to", 0x100, 0x100};
constexpr Fn kSchedule0{"__schedule", 0x200, 0x100};
constexpr Fn kSchedule{"schedule", 0x300, 0x100};
constexpr Fn kKthread{"kthread", 0x400, 0x100};
constexpr Fn kGicIrq{"gic_handle_irq", 0x500, 0x100};
constexpr Fn kEl1Irq{"el1h_64_irq", 0x600, 0x100};
constexpr Fn kMemAbort{"do_mem_abort", 0x700, 0x100};
constexpr Fn kMachineKexec{"machine_kexec", 0x800, 0x100};
constexpr Fn kCrashSaveCpu{"crash_save_cpu", 0x900, 0x100};
constexpr Fn kCrashKexec{"crash_kexec", 0xa00, 0x100};
constexpr Fn kPanic{"panic", 0xb00, 0x100};
constexpr Fn kEl0Sync{"el0t_64_sync", 0xc00, 0x100};
constexpr Fn kWorker{"sysrq_handle_crash", 0xd00, 0x100};
constexpr Fn kEl1Fault{"do_el1_fault", 0xe00, 0x100};
constexpr Fn kIrqDesc{"handle_irq_desc", 0xf00, 0x100};
constexpr Fn kCallOnIrq{"call_on_irq_stack", 0x1000, 0x100};
constexpr Fn kSecondary{"secondary_start_kernel", 0x1100, 0x100};
constexpr Fn kDoIdle{"do_idle", 0x1200, 0x100};
constexpr Fn kBadStack{"handle_bad_stack", 0x1300, 0x100};
constexpr Fn kFns[] = {kSwitchTo, kSchedule0, kSchedule,    kKthread, kGicIrq,   kEl1Irq,  kMemAbort,  kMachineKexec, kCrashSaveCpu,
                       kCrashKexec, kPanic,   kEl0Sync,     kWorker,  kEl1Fault, kIrqDesc, kCallOnIrq, kSecondary,    kDoIdle, kBadStack};

// Data in the image: swapper_pg_dir, __per_cpu_offset[2], the per-CPU variables (CPU 1's
// copy kPerCpu1 above CPU 0's), task_structs, then stacks aligned to THREAD_SIZE as the
// kernel aligns them (the walk's `high` bound relies on it).
constexpr uint64_t kPgDir = 0x2000, kPerCpuOffsets = 0x3000, kPerCpu = 0x4000, kPerCpu1 = 0x2000;
constexpr uint64_t kIrqStackPtr = kPerCpu, kSdeiNormalPtr = kPerCpu + 8, kSdeiCriticalPtr = kPerCpu + 0x10;
// overflow_stack is per-CPU data aligned to 16 bytes only (6.1: ...92d0 in System.map): here
// it crosses a 4 KiB boundary, as it does in the kernel.
constexpr uint64_t kOverflowStack = kPerCpu + 0x12d0, kOverflowSize = 0x1000;
constexpr uint64_t kTasks = 0x9000, kStacks = 0x10000;

// A pt_regs as the tests lay it out.
struct PtRegs {
  uint64_t x[31] = {};
  uint64_t sp = 0, pc = 0, pstate = 0, orig_x0 = 0;
  int32_t syscallno = 0;
  uint64_t stackframe[2] = {};
};

class FakeArm64 {
 public:
  explicit FakeArm64(uint64_t kaslr, uint64_t thread_size = 0x4000)
      : kaslr_(kaslr), thread_size_(thread_size), image_(kStacks + 8 * thread_size, 0) {
    put(at(kPerCpuOffsets), 0);
    put(at(kPerCpuOffsets + 8), kPerCpu1);
    put(at(kIrqStackPtr), irq_lo(0));
    put(at(kIrqStackPtr + kPerCpu1), irq_lo(1));
  }

  // Runtime (relocated) addresses.
  uint64_t at(uint64_t image_off) const { return kLinkText + kaslr_ + image_off; }
  uint64_t text(const Fn& f, uint64_t off) const { return at(f.off + off); }
  uint64_t thread_size() const { return thread_size_; }
  // Stack 0 is init_stack; stacks 1-3 belong to tasks; 4 and 5 are CPU 0's and CPU 1's IRQ
  // stacks; 6 is CPU 0's SDEI normal stack (when sdei_stack() is called).
  uint64_t stack_lo(int i) const { return at(kStacks + static_cast<uint64_t>(i) * thread_size_); }
  uint64_t stack_hi(int i) const { return stack_lo(i) + thread_size_; }
  uint64_t irq_lo(int cpu) const { return stack_lo(4 + cpu); }
  uint64_t irq_hi(int cpu) const { return irq_lo(cpu) + thread_size_; }
  uint64_t overflow_lo(int cpu) const { return at(kOverflowStack + (cpu ? kPerCpu1 : 0)); }
  uint64_t overflow_hi(int cpu) const { return overflow_lo(cpu) + kOverflowSize; }
  // pt_regs at a stack's top, where the kernel keeps a user task's registers.
  uint64_t user_regs(int stack) const { return stack_hi(stack) - kPtRegsSize; }

  void put(uint64_t addr, uint64_t value) {
    uint64_t off = addr - at(0);
    ASSERT_LE(off + 8, image_.size()) << std::hex << addr;
    std::memcpy(image_.data() + off, &value, 8);
  }
  // A frame record at `addr`: {previous x29, return address}.
  void record(uint64_t addr, uint64_t prev_fp, uint64_t ret) {
    put(addr, prev_fp);
    put(addr + 8, ret);
  }
  void pt_regs(uint64_t addr, const PtRegs& r) {
    for (int i = 0; i < 31; ++i) put(addr + 8 * static_cast<uint64_t>(i), r.x[i]);
    put(addr + kRegsSp, r.sp);
    put(addr + kRegsPc, r.pc);
    put(addr + kRegsPstate, r.pstate);
    put(addr + kRegsOrigX0, r.orig_x0);
    uint64_t word = 0;
    std::memcpy(&word, &r.syscallno, 4);
    put(addr + kRegsSyscallno, word);
    put(addr + kRegsStackframe, r.stackframe[0]);
    put(addr + kRegsStackframe + 8, r.stackframe[1]);
  }
  // A kernel exception frame (EL1h) whose stackframe is {x29, pc}, as kernel_entry makes it.
  uint64_t kernel_eframe(uint64_t addr, uint64_t pc, uint64_t x29, uint64_t lr, uint64_t pstate = 0x60000005) {
    PtRegs r;
    for (int i = 0; i < 29; ++i) r.x[i] = 0x1000 + static_cast<uint64_t>(i);
    r.x[29] = x29;
    r.x[30] = lr;
    r.sp = addr + kPtRegsSize;
    r.pc = pc;
    r.pstate = pstate;
    r.stackframe[0] = x29;
    r.stackframe[1] = pc;
    pt_regs(addr, r);
    return addr + kRegsStackframe;
  }
  // Task i (1-3) on stack i, switched out with thread.cpu_context {fp, sp, pc}.
  Task task(int i, uint64_t fp, uint64_t sp, uint64_t pc, uint64_t mm = 0) {
    Task t;
    t.addr = at(kTasks + static_cast<uint64_t>(i) * kTaskSize);
    t.pid = 100 + i;
    t.comm = "fake";
    t.stack = stack_lo(i);
    t.mm = mm;
    t.thread_sp = sp;
    put(t.addr + 0x20, t.stack);
    put(t.addr + 0x80, mm);
    put(t.addr + kTaskThread + kCtxFp, fp);
    put(t.addr + kTaskThread + kCtxSp, sp);
    put(t.addr + kTaskThread + kCtxPc, pc);
    return t;
  }
  // NT_PRSTATUS of `cpu` (CPUs are numbered by the notes' order: set 0 before 1).
  void cpu_regs(int cpu, uint64_t pc, uint64_t sp, uint64_t fp, uint64_t pstate = 0x60000005) {
    if (prstatus_.size() <= static_cast<size_t>(cpu)) prstatus_.resize(static_cast<size_t>(cpu) + 1);
    auto& r = prstatus_[static_cast<size_t>(cpu)];
    for (int i = 0; i < 31; ++i) r[static_cast<size_t>(i)] = 0x2000 + static_cast<uint64_t>(i);
    r[29] = fp;
    r[31] = sp;
    r[32] = pc;
    r[33] = pstate;
  }
  // CPU 0's SDEI normal stack (stack 6) and the KERNELPACMASK entry.
  void sdei_stack() { put(at(kSdeiNormalPtr), stack_lo(6)); }
  void pac() { pac_ = true; }
  // Leaves [addr, addr + size) out of the dump's PT_LOADs.
  void hole(uint64_t addr, uint64_t size) { hole_ = {addr - at(0), size}; }

  Kernel& open() {
    if (Kernel* k = synth_.kernel()) return *k;
    dumpfmt::testing::ElfSpec spec;
    spec.machine = EM_AARCH64;
    auto load = [&](uint64_t off, uint64_t end) {
      if (end > off)
        spec.loads.push_back({kPhys + off, Bytes(image_.begin() + static_cast<ptrdiff_t>(off), image_.begin() + static_cast<ptrdiff_t>(end)),
                              0, at(off)});
    };
    if (hole_.second) {
      load(0, hole_.first);
      load(hole_.first + hole_.second, image_.size());
    } else {
      load(0, image_.size());
    }
    for (size_t cpu = 0; cpu < prstatus_.size(); ++cpu) {
      Bytes desc(392, 0);  // struct elf_prstatus on arm64; pr_reg (user_pt_regs) at 112
      uint32_t pid = static_cast<uint32_t>(cpu + 1);
      std::memcpy(desc.data() + 32, &pid, 4);
      std::memcpy(desc.data() + 112, prstatus_[cpu].data(), 34 * 8);
      Bytes n = dumpfmt::testing::encode_note("CORE", NT_PRSTATUS, desc);
      spec.notes.insert(spec.notes.end(), n.begin(), n.end());
    }
    spec.vmcoreinfo = fmt::format(
        "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)={:x}\nNUMBER(VA_BITS)=48\n"
        "NUMBER(kimage_voffset)={:#x}\nNUMBER(PHYS_OFFSET)={:#x}\nKERNELOFFSET={:x}\n",
        at(kPgDir), at(0) - kPhys, kPhys, kaslr_);
    if (pac_) spec.vmcoreinfo += fmt::format("NUMBER(KERNELPACMASK)={:#x}\n", kPacMask);
    return synth_.open("coroner-stack-arm64-test", vmlinux(), spec);
  }

 private:
  synth::VmlinuxSpec vmlinux() const {
    synth::VmlinuxSpec v;
    v.machine = EM_AARCH64;
    // Symbols at image offsets: text in .text (section 1), data in .data (section 2).
    auto sym = [&](const char* n, uint64_t off, uint64_t size, int type, uint16_t section) {
      v.symbols.push_back({n, kLinkText + off, size, type, section});
    };
    sym("_text", 0, 0, STT_NOTYPE, 1);
    sym("_stext", 0, 0, STT_NOTYPE, 1);
    sym("__irqentry_text_start", kGicIrq.off, 0, STT_NOTYPE, 1);
    sym("__irqentry_text_end", kGicIrq.off + kGicIrq.size, 0, STT_NOTYPE, 1);
    sym("__exception_text_start", kEl1Fault.off, 0, STT_NOTYPE, 1);
    sym("__exception_text_end", kEl1Fault.off + kEl1Fault.size, 0, STT_NOTYPE, 1);
    for (const Fn& f : kFns) sym(f.name, f.off, f.size, STT_FUNC, 1);
    sym("_etext", kTextSize, 0, STT_NOTYPE, 1);
    sym("swapper_pg_dir", kPgDir, 0x1000, STT_OBJECT, 2);
    sym("__per_cpu_offset", kPerCpuOffsets, 16, STT_OBJECT, 2);
    sym("irq_stack_ptr", kIrqStackPtr, 8, STT_OBJECT, 2);
    sym("sdei_stack_normal_ptr", kSdeiNormalPtr, 8, STT_OBJECT, 2);
    sym("sdei_stack_critical_ptr", kSdeiCriticalPtr, 8, STT_OBJECT, 2);
    sym("overflow_stack", kOverflowStack, kOverflowSize, STT_OBJECT, 2);
    sym("init_stack", kStacks, thread_size_, STT_OBJECT, 2);
    sym("__end_init_stack", kStacks + thread_size_, 0, STT_NOTYPE, 2);
    sym("_end", image_.size(), 0, STT_NOTYPE, 2);
    v.sections = {
        {".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, kLinkText, Bytes(image_.begin(), image_.begin() + kTextSize)},
        {".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, kLinkText + kTextSize, Bytes(image_.begin() + kTextSize, image_.end())},
        {".BTF", SHT_PROGBITS, 0, 0, make_btf()},
    };
    return v;
  }

  uint64_t kaslr_;
  uint64_t thread_size_;
  Bytes image_;
  std::vector<std::array<uint64_t, 34>> prstatus_;
  bool pac_ = false;
  std::pair<uint64_t, uint64_t> hole_{0, 0};  // image offset, size
  synth::SynthKernel synth_;
};

// How the tests see a walk: (fp, pc, left_stack, exception's address or 0) per frame.
using Row = std::tuple<uint64_t, uint64_t, std::string, uint64_t>;
std::vector<Row> rows(const arm64::Backtrace& bt) {
  std::vector<Row> out;
  for (const auto& f : bt.frames) out.emplace_back(f.fp, f.pc, f.left_stack, f.exception ? f.exception->addr : 0);
  return out;
}

// bt's test of kernel text, on the fake: [_text, _etext).
std::function<bool(uint64_t)> text_test(Kernel& k) {
  uint64_t lo = *k.symbols().address_of("_text"), hi = *k.symbols().address_of("_etext");
  return [lo, hi](uint64_t v) { return v >= lo && v < hi; };
}

Result<arm64::Backtrace> unwind(Kernel& k, const Task& t, std::vector<uint64_t> active = {}) {
  TaskTable tt;
  tt.tasks = {t};
  tt.active = std::move(active);
  return arm64::unwind(k, tt, t, text_test(k));
}

class Arm64Unwind : public ::testing::TestWithParam<uint64_t> {};

// A kernel thread switched out: frame #0 from thread.cpu_context, three frame records, and
// the walk stops at kthread without reading kthread's own record (garbage here).
TEST_P(Arm64Unwind, SwitchedOutKernelThreadStopsAtKthread) {
  FakeArm64 f(GetParam());
  uint64_t hi = f.stack_hi(1);
  uint64_t r0 = hi - 0x200, r1 = hi - 0x1c0, r2 = hi - 0x180, r3 = hi - 0x140;
  f.record(r0, r1, f.text(kSchedule0, 0x84));
  f.record(r1, r2, f.text(kSchedule, 0x4c));
  f.record(r2, r3, f.text(kKthread, 0x60));
  f.record(r3, 0xdead0000beef0000ull, 0x1234);
  Task t = f.task(1, r0, r0, f.text(kSwitchTo, 0x40));
  auto bt = unwind(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<Row> want{{r0, f.text(kSwitchTo, 0x40), "", 0},
                        {r1, f.text(kSchedule0, 0x84), "", 0},
                        {r2, f.text(kSchedule, 0x4c), "", 0},
                        {r3, f.text(kKthread, 0x60), "", 0}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
  EXPECT_FALSE(bt->first_exception);
  EXPECT_FALSE(bt->user);
  EXPECT_FALSE(bt->in_user_space);
  EXPECT_EQ(bt->start_pc, f.text(kSwitchTo, 0x40));
  EXPECT_EQ(bt->start_sp, r0);
}

// A user task switched out: the records lead to the entry code's frame record in the user
// pt_regs at the stack's top (zeroed, as kernel_entry does for EL0), which ends the walk;
// the user registers are read from there (syscallno is an s32: -1 is NO_SYSCALL).
TEST_P(Arm64Unwind, UserTaskEndsWithTheUserRegistersAtTheStackTop) {
  FakeArm64 f(GetParam());
  uint64_t hi = f.stack_hi(2), regs = f.user_regs(2);
  PtRegs u;
  for (int i = 0; i < 31; ++i) u.x[i] = 0x3000 + static_cast<uint64_t>(i);
  u.x[29] = 0x0000ffffc0de0010ull;
  u.x[30] = 0x0000aaaa00001234ull;
  u.sp = 0x0000ffffc0de0000ull;
  u.pc = 0x0000ffff80001234ull;
  u.pstate = 0x80000000;  // EL0t, N set
  u.orig_x0 = 3;
  u.syscallno = -1;
  f.pt_regs(regs, u);
  uint64_t stackframe = regs + kRegsStackframe;
  uint64_t r0 = hi - 0x400, r1 = hi - 0x3c0;
  f.record(r0, r1, f.text(kSchedule0, 0x84));
  f.record(r1, stackframe, f.text(kEl0Sync, 0x68));
  Task t = f.task(2, r0, r0 - 0x10, f.text(kSwitchTo, 0x40), /*mm=*/0xffff000012340000ull);
  auto bt = unwind(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<Row> want{{r0, f.text(kSwitchTo, 0x40), "", 0},
                        {r1, f.text(kSchedule0, 0x84), "", 0},
                        {stackframe, f.text(kEl0Sync, 0x68), "", 0}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
  EXPECT_FALSE(bt->in_user_space);
  ASSERT_TRUE(bt->user);
  EXPECT_EQ(bt->user->addr, regs);
  EXPECT_EQ(bt->user->pc, u.pc);
  EXPECT_EQ(bt->user->sp, u.sp);
  EXPECT_EQ(bt->user->pstate, u.pstate);
  EXPECT_EQ(bt->user->x[0], 0x3000u);
  EXPECT_EQ(bt->user->x[29], u.x[29]);
  EXPECT_EQ(bt->user->x[30], u.x[30]);
  EXPECT_EQ(bt->user->orig_x0, 3u);
  EXPECT_EQ(bt->user->syscallno, ~0ull);
  EXPECT_TRUE(bt->user->user_mode());
  EXPECT_FALSE(bt->user->aarch32());
}

// The dump caught a task in user mode (PSTATE EL0 in its NT_PRSTATUS): no kernel frames,
// only the user registers at its stack's top.
TEST_P(Arm64Unwind, ActiveTaskInUserSpace) {
  FakeArm64 f(GetParam());
  uint64_t regs = f.user_regs(2);
  PtRegs u;
  u.pc = 0x0000ffff80001234ull;
  u.sp = 0x0000ffffc0de0000ull;
  u.pstate = 0x20000000;
  f.pt_regs(regs, u);
  f.cpu_regs(0, 0x0000ffff80001234ull, 0x0000ffffc0de0000ull, 0x0000ffffc0de0010ull, 0x20000000);
  Task t = f.task(2, 0, 0, 0, 0xffff000012340000ull);
  auto bt = unwind(f.open(), t, {t.addr});
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_TRUE(bt->in_user_space);
  EXPECT_TRUE(bt->frames.empty());
  ASSERT_TRUE(bt->user);
  EXPECT_EQ(bt->user->addr, regs);
  EXPECT_EQ(bt->user->pc, u.pc);
  EXPECT_EQ(bt->start_pc, 0x0000ffff80001234ull);
}

// A task running on CPU 1 when the dump was taken, its registers in CPU 1's NT_PRSTATUS, in
// an interrupt handler on CPU 1's IRQ stack (found through per-CPU irq_stack_ptr with
// __per_cpu_offset[1]): two frames there, then call_on_irq_stack's record leads back to the
// task's stack, where the first frame is marked as having left the IRQ stack.
TEST_P(Arm64Unwind, ActiveTaskFromTheIrqStackBackToTheTaskStack) {
  FakeArm64 f(GetParam());
  uint64_t ihi = f.irq_hi(1), hi = f.stack_hi(3);
  uint64_t i0 = ihi - 0x300, i1 = ihi - 0x100;
  uint64_t t0 = hi - 0x400, t1 = hi - 0x300, t2 = hi - 0x200;
  f.record(i0, i1, f.text(kIrqDesc, 0x30));
  f.record(i1, t0, f.text(kCallOnIrq, 0x3c));
  f.record(t0, t1, f.text(kSchedule, 0x10));
  f.record(t1, t2, f.text(kKthread, 0x60));
  f.cpu_regs(0, f.text(kDoIdle, 0x20), f.stack_hi(1) - 0x100, f.stack_hi(1) - 0x100);
  f.cpu_regs(1, f.text(kWorker, 0x10), i0, i0);
  Task t = f.task(3, 0, 0, 0);
  auto bt = unwind(f.open(), t, {0, t.addr});
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<Row> want{{i0, f.text(kWorker, 0x10), "", 0},
                        {i1, f.text(kIrqDesc, 0x30), "", 0},
                        {t0, f.text(kCallOnIrq, 0x3c), "IRQ stack", 0},
                        {t1, f.text(kSchedule, 0x10), "", 0},
                        {t2, f.text(kKthread, 0x60), "", 0}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
  EXPECT_FALSE(bt->first_exception);
  EXPECT_FALSE(bt->user);
  EXPECT_EQ(bt->start_pc, f.text(kWorker, 0x10));
  EXPECT_EQ(bt->start_sp, i0);
}

// CPU 0 took the dump inside an exception: its x29 points at a kernel pt_regs' stackframe,
// which is the first exception frame. Further up, a function in exception text (here each
// kind: __irqentry_text, __exception_text, a named handler) has the next record in another
// pt_regs: that exception frame goes with the next frame (the entry code's, whose record is
// the pt_regs' stackframe), below which crash prints it. An ordinary function in the same
// place finds none, nor does a pt_regs from user mode or with a non-text pc.
TEST_P(Arm64Unwind, KernelExceptionFrames) {
  struct Case {
    Fn fn;
    uint64_t pstate;
    bool text_pc, found;
  };
  for (const Case& c : {Case{kGicIrq, 0x60000005, true, true}, Case{kEl1Fault, 0x80000005, true, true},
                        Case{kMemAbort, 0x4, true, true}, Case{kWorker, 0x60000005, true, false},
                        Case{kGicIrq, 0x60000000, true, false}, Case{kGicIrq, 0x60000005, false, false}}) {
    SCOPED_TRACE(fmt::format("{} pstate {:#x} text pc {}", c.fn.name, c.pstate, c.text_pc));
    FakeArm64 f(GetParam());
    uint64_t hi = f.stack_hi(1);
    uint64_t p1 = hi - 0x800, t0 = hi - 0x600, p2 = hi - 0x500, t2 = hi - 0x300, t3 = hi - 0x200;
    uint64_t p2_pc = c.text_pc ? f.text(kSchedule, 0x10) : f.at(kTasks);  // data, not text
    uint64_t s1 = f.kernel_eframe(p1, f.text(c.fn, 0x20), t0, f.text(kSchedule0, 0x10));
    uint64_t s2 = f.kernel_eframe(p2, p2_pc, t2, f.text(kSchedule0, 0x84), c.pstate);
    f.record(t0, s2, f.text(kEl1Irq, 0x70));
    f.record(t2, t3, f.text(kKthread, 0x60));
    f.cpu_regs(0, f.text(kPanic, 0x40), p1 - 0x20, s1);
    Task t = f.task(1, 0, 0, 0);
    auto bt = unwind(f.open(), t, {t.addr});
    ASSERT_TRUE(bt) << bt.error().message;
    ASSERT_TRUE(bt->first_exception);
    EXPECT_EQ(bt->first_exception->addr, p1);
    EXPECT_EQ(bt->first_exception->pc, f.text(c.fn, 0x20));
    EXPECT_EQ(bt->first_exception->sp, p1 + kPtRegsSize);
    EXPECT_EQ(bt->first_exception->x[29], t0);
    EXPECT_EQ(bt->first_exception->pstate, 0x60000005u);
    std::vector<Row> want{{s1, f.text(kPanic, 0x40), "", 0},
                          {t0, f.text(c.fn, 0x20), "", 0},
                          {s2, f.text(kEl1Irq, 0x70), "", c.found ? p2 : 0},
                          {t2, p2_pc, "", 0},
                          {t3, f.text(kKthread, 0x60), "", 0}};
    EXPECT_EQ(rows(*bt), want);
    EXPECT_EQ(bt->stopped, "");
    if (c.found) {
      const auto& e = *bt->frames[2].exception;
      EXPECT_EQ(e.pc, f.text(kSchedule, 0x10));
      EXPECT_EQ(e.x[30], f.text(kSchedule0, 0x84));
      EXPECT_EQ(e.pstate, c.pstate);
    }
  }
}

// The walk of a switched-out kernel thread whose first record (at r0, on stack 1) holds
// {next, __schedule+0x84}: every corrupt `next` ends the walk cleanly.
TEST_P(Arm64Unwind, CorruptFrameRecordsEndTheWalk) {
  struct Case {
    const char* what;
    std::function<uint64_t(FakeArm64&, uint64_t r0)> next;  // may write more records
    std::function<uint64_t(FakeArm64&, uint64_t r0)> second_fp;  // the frame after #0, 0: none
    std::string stopped;
  };
  auto same = [](FakeArm64&, uint64_t r0) { return r0; };
  std::vector<Case> cases{
      {"points to itself", same, same, ""},
      {"points below sp", [](FakeArm64&, uint64_t r0) { return r0 - 0x40; },
       [](FakeArm64&, uint64_t r0) { return r0 - 0x40; }, ""},
      {"misaligned", [](FakeArm64&, uint64_t r0) { return r0 + 0x48; },
       [](FakeArm64&, uint64_t r0) { return r0 + 0x48; }, ""},
      {"off every stack (a linear-map address)", [](FakeArm64&, uint64_t) { return 0xffff000012345670ull; },
       [](FakeArm64&, uint64_t) { return 0xffff000012345670ull; }, ""},
      {"on another task's stack", [](FakeArm64& f, uint64_t) { return f.stack_lo(2) + 0x100; },
       [](FakeArm64& f, uint64_t) { return f.stack_lo(2) + 0x100; }, ""},
      {"a loop of two records",
       [](FakeArm64& f, uint64_t r0) {
         f.record(r0 + 0x40, r0, f.text(kSchedule, 0x10));
         return r0 + 0x40;
       },
       [](FakeArm64&, uint64_t r0) { return r0 + 0x40; }, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    FakeArm64 f(GetParam());
    uint64_t r0 = f.stack_lo(1) + 0x1000;
    uint64_t next = c.next(f, r0);
    f.put(r0, next);
    f.put(r0 + 8, f.text(kSchedule0, 0x84));
    Task t = f.task(1, r0, r0, f.text(kSwitchTo, 0x40));
    auto bt = unwind(f.open(), t);
    ASSERT_TRUE(bt) << bt.error().message;
    std::vector<Row> want{{r0, f.text(kSwitchTo, 0x40), "", 0}, {c.second_fp(f, r0), f.text(kSchedule0, 0x84), "", 0}};
    if (std::string_view(c.what) == "a loop of two records") want.push_back({r0, f.text(kSchedule, 0x10), "", 0});
    EXPECT_EQ(rows(*bt), want);
    EXPECT_EQ(bt->stopped, c.stopped);
    EXPECT_FALSE(bt->user);
  }
}

// A zero record ends the walk; a zero x29 with a return address gives one more frame, shown
// at the user pt_regs' place (as crash does), and ends it there.
TEST_P(Arm64Unwind, ZeroRecords) {
  {
    FakeArm64 f(GetParam());
    uint64_t r0 = f.stack_lo(1) + 0x1000;
    f.record(r0, 0, 0);
    Task t = f.task(1, r0, r0, f.text(kSwitchTo, 0x40));
    auto bt = unwind(f.open(), t);
    ASSERT_TRUE(bt) << bt.error().message;
    EXPECT_EQ(rows(*bt), (std::vector<Row>{{r0, f.text(kSwitchTo, 0x40), "", 0}}));
    EXPECT_EQ(bt->stopped, "");
  }
  {
    FakeArm64 f(GetParam());
    uint64_t r0 = f.stack_lo(1) + 0x1000;
    f.record(r0, 0, f.text(kSchedule, 0x10));
    Task t = f.task(1, r0, r0, f.text(kSwitchTo, 0x40));
    auto bt = unwind(f.open(), t);
    ASSERT_TRUE(bt) << bt.error().message;
    EXPECT_EQ(rows(*bt), (std::vector<Row>{{r0, f.text(kSwitchTo, 0x40), "", 0},
                                           {f.user_regs(1), f.text(kSchedule, 0x10), "", 0}}));
    EXPECT_EQ(bt->stopped, "");
  }
}

// Memory missing from the dump: a record in the hole stops the walk naming its address; the
// task's first record in the hole too; a task_struct in the hole is an error naming it.
TEST_P(Arm64Unwind, UnreadableMemoryEndsTheWalkNamingTheAddress) {
  {
    FakeArm64 f(GetParam());
    uint64_t r0 = f.stack_lo(1) + 0x1000, r1 = f.stack_lo(1) + 0x2100;
    f.hole(f.stack_lo(1) + 0x2000, 0x1000);
    f.record(r0, r1, f.text(kSchedule0, 0x84));
    Task t = f.task(1, r0, r0, f.text(kSwitchTo, 0x40));
    auto bt = unwind(f.open(), t);
    ASSERT_TRUE(bt) << bt.error().message;
    EXPECT_EQ(rows(*bt), (std::vector<Row>{{r0, f.text(kSwitchTo, 0x40), "", 0}, {r1, f.text(kSchedule0, 0x84), "", 0}}));
    EXPECT_EQ(bt->stopped, fmt::format("cannot read the frame record at {:x}", r1));
  }
  {
    FakeArm64 f(GetParam());
    uint64_t r0 = f.stack_lo(1) + 0x2100;
    f.hole(f.stack_lo(1) + 0x2000, 0x1000);
    Task t = f.task(1, r0, r0, f.text(kSwitchTo, 0x40));
    auto bt = unwind(f.open(), t);
    ASSERT_TRUE(bt) << bt.error().message;
    EXPECT_EQ(rows(*bt), (std::vector<Row>{{r0, f.text(kSwitchTo, 0x40), "", 0}}));
    EXPECT_EQ(bt->stopped, fmt::format("cannot read the frame record at {:x}", r0));
  }
  {
    FakeArm64 f(GetParam());
    Task t = f.task(1, f.stack_lo(1) + 0x100, f.stack_lo(1) + 0x100, f.text(kSwitchTo, 0x40));
    f.hole(t.addr & ~0xfffull, 0x1000);
    auto bt = unwind(f.open(), t);
    ASSERT_FALSE(bt);
    EXPECT_NE(bt.error().message.find(fmt::format("{:x}", t.addr + kTaskThread + kCtxSp)), std::string::npos)
        << bt.error().message;
  }
}

// 2000 well-formed records on a 32 KiB stack (THREAD_SIZE with KASAN): the walk stops at the
// frame cap and says so.
TEST_P(Arm64Unwind, ChainLongerThanTheFrameCap) {
  FakeArm64 f(GetParam(), 0x8000);
  uint64_t lo = f.stack_lo(1);
  for (uint64_t i = 0; i < 2000; ++i) f.record(lo + 16 * i, lo + 16 * (i + 1), f.text(kSchedule, 0x10));
  Task t = f.task(1, lo, lo, f.text(kSwitchTo, 0x40));
  auto bt = unwind(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  ASSERT_EQ(bt->frames.size(), 1024u);
  EXPECT_EQ(bt->frames.back().fp, lo + 16 * 1023);
  EXPECT_EQ(bt->frames.back().pc, f.text(kSchedule, 0x10));
  EXPECT_EQ(bt->stopped, "more than 1024 frames");
}

// A walk may leave a CPU stack for another once: overflow stack -> IRQ stack -> back to the
// overflow stack ends there (each stack is entered once) instead of looping.
TEST_P(Arm64Unwind, StacksAreEnteredOnce) {
  FakeArm64 f(GetParam());
  uint64_t o0 = f.overflow_hi(0) - 0x200, i0 = f.irq_hi(0) - 0x200;
  f.record(o0, i0, f.text(kIrqDesc, 0x30));
  f.record(i0, o0 + 0x40, f.text(kSchedule, 0x10));
  f.cpu_regs(0, f.text(kWorker, 0x10), o0, o0);
  Task t = f.task(1, 0, 0, 0);
  auto bt = unwind(f.open(), t, {t.addr});
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(rows(*bt), (std::vector<Row>{{o0, f.text(kWorker, 0x10), "", 0},
                                         {i0, f.text(kIrqDesc, 0x30), "Overflow stack", 0}}));
  EXPECT_EQ(bt->stopped, "");
}

// An SDEI handler's stack (per-CPU sdei_stack_normal_ptr) back to the IRQ stack, then the
// task's: each left stack named on the first frame after it.
TEST_P(Arm64Unwind, SdeiStackToIrqStackToTaskStack) {
  FakeArm64 f(GetParam());
  f.sdei_stack();
  uint64_t s0 = f.stack_hi(6) - 0x200, i0 = f.irq_hi(0) - 0x200, t0 = f.stack_hi(1) - 0x400, t1 = f.stack_hi(1) - 0x300;
  f.record(s0, i0, f.text(kIrqDesc, 0x30));
  f.record(i0, t0, f.text(kCallOnIrq, 0x3c));
  f.record(t0, t1, f.text(kKthread, 0x60));
  f.cpu_regs(0, f.text(kWorker, 0x10), s0, s0);
  Task t = f.task(1, 0, 0, 0);
  auto bt = unwind(f.open(), t, {t.addr});
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(rows(*bt), (std::vector<Row>{{s0, f.text(kWorker, 0x10), "", 0},
                                         {i0, f.text(kIrqDesc, 0x30), "SDEI normal stack", 0},
                                         {t0, f.text(kCallOnIrq, 0x3c), "IRQ stack", 0},
                                         {t1, f.text(kKthread, 0x60), "", 0}}));
  EXPECT_EQ(bt->stopped, "");
}

// Return addresses signed with pointer authentication: the PAC bits (here cleared, and an
// arbitrary code) are replaced by KERNELPACMASK's ones when that makes kernel text; an
// exception frame's signed lr is accepted the same way. Values that are not text either
// way are left alone. Without KERNELPACMASK the signed values stay as they are.
TEST_P(Arm64Unwind, PointerAuthenticationBitsAreRestored) {
  for (bool with_mask : {true, false}) {
    SCOPED_TRACE(with_mask ? "KERNELPACMASK" : "no KERNELPACMASK");
    FakeArm64 f(GetParam());
    if (with_mask) f.pac();
    uint64_t hi = f.stack_hi(1);
    uint64_t r0 = hi - 0x800, r1 = hi - 0x780, r2 = hi - 0x700, p = hi - 0x600, r3 = hi - 0x300;
    uint64_t cleared = f.text(kSchedule0, 0x84) & ~kPacMask;
    uint64_t signed_pc = (f.text(kGicIrq, 0x20) & ~kPacMask) | 0x002a000000000000ull;
    uint64_t signed_entry = (f.text(kEl1Irq, 0x70) & ~kPacMask) | 0x8000000000000000ull;
    uint64_t s = f.kernel_eframe(p, f.text(kSchedule, 0x10), r3, (f.text(kSchedule0, 0x84) & ~kPacMask) | 0x0100000000000000ull);
    f.record(r0, r1, cleared);
    f.record(r1, r2, signed_pc);
    f.record(r2, s, signed_entry);  // gic_handle_irq's record: its caller's fp is pt_regs.stackframe
    f.record(r3, 0, 0);
    Task t = f.task(1, r0, r0, f.text(kSwitchTo, 0x40));
    Kernel& k = f.open();
    auto bt = unwind(k, t);
    ASSERT_TRUE(bt) << bt.error().message;
    if (with_mask) {
      EXPECT_EQ(rows(*bt), (std::vector<Row>{{r0, f.text(kSwitchTo, 0x40), "", 0},
                                             {r1, f.text(kSchedule0, 0x84), "", 0},
                                             {r2, f.text(kGicIrq, 0x20), "", 0},
                                             {s, f.text(kEl1Irq, 0x70), "", p},
                                             {r3, f.text(kSchedule, 0x10), "", 0}}));
      EXPECT_EQ(arm64::strip_pac(k, cleared, text_test(k)), f.text(kSchedule0, 0x84));
      EXPECT_EQ(arm64::strip_pac(k, signed_pc, text_test(k)), f.text(kGicIrq, 0x20));
    } else {
      // gic_handle_irq's frame is not recognised, so no exception frame either.
      EXPECT_EQ(rows(*bt), (std::vector<Row>{{r0, f.text(kSwitchTo, 0x40), "", 0},
                                             {r1, cleared, "", 0},
                                             {r2, signed_pc, "", 0},
                                             {s, signed_entry, "", 0},
                                             {r3, f.text(kSchedule, 0x10), "", 0}}));
      EXPECT_EQ(arm64::strip_pac(k, cleared, text_test(k)), cleared);
    }
    EXPECT_EQ(bt->stopped, "");
    EXPECT_EQ(arm64::strip_pac(k, 0x1234, text_test(k)), 0x1234u);
    EXPECT_EQ(arm64::strip_pac(k, f.text(kPanic, 8), text_test(k)), f.text(kPanic, 8));
  }
}

// The kdump path: a return address into machine_kexec on the active task's stack, below the
// registers' x29, starts the walk there (frame #0 is machine_kexec's, with its own record);
// a crash_kexec return address above it does not win over it. Without the machine_kexec
// one the crash_kexec one is used, and a crash_save_cpu one is as good as machine_kexec's.
TEST_P(Arm64Unwind, KdumpStartOnTheTaskStack) {
  enum class Word { machine_kexec, crash_save_cpu, only_crash_kexec };
  for (Word w : {Word::machine_kexec, Word::crash_save_cpu, Word::only_crash_kexec}) {
    SCOPED_TRACE(static_cast<int>(w));
    FakeArm64 f(GetParam());
    uint64_t hi = f.stack_hi(1);
    uint64_t rc = hi - 0x800, rm = hi - 0x780, rk = hi - 0x700, rp = hi - 0x600, rw = hi - 0x500, rt = hi - 0x400;
    Fn callee = w == Word::crash_save_cpu ? kCrashSaveCpu : kMachineKexec;
    if (w != Word::only_crash_kexec) f.record(rc, rm, f.text(callee, 0x40));
    f.record(rm, rk, f.text(kCrashKexec, 0x30));
    f.record(rk, rp, f.text(kPanic, 0x40));
    f.record(rp, rw, f.text(kWorker, 0x10));
    f.record(rw, rt, f.text(kKthread, 0x60));
    f.cpu_regs(0, f.text(kCrashKexec, 0x20), rk - 0x10, rk);
    Task t = f.task(1, 0, 0, 0);
    auto bt = unwind(f.open(), t, {t.addr});
    ASSERT_TRUE(bt) << bt.error().message;
    std::vector<Row> want{{rk, f.text(kCrashKexec, 0x30), "", 0},
                          {rp, f.text(kPanic, 0x40), "", 0},
                          {rw, f.text(kWorker, 0x10), "", 0},
                          {rt, f.text(kKthread, 0x60), "", 0}};
    if (w != Word::only_crash_kexec) want.insert(want.begin(), Row{rm, f.text(callee, 0x40), "", 0});
    EXPECT_EQ(rows(*bt), want);
    EXPECT_EQ(bt->stopped, "");
    EXPECT_FALSE(bt->first_exception);
    EXPECT_EQ(bt->start_pc, w == Word::only_crash_kexec ? f.text(kCrashKexec, 0x30) : f.text(callee, 0x40));
    EXPECT_EQ(bt->start_sp, w == Word::only_crash_kexec ? rm + 16 : rc + 16);
  }
}

// A panic in interrupt context: no kdump word on the task's stack, so the CPU's IRQ stack is
// searched, where only crash_kexec and crash_save_cpu return addresses count (crash's
// arm64_in_kdump_text_on_irq_stack): the walk starts at crash_kexec's, above a machine_kexec
// one, and goes back to the task's stack. A machine_kexec one alone is not a kdump start:
// the walk starts from the registers.
TEST_P(Arm64Unwind, KdumpStartOnTheIrqStack) {
  for (bool with_crash_kexec : {true, false}) {
    SCOPED_TRACE(with_crash_kexec ? "crash_kexec and machine_kexec" : "machine_kexec only");
    FakeArm64 f(GetParam());
    uint64_t ihi = f.irq_hi(0), hi = f.stack_hi(1);
    uint64_t rc = ihi - 0x800, rm = ihi - 0x780, rk = ihi - 0x700, rp = ihi - 0x600, t0 = hi - 0x400, t1 = hi - 0x300;
    f.record(rc, rm, f.text(kMachineKexec, 0x40));
    f.record(rm, rk, with_crash_kexec ? f.text(kCrashKexec, 0x30) : f.text(kWorker, 0x30));
    f.record(rk, rp, f.text(kPanic, 0x40));
    f.record(rp, t0, f.text(kCallOnIrq, 0x3c));
    f.record(t0, t1, f.text(kKthread, 0x60));
    f.cpu_regs(0, f.text(kCrashKexec, 0x20), rk - 0x10, rk);
    Task t = f.task(1, 0, 0, 0);
    auto bt = unwind(f.open(), t, {t.addr});
    ASSERT_TRUE(bt) << bt.error().message;
    EXPECT_EQ(rows(*bt), (std::vector<Row>{{rk, f.text(kCrashKexec, with_crash_kexec ? 0x30 : 0x20), "", 0},
                                           {rp, f.text(kPanic, 0x40), "", 0},
                                           {t0, f.text(kCallOnIrq, 0x3c), "IRQ stack", 0},
                                           {t1, f.text(kKthread, 0x60), "", 0}}));
    EXPECT_EQ(bt->stopped, "");
    EXPECT_EQ(bt->start_pc, f.text(kCrashKexec, with_crash_kexec ? 0x30 : 0x20));
    EXPECT_EQ(bt->start_sp, with_crash_kexec ? rm + 16 : rk - 0x10);
  }
}

// An exception frame found from a function in exception text is not printed when the next
// frame ends the trace (crash returns at kthread before printing it).
TEST_P(Arm64Unwind, ExceptionFrameDroppedWhenTheNextFrameEndsTheTrace) {
  FakeArm64 f(GetParam());
  uint64_t hi = f.stack_hi(1);
  uint64_t r0 = hi - 0x800, r1 = hi - 0x700, p = hi - 0x500, t2 = hi - 0x300;
  uint64_t s = f.kernel_eframe(p, f.text(kSchedule, 0x10), t2, f.text(kSchedule0, 0x84));
  f.record(r0, r1, f.text(kGicIrq, 0x20));
  f.record(r1, s, f.text(kKthread, 0x60));
  Task t = f.task(1, r0, r0, f.text(kSwitchTo, 0x40));
  auto bt = unwind(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(rows(*bt), (std::vector<Row>{{r0, f.text(kSwitchTo, 0x40), "", 0},
                                         {r1, f.text(kGicIrq, 0x20), "", 0},
                                         {s, f.text(kKthread, 0x60), "", 0}}));
  EXPECT_EQ(bt->stopped, "");
}

// A kernel stack overflow: handle_bad_stack runs on the CPU's overflow stack with a pt_regs
// whose sp is the stack pointer that overflowed (below the task's stack, on no stack), so the
// usual checks would refuse it; crash takes the overflow stack's exception frames unchecked.
// The records cross the overflow stack's 4 KiB boundary (bounded by THREAD_SIZE's mask, as
// crash does), then the walk leaves the overflow stack for the task's.
TEST_P(Arm64Unwind, OverflowStackExceptionFrameIsTakenUnchecked) {
  FakeArm64 f(GetParam());
  uint64_t ohi = f.overflow_hi(0), hi = f.stack_hi(1);
  uint64_t o0 = ohi - 0x400, o1 = ohi - 0x3c0, p = ohi - 0x200, t0 = hi - 0x400, t1 = hi - 0x300;
  uint64_t s = p + kRegsStackframe;
  PtRegs r;
  r.x[29] = t0;
  r.x[30] = f.text(kSchedule, 0x10);
  r.sp = f.stack_lo(1) - 0x10;
  r.pc = f.text(kWorker, 0x20);
  r.pstate = 0x60000005;
  r.stackframe[0] = t0;
  r.stackframe[1] = r.pc;
  f.pt_regs(p, r);
  f.record(o0, o1, f.text(kBadStack, 0x30));
  f.record(o1, s, f.text(kEl1Irq, 0x40));  // the return into the entry code (__bad_stack)
  f.record(t0, t1, f.text(kKthread, 0x60));
  f.cpu_regs(0, f.text(kPanic, 0x40), o0 - 0x10, o0);
  Task t = f.task(1, 0, 0, 0);
  auto bt = unwind(f.open(), t, {t.addr});
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(rows(*bt), (std::vector<Row>{{o0, f.text(kPanic, 0x40), "", 0},
                                         {o1, f.text(kBadStack, 0x30), "", 0},
                                         {s, f.text(kEl1Irq, 0x40), "", p},
                                         {t0, f.text(kWorker, 0x20), "Overflow stack", 0},
                                         {t1, f.text(kKthread, 0x60), "", 0}}));
  EXPECT_EQ(bt->stopped, "");
  EXPECT_EQ(bt->frames[2].exception->sp, f.stack_lo(1) - 0x10);
}

// An active task whose CPU has no NT_PRSTATUS: an error naming the task.
TEST_P(Arm64Unwind, ActiveTaskWithoutRegisters) {
  FakeArm64 f(GetParam());
  f.cpu_regs(0, f.text(kWorker, 0x10), f.stack_hi(1) - 0x100, f.stack_hi(1) - 0x100);
  Task t = f.task(2, 0, 0, 0);
  auto bt = unwind(f.open(), t, {0, t.addr});
  ASSERT_FALSE(bt);
  EXPECT_EQ(bt.error().message,
            fmt::format("cannot determine starting stack frame for task {:x}: the dump has no registers for CPU 1", t.addr));
}

INSTANTIATE_TEST_SUITE_P(Kaslr, Arm64Unwind, ::testing::Values(0ull, 0x5a200000ull),
                         [](const auto& p) { return p.param ? std::string("kaslr") : std::string("nokaslr"); });

}  // namespace
