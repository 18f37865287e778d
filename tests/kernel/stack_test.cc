// The ORC unwinder (kernel/stack.h) on a synthesized kernel: a vmlinux written with libelf
// (.text, .symtab, .BTF made with libbpf, .orc_unwind_ip/.orc_unwind in either kernel's
// encoding) and an ELF dump of its image holding a hand-made task stack. Covers CALL frames,
// REGS frames from user and kernel mode, REGS_PARTIAL (IRET) frames, END, frames found through
// %rbp (ORC's bp-based CFA, and the prologue decoding when %rbp is unknown), the stack scan
// where ORC is undefined, KASLR, and corrupt stacks (garbage return addresses, a stack pointer
// that leaves the stack or moves down, a scan finding nothing), each ending with a note.
// Also OrcTable alone: both encodings, lookup boundaries, unsorted tables, malformed sections.
#include <bpf/btf.h>
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <tuple>

#include "kernel/kernel.h"
#include "kernel/stack.h"
#include "symbols/btf_types.h"
#include "symbols/orc.h"
#include "tests/dumpfmt/dump_builder.h"
#include "tests/kernel/synth_kernel.h"

using namespace coroner;
using namespace coroner::kernel;
using symbols::OrcReg;
using symbols::OrcType;
using Bytes = std::vector<uint8_t>;

namespace {

// struct orc_entry after its two s16 offsets, sp_reg:4 and bp_reg:4 (as 6.1 and 6.12 have it):
// before 6.4: type:2 (CALL 0, REGS 1, REGS_PARTIAL 2), end:1;
// 6.4+: type:3 (UNDEFINED 0, END_OF_STACK 1, CALL 2, REGS 3, REGS_PARTIAL 4), signal:1.
enum class OrcLayout { before_6_4, since_6_4 };

// One ORC entry as the tests think of it; encoded per layout by encode_orc().
struct Orc {
  OrcType type = OrcType::call;
  OrcReg sp_reg = OrcReg::sp;
  int16_t sp_offset = 8;
  OrcReg bp_reg = OrcReg::undefined;
  int16_t bp_offset = 0;
};

Bytes encode_orc(OrcLayout l, const Orc& o) {
  Bytes b(6, 0);
  std::memcpy(&b[0], &o.sp_offset, 2);
  std::memcpy(&b[2], &o.bp_offset, 2);
  uint8_t sp_reg = static_cast<uint8_t>(o.sp_reg), bp_reg = static_cast<uint8_t>(o.bp_reg);
  uint8_t type = 0, end = 0;
  if (l == OrcLayout::since_6_4) {
    switch (o.type) {
      case OrcType::undefined: type = 0; break;
      case OrcType::end_of_stack: type = 1; break;
      case OrcType::call: type = 2; break;
      case OrcType::regs: type = 3; break;
      case OrcType::regs_partial: type = 4; break;
    }
    b[5] = type;
  } else {
    switch (o.type) {
      case OrcType::undefined: sp_reg = 0; break;  // UNWIND_HINT_UNDEFINED: sp_reg undefined
      case OrcType::end_of_stack: sp_reg = 0, end = 1; break;
      case OrcType::call: type = 0; break;
      case OrcType::regs: type = 1; break;
      case OrcType::regs_partial: type = 2; break;
    }
    b[5] = static_cast<uint8_t>(type | (end << 2));
  }
  b[4] = static_cast<uint8_t>(sp_reg | (bp_reg << 4));
  return b;
}

// Sizes of the fake CPU stacks (the real ones are 16 KiB and 4 KiB; only the layout matters).
constexpr uint64_t kFakeIrqStackSize = 0x1000, kFakeEstackSize = 0x800, kFakeGuard = 0x100;
constexpr uint64_t kFakeModuleArch = 0x40;  // offset of struct module's `arch`

// The kernel types the unwinder reads: struct orc_entry (either layout), struct
// inactive_task_frame (x86_64: r15 r14 r13 r12 bx bp ret_addr) and struct pt_regs.
Bytes make_btf(OrcLayout l) {
  struct btf* b = btf__new_empty();
  int u64 = btf__add_int(b, "long unsigned int", 8, 0);
  int s16 = btf__add_int(b, "short int", 2, BTF_INT_SIGNED);
  int u32 = btf__add_int(b, "unsigned int", 4, 0);
  btf__add_struct(b, "orc_entry", 6);
  btf__add_field(b, "sp_offset", s16, 0, 0);
  btf__add_field(b, "bp_offset", s16, 16, 0);
  btf__add_field(b, "sp_reg", u32, 32, 4);
  btf__add_field(b, "bp_reg", u32, 36, 4);
  if (l == OrcLayout::since_6_4) {
    btf__add_field(b, "type", u32, 40, 3);
    btf__add_field(b, "signal", u32, 43, 1);
  } else {
    btf__add_field(b, "type", u32, 40, 2);
    btf__add_field(b, "end", u32, 42, 1);
  }
  const char* frame[] = {"r15", "r14", "r13", "r12", "bx", "bp", "ret_addr"};
  btf__add_struct(b, "inactive_task_frame", 8 * 7);
  for (uint32_t i = 0; i < 7; ++i) btf__add_field(b, frame[i], u64, 64 * i, 0);
  const char* regs[] = {"r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax",
                        "cx",  "dx",  "si",  "di",  "orig_ax", "ip", "cs", "flags", "sp", "ss"};
  btf__add_struct(b, "pt_regs", 8 * 21);
  for (uint32_t i = 0; i < 21; ++i) btf__add_field(b, regs[i], u64, 64 * i, 0);
  // The CPU's other stacks: struct irq_stack { char stack[IRQ_STACK_SIZE]; } and struct
  // cea_exception_stacks with guard pages between the stacks (two of them here).
  int chr = btf__add_int(b, "char", 1, BTF_INT_CHAR);
  int irq_arr = btf__add_array(b, u32, chr, static_cast<uint32_t>(kFakeIrqStackSize));
  btf__add_struct(b, "irq_stack", static_cast<uint32_t>(kFakeIrqStackSize));
  btf__add_field(b, "stack", irq_arr, 0, 0);
  int guard = btf__add_array(b, u32, chr, static_cast<uint32_t>(kFakeGuard));
  int estack = btf__add_array(b, u32, chr, static_cast<uint32_t>(kFakeEstackSize));
  btf__add_struct(b, "cea_exception_stacks", static_cast<uint32_t>(2 * (kFakeGuard + kFakeEstackSize)));
  btf__add_field(b, "DF_stack_guard", guard, 0, 0);
  btf__add_field(b, "DF_stack", estack, static_cast<uint32_t>(8 * kFakeGuard), 0);
  btf__add_field(b, "NMI_stack_guard", guard, static_cast<uint32_t>(8 * (kFakeGuard + kFakeEstackSize)), 0);
  btf__add_field(b, "NMI_stack", estack, static_cast<uint32_t>(8 * (2 * kFakeGuard + kFakeEstackSize)), 0);
  // A module's own ORC table: struct module { ...; struct mod_arch_specific arch; ... }.
  int orc_entry = btf__find_by_name_kind(b, "orc_entry", BTF_KIND_STRUCT);
  int s32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  int ip_ptr = btf__add_ptr(b, s32);
  int orc_ptr = btf__add_ptr(b, orc_entry);
  int arch = btf__add_struct(b, "mod_arch_specific", 24);
  btf__add_field(b, "num_orcs", u32, 0, 0);
  btf__add_field(b, "orc_unwind_ip", ip_ptr, 64, 0);
  btf__add_field(b, "orc_unwind", orc_ptr, 128, 0);
  btf__add_struct(b, "module", static_cast<uint32_t>(kFakeModuleArch + 24));
  btf__add_field(b, "arch", arch, static_cast<uint32_t>(8 * kFakeModuleArch), 0);
  return synth::btf_bytes(b);
}

Bytes orc_ips(uint64_t ip_base, const std::vector<uint64_t>& ips) {
  Bytes out(ips.size() * 4);
  for (size_t i = 0; i < ips.size(); ++i) {
    int32_t rel = static_cast<int32_t>(static_cast<int64_t>(ips[i] - (ip_base + 4 * i)));
    std::memcpy(&out[4 * i], &rel, 4);
  }
  return out;
}

// Offsets inside the fake kernel image [_text, _end).
constexpr uint64_t kLinkText = 0xffffffff81000000ull;
constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;
constexpr uint64_t kTextSize = 0x2000;
constexpr uint64_t kStackOff = 0x4000, kThreadSize = 0x4000;
constexpr uint64_t kImageSize = 0x10000;
constexpr uint64_t kOrcIpLink = kLinkText + 0x40000;  // vmlinux-only sections
constexpr size_t kPtRegsSize = 8 * 21;
// Offsets of struct pt_regs members in make_btf()'s layout (what the tests write; the
// unwinder reads them through the type layer).
constexpr uint64_t kRegsBp = 4 * 8, kRegsIp = 16 * 8, kRegsCs = 17 * 8, kRegsSp = 19 * 8;
constexpr uint64_t kFrameBp = 5 * 8, kFrameRet = 6 * 8;  // struct inactive_task_frame

// The functions of the fake text, as (offset, size); each gets an ORC entry at its start.
using synth::Fn;
constexpr Fn kSched{"fake_schedule", 0x100, 0x100};
constexpr Fn kB{"fake_b", 0x200, 0x100};
constexpr Fn kC{"fake_c", 0x300, 0x100};
constexpr Fn kEntry{"fake_entry", 0x400, 0x100};
constexpr Fn kIrq{"fake_irq_entry", 0x500, 0x100};
constexpr Fn kFp{"fake_framed", 0x600, 0x100};

class FakeKernel {
 public:
  explicit FakeKernel(OrcLayout layout, uint64_t kaslr = 0) : layout_(layout), kaslr_(kaslr), image_(kImageSize, 0) {
    std::memset(image_.data(), 0x90, kTextSize);  // nop
    for (const Fn& f : {kSched, kB, kC, kEntry, kIrq, kFp}) fns_.push_back(f);
  }

  // Runtime (relocated) addresses.
  uint64_t at(const Fn& f, uint64_t off) const { return kLinkText + kaslr_ + f.off + off; }
  uint64_t stack_lo() const { return kLinkText + kaslr_ + kStackOff; }
  uint64_t stack_hi() const { return stack_lo() + kThreadSize; }

  void code(const Fn& f, uint64_t off, std::initializer_list<uint8_t> bytes) {
    std::copy(bytes.begin(), bytes.end(), image_.begin() + static_cast<ptrdiff_t>(f.off + off));
  }
  // A `call rel32` ending at f+end_off: f+end_off is then a return address.
  void call_before(const Fn& f, uint64_t end_off) { code(f, end_off - 5, {0xe8, 0, 0, 0, 0}); }
  void put(uint64_t addr, uint64_t value) {
    uint64_t off = addr - (kLinkText + kaslr_);
    ASSERT_LE(off + 8, kImageSize) << std::hex << addr;
    std::memcpy(image_.data() + off, &value, 8);
  }
  void bytes(uint64_t addr, const Bytes& b) {
    uint64_t off = addr - (kLinkText + kaslr_);
    ASSERT_LE(off + b.size(), kImageSize) << std::hex << addr;
    std::copy(b.begin(), b.end(), image_.begin() + static_cast<ptrdiff_t>(off));
  }
  void orc(const Fn& f, Orc e, uint64_t off = 0) { orc_[f.off + off] = e; }
  OrcLayout layout() const { return layout_; }
  // pt_regs at `addr` with the given ip, cs, sp and bp.
  void regs(uint64_t addr, uint64_t ip, uint64_t cs, uint64_t sp, uint64_t bp = 0) {
    put(addr + kRegsIp, ip);
    put(addr + kRegsCs, cs);
    put(addr + kRegsSp, sp);
    put(addr + kRegsBp, bp);
  }

  Kernel& open() {
    if (Kernel* k = synth_.kernel()) return *k;
    dumpfmt::testing::ElfSpec spec;
    spec.loads.push_back({kLinkText + kaslr_ - kStartKernelMap, image_});
    spec.vmcoreinfo = fmt::format("OSRELEASE=6.1.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=0\nKERNELOFFSET={:x}\n", kaslr_);
    return synth_.open("coroner-stack-test", vmlinux(), spec);
  }

  // CPU 0's IRQ stack [irq_lo(), irq_hi()) and NMI stack [nmi_lo(), nmi_hi()), found as the
  // kernel has them: per-CPU hardirq_stack_ptr (pointing at the IRQ stack's last word, as
  // 5.10+ does) and cea_exception_stacks, with __per_cpu_offset[0] = 0.
  static constexpr uint64_t kIrqOff = 0x8000, kCeaOff = 0xa000, kPerCpuOff = 0xe000;
  uint64_t irq_lo() const { return kLinkText + kaslr_ + kIrqOff; }
  uint64_t irq_hi() const { return irq_lo() + kFakeIrqStackSize; }
  uint64_t nmi_lo() const { return kLinkText + kaslr_ + kCeaOff + 2 * kFakeGuard + kFakeEstackSize; }
  uint64_t nmi_hi() const { return nmi_lo() + kFakeEstackSize; }
  void cpu_stacks() {
    data_syms_.emplace_back("__per_cpu_offset", kPerCpuOff, 8);
    data_syms_.emplace_back("hardirq_stack_ptr", kPerCpuOff + 0x10, 8);
    data_syms_.emplace_back("cea_exception_stacks", kPerCpuOff + 0x18, 8);
    put(kLinkText + kaslr_ + kPerCpuOff, 0);
    put(kLinkText + kaslr_ + kPerCpuOff + 0x10, irq_hi() - 8);
    put(kLinkText + kaslr_ + kPerCpuOff + 0x18, kLinkText + kaslr_ + kCeaOff);
  }

  // A task switched out with its inactive_task_frame at `thread_sp`.
  Task task(uint64_t thread_sp, uint64_t ret_addr, uint64_t bp = 0) {
    put(thread_sp + kFrameRet, ret_addr);
    put(thread_sp + kFrameBp, bp);
    Task t;
    t.addr = 0xffff888000100000ull;
    t.pid = 42;
    t.comm = "fake";
    t.stack = stack_lo();
    t.thread_sp = thread_sp;
    return t;
  }

 private:
  synth::VmlinuxSpec vmlinux() const {
    synth::VmlinuxSpec v;
    // Symbols: functions in .text (section 1), data in .data (section 2).
    auto sym = [&](const std::string& n, uint64_t addr, uint64_t size, int type, uint16_t section) {
      v.symbols.push_back({n, addr, size, type, section});
    };
    sym("_text", kLinkText, 0, STT_NOTYPE, 1);
    sym("_stext", kLinkText, 0, STT_NOTYPE, 1);
    sym("_etext", kLinkText + 0x1000, 0, STT_NOTYPE, 1);
    for (const Fn& f : fns_) sym(f.name, kLinkText + f.off, f.size, STT_FUNC, 1);
    sym("init_top_pgt", kLinkText + 0x3000, 0x1000, STT_OBJECT, 2);
    sym("init_stack", kLinkText + kStackOff, kThreadSize, STT_OBJECT, 2);
    sym("__end_init_stack", kLinkText + kStackOff + kThreadSize, 0, STT_NOTYPE, 2);
    sym("_end", kLinkText + kImageSize, 0, STT_NOTYPE, 2);
    for (const auto& [n, off, size] : data_syms_) sym(n, kLinkText + off, size, STT_OBJECT, 2);

    // ORC: one entry per recorded offset, deliberately out of order (the kernel's build
    // sorts them; the table must not rely on it), plus an undefined entry ending the text.
    std::vector<uint64_t> ips;
    Bytes entries;
    std::map<uint64_t, Orc> all = orc_;
    all.emplace(kTextSize, Orc{OrcType::undefined, OrcReg::undefined, 0});
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      ips.push_back(kLinkText + it->first);
      Bytes e = encode_orc(layout_, it->second);
      entries.insert(entries.end(), e.begin(), e.end());
    }
    v.sections = {
        {".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, kLinkText, Bytes(image_.begin(), image_.begin() + kTextSize)},
        {".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, kLinkText + kTextSize, Bytes(image_.begin() + kTextSize, image_.end())},
        {".orc_unwind_ip", SHT_PROGBITS, SHF_ALLOC, kOrcIpLink, orc_ips(kOrcIpLink, ips)},
        {".orc_unwind", SHT_PROGBITS, SHF_ALLOC, kOrcIpLink + 0x10000, entries},
        {".BTF", SHT_PROGBITS, 0, 0, make_btf(layout_)},
    };
    return v;
  }

  OrcLayout layout_;
  uint64_t kaslr_;
  Bytes image_;
  std::vector<Fn> fns_;
  std::map<uint64_t, Orc> orc_;
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> data_syms_;  // name, image offset, size
  synth::SynthKernel synth_;
};

// How the tests see a walk: (slot, pc, source) per frame.
using FrameRow = std::tuple<uint64_t, uint64_t, FrameSource>;
std::vector<FrameRow> rows(const Backtrace& bt) {
  std::vector<FrameRow> out;
  for (const auto& f : bt.frames) out.emplace_back(f.slot, f.pc, f.how);
  return out;
}

class Unwind : public ::testing::TestWithParam<OrcLayout> {};

// The common case: __schedule's callers, each a CALL frame, up to an END entry.
//   fake_schedule (sp+24) <- fake_b (sp+16) <- fake_c (sp+8) <- fake_entry (END)
TEST_P(Unwind, CallFramesUpToEndOfStack) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 24});
  f.orc(kB, {OrcType::call, OrcReg::sp, 16});
  f.orc(kC, {OrcType::call, OrcReg::sp, 8});
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  uint64_t thread_sp = f.stack_hi() - 0x200;
  uint64_t slot0 = thread_sp + kFrameRet;
  uint64_t slot1 = slot0 + 24, slot2 = slot1 + 16, slot3 = slot2 + 8;
  f.put(slot1, f.at(kB, 0x30));
  f.put(slot2, f.at(kC, 0x20));
  f.put(slot3, f.at(kEntry, 0x10));
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<FrameRow> want{{slot0, f.at(kSched, 0x40), FrameSource::saved_context},
                             {slot1, f.at(kB, 0x30), FrameSource::orc},
                             {slot2, f.at(kC, 0x20), FrameSource::orc},
                             {slot3, f.at(kEntry, 0x10), FrameSource::orc}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
}

// bt -S: the scan from the given stack address skips words that are not text past a
// function's start (here a function pointer and a stack address); the first text word is
// frame #0 and ORC goes on from it. An address off the task's stack is refused as crash
// words it.
TEST_P(Unwind, HookStartsAtFirstTextWordAboveTheGivenStackAddress) {
  FakeKernel f(GetParam());
  f.orc(kB, {OrcType::call, OrcReg::sp, 16});
  f.orc(kC, {OrcType::call, OrcReg::sp, 8});
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  uint64_t thread_sp = f.stack_hi() - 0x200;
  uint64_t start = thread_sp + 0x40;
  uint64_t slot1 = start + 16, slot2 = slot1 + 16, slot3 = slot2 + 8;
  f.put(start, f.at(kC, 0));           // a function's first byte: a pointer, not a frame
  f.put(start + 8, start + 0x100);     // a stack address
  f.put(slot1, f.at(kB, 0x30));
  f.put(slot2, f.at(kC, 0x20));
  f.put(slot3, f.at(kEntry, 0x10));
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  TaskTable tt;
  tt.tasks = {t};
  tt.active = {0};
  Kernel& k = f.open();
  auto bt = unwind_from_hook(k, tt, t, f.at(kB, 0x30), start);
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<FrameRow> want{{slot1, f.at(kB, 0x30), FrameSource::scan},
                             {slot2, f.at(kC, 0x20), FrameSource::orc},
                             {slot3, f.at(kEntry, 0x10), FrameSource::orc}};
  EXPECT_EQ(rows(*bt), want);
  auto h = hook_start(k, tt, t, std::nullopt, start);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->pc, f.at(kSched, 0x40));  // -t's START: the task's own pc
  EXPECT_EQ(h->sp, start);               // fake_schedule is not __schedule: no step over
  auto off = unwind_from_hook(k, tt, t, std::nullopt, 0x10);
  ASSERT_FALSE(off);
  EXPECT_EQ(off.error().message, fmt::format("non-process stack address for this task: 10\n    (valid range: {:x} - {:x})",
                                             f.stack_hi() - kThreadSize, f.stack_hi()));
}

// A return address right at the next function's first byte (the caller ended in a call to
// a noreturn function): the entry used is the caller's (pc - 1), not the next function's.
TEST_P(Unwind, ReturnAddressAtFunctionEndUsesTheCallersEntry) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 8});
  f.orc(kB, {OrcType::call, OrcReg::sp, 8});
  f.orc(kC, {OrcType::end_of_stack, OrcReg::undefined, 0});  // would end the walk at once
  uint64_t thread_sp = f.stack_hi() - 0x200;
  uint64_t slot0 = thread_sp + kFrameRet;
  f.put(slot0 + 8, f.at(kC, 0));  // returns "into" fake_c's first byte: a call at fake_b's end
  f.put(slot0 + 16, f.at(kEntry, 0x10));
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  // The walk goes on through fake_b's entry; the frame at fake_c's first byte itself is not
  // listed (crash takes such a word for a function pointer).
  ASSERT_EQ(bt->frames.size(), 2u) << bt->stopped;
  EXPECT_EQ(bt->frames[1].pc, f.at(kEntry, 0x10));
  EXPECT_EQ(bt->stopped, "");
}

// A system call's entry: REGS at the top of the stack, from user mode: the walk ends there
// with the user registers attached to the last frame.
TEST_P(Unwind, RegsFromUserModeEndTheWalk) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 8});
  f.orc(kEntry, {OrcType::regs, OrcReg::sp, 0});
  uint64_t regs = f.stack_hi() - kPtRegsSize;
  uint64_t slot0 = regs - 16;
  f.put(slot0 + 8, f.at(kEntry, 0x20));
  f.regs(regs, 0x401000, 0x33, 0x7ffc0000);
  Task t = f.task(slot0 - kFrameRet, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  ASSERT_EQ(bt->frames.size(), 2u) << bt->stopped;
  EXPECT_EQ(bt->stopped, "");
  ASSERT_TRUE(bt->frames[1].exception);
  EXPECT_EQ(bt->frames[1].exception->addr, regs);
  EXPECT_EQ(bt->frames[1].exception->ip, 0x401000u);
  EXPECT_TRUE(bt->frames[1].exception->user_mode());
}

// An interrupt in kernel mode: full pt_regs (REGS), then the walk goes on from the
// interrupted instruction (its own entry, pc not minus one) and the interrupted stack.
TEST_P(Unwind, RegsFromKernelModeGoOnAtTheInterruptedInstruction) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 8});
  f.orc(kIrq, {OrcType::regs, OrcReg::sp, 0});
  // The entry starting at the interrupted instruction (0x25) is the one that applies; the
  // one before it (what pc - 1 would pick) would put the return address elsewhere.
  f.orc(kC, {OrcType::call, OrcReg::sp, 16}, 0);
  f.orc(kC, {OrcType::call, OrcReg::sp, 8}, 0x25);
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  uint64_t thread_sp = f.stack_lo() + 0x1000;
  uint64_t slot0 = thread_sp + kFrameRet;
  uint64_t regs = slot0 + 16;
  f.put(slot0 + 8, f.at(kIrq, 0x10));
  uint64_t interrupted_sp = regs + kPtRegsSize + 0x40;
  f.regs(regs, f.at(kC, 0x25), 0x10, interrupted_sp, 0x1234);
  f.put(interrupted_sp, f.at(kEntry, 0x30));
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<FrameRow> want{{slot0, f.at(kSched, 0x40), FrameSource::saved_context},
                             {slot0 + 8, f.at(kIrq, 0x10), FrameSource::orc},
                             {interrupted_sp, f.at(kEntry, 0x30), FrameSource::orc}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
  ASSERT_TRUE(bt->frames[1].exception);
  EXPECT_FALSE(bt->frames[1].exception->user_mode());
  EXPECT_EQ(bt->frames[1].exception->ip, f.at(kC, 0x25));
}

// REGS_PARTIAL: only the IRET frame (ip cs flags sp ss) is at the CFA; pt_regs starts below.
TEST_P(Unwind, RegsPartialIsTheIretFrame) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 8});
  f.orc(kIrq, {OrcType::regs_partial, OrcReg::sp, 8});
  f.orc(kC, {OrcType::call, OrcReg::sp, 8});
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  uint64_t thread_sp = f.stack_lo() + 0x1000;
  uint64_t slot0 = thread_sp + kFrameRet;
  f.put(slot0 + 8, f.at(kIrq, 0x10));
  uint64_t cfa = slot0 + 16 + 8;  // sp after fake_irq_entry's frame + sp_offset 8
  uint64_t regs = cfa - kRegsIp;
  uint64_t interrupted_sp = cfa + 0x100;
  f.regs(regs, f.at(kC, 0x40), 0x10, interrupted_sp);
  f.put(interrupted_sp, f.at(kEntry, 0x30));
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  // From kernel mode, crash lists the IRET frame's ip as a frame at its slot (no register
  // block: the other registers were not saved), then goes on from it.
  ASSERT_EQ(bt->frames.size(), 4u) << bt->stopped;
  EXPECT_FALSE(bt->frames[1].exception);
  EXPECT_EQ(bt->frames[2].slot, regs + kRegsIp);
  EXPECT_EQ(bt->frames[2].pc, f.at(kC, 0x40));
  EXPECT_FALSE(bt->frames[2].exception);
  EXPECT_EQ(bt->frames[3].pc, f.at(kEntry, 0x30));
  EXPECT_EQ(bt->frames[3].slot, interrupted_sp);
  EXPECT_EQ(bt->stopped, "");
}

// Frame-pointer frames described by ORC (sp_reg = bp): the CFA is %rbp + 16 and the caller's
// %rbp is read from the stack (bp_reg = prev_sp), a chain of saved %rbp values.
TEST_P(Unwind, FramePointerChainThroughOrc) {
  FakeKernel f(GetParam());
  Orc framed{OrcType::call, OrcReg::bp, 16, OrcReg::prev_sp, -16};
  f.orc(kSched, framed);
  f.orc(kB, framed);
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  uint64_t thread_sp = f.stack_lo() + 0x800;
  uint64_t bp1 = thread_sp + 0x100, bp2 = bp1 + 0x80;
  f.put(bp1, bp2);
  f.put(bp1 + 8, f.at(kB, 0x50));
  f.put(bp2, 0);
  f.put(bp2 + 8, f.at(kEntry, 0x20));
  Task t = f.task(thread_sp, f.at(kSched, 0x40), bp1);
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<FrameRow> want{{thread_sp + kFrameRet, f.at(kSched, 0x40), FrameSource::saved_context},
                             {bp1 + 8, f.at(kB, 0x50), FrameSource::orc},
                             {bp2 + 8, f.at(kEntry, 0x20), FrameSource::orc}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
}

// A walk that starts at a stack slot (crash's starting frame for an active task) does not
// know %rbp: for a bp-based ORC entry, the function's prologue tells how far above its
// stack pointer %rbp is (push %rbp; mov %rsp,%rbp; push %rbx; sub $0x10,%rsp: 24 bytes).
TEST_P(Unwind, UnknownFramePointerComesFromThePrologue) {
  FakeKernel f(GetParam());
  f.code(kFp, 0, {0x55, 0x48, 0x89, 0xe5, 0x53, 0x48, 0x83, 0xec, 0x10, 0xe8, 0, 0, 0, 0});
  f.orc(kFp, {OrcType::call, OrcReg::sp, 8});
  f.orc(kFp, {OrcType::call, OrcReg::bp, 16, OrcReg::prev_sp, -16}, 4);
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  uint64_t slot0 = f.stack_lo() + 0x1000;
  uint64_t sp = slot0 + 8;  // fake_framed's %rsp at its call
  uint64_t bp = sp + 24;
  f.put(slot0, f.at(kFp, 14));
  f.put(bp, 0);
  f.put(bp + 8, f.at(kEntry, 0x20));
  Task t = f.task(f.stack_lo() + 0x100, f.at(kSched, 0));
  auto bt = unwind_from_slot(f.open(), t, slot0, 0);
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<FrameRow> want{{slot0, f.at(kFp, 14), FrameSource::registers},
                             {bp + 8, f.at(kEntry, 0x20), FrameSource::orc}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
}

// Where ORC is undefined (objtool could not describe the code), the caller is found by
// scanning up the stack for a return address: kernel text right after a call instruction.
// Words that are not text, or text not preceded by a call, are skipped.
TEST_P(Unwind, UndefinedOrcScansForAReturnAddress) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 8});
  f.orc(kB, {OrcType::undefined, OrcReg::undefined, 0});
  f.orc(kC, {OrcType::call, OrcReg::sp, 8});
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  f.call_before(kC, 0x20);
  uint64_t thread_sp = f.stack_lo() + 0x800;
  uint64_t slot0 = thread_sp + kFrameRet;
  f.put(slot0 + 8, f.at(kB, 0x30));
  f.put(slot0 + 16, 0x1234);                 // not an address
  f.put(slot0 + 24, f.at(kC, 0x30));         // text, but no call before it
  f.put(slot0 + 32, 0xffff888001234000ull);  // a data pointer
  f.put(slot0 + 40, f.at(kC, 0x20));         // a return address
  f.put(slot0 + 48, f.at(kEntry, 0x10));
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<FrameRow> want{{slot0, f.at(kSched, 0x40), FrameSource::saved_context},
                             {slot0 + 8, f.at(kB, 0x30), FrameSource::orc},
                             {slot0 + 40, f.at(kC, 0x20), FrameSource::scan},
                             {slot0 + 48, f.at(kEntry, 0x10), FrameSource::orc}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
}

// KASLR: the dump's addresses are relocated, the ORC table is at link-time addresses.
TEST_P(Unwind, RelocatedKernel) {
  FakeKernel f(GetParam(), 0x2a00000);
  f.orc(kSched, {OrcType::call, OrcReg::sp, 16});
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  uint64_t thread_sp = f.stack_hi() - 0x100;
  uint64_t slot0 = thread_sp + kFrameRet;
  f.put(slot0 + 16, f.at(kEntry, 0x10));
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  Kernel& k = f.open();
  EXPECT_EQ(k.kaslr_offset(), 0x2a00000u);
  auto bt = unwind_task(k, t);
  ASSERT_TRUE(bt) << bt.error().message;
  ASSERT_EQ(bt->frames.size(), 2u) << bt->stopped;
  EXPECT_EQ(bt->frames[1].pc, f.at(kEntry, 0x10));
}

// --- corrupt stacks: each walk ends, with a note saying why, never a hang.

TEST_P(Unwind, GarbageReturnAddressStopsWithANote) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 8});
  uint64_t thread_sp = f.stack_lo() + 0x800;
  f.put(thread_sp + kFrameRet + 8, 0xdeadbeef);
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  ASSERT_EQ(bt->frames.size(), 2u);
  EXPECT_EQ(bt->frames[1].pc, 0xdeadbeefu);
  EXPECT_EQ(bt->stopped, "no ORC data for deadbeef");
}

TEST_P(Unwind, StackPointerLeavingTheStackStopsWithANote) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 0x7ff0});
  uint64_t thread_sp = f.stack_hi() - 0x200;
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(bt->frames.size(), 1u);
  EXPECT_NE(bt->stopped.find("does not move up or leaves the stack"), std::string::npos) << bt->stopped;
}

TEST_P(Unwind, FramePointerPointingDownTheStackStopsWithANote) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::bp, 16, OrcReg::prev_sp, -16});
  uint64_t thread_sp = f.stack_lo() + 0x800;
  Task t = f.task(thread_sp, f.at(kSched, 0x40), thread_sp - 0x100);  // %rbp below %rsp
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(bt->frames.size(), 1u);
  EXPECT_EQ(bt->stopped, fmt::format("stack pointer {:x} does not move up or leaves the stack", thread_sp - 0x100 + 8));
}

TEST_P(Unwind, ScanFindingNothingStopsWithANote) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::undefined, OrcReg::undefined, 0});
  uint64_t thread_sp = f.stack_hi() - 0x100;
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(bt->frames.size(), 1u);
  EXPECT_EQ(bt->stopped, fmt::format("ORC data undefined at {:x} and no return address above {:x}", f.at(kSched, 0x40),
                                     thread_sp + kFrameRet + 8));
}

TEST_P(Unwind, KernelExceptionFrameWhoseStackPointerGoesDownStops) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 8});
  f.orc(kIrq, {OrcType::regs, OrcReg::sp, 0});
  uint64_t thread_sp = f.stack_lo() + 0x1000;
  uint64_t slot0 = thread_sp + kFrameRet;
  f.put(slot0 + 8, f.at(kIrq, 0x10));
  f.regs(slot0 + 16, f.at(kC, 0x25), 0x10, f.stack_lo() + 0x10);
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(bt->frames.size(), 2u);
  EXPECT_EQ(bt->stopped, fmt::format("exception frame's stack pointer {:x} does not lie above it", f.stack_lo() + 0x10));
}

TEST_P(Unwind, ExceptionFrameOffTheStackStopsWithANote) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 8});
  f.orc(kIrq, {OrcType::regs, OrcReg::sp, 0x100});  // pt_regs would end past the stack's top
  uint64_t thread_sp = f.stack_hi() - 0x100;
  uint64_t slot0 = thread_sp + kFrameRet;
  f.put(slot0 + 8, f.at(kIrq, 0x10));
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(bt->frames.size(), 2u);
  EXPECT_EQ(bt->stopped, fmt::format("exception frame at {:x} outside the task's stack", slot0 + 16 + 0x100));
}

// CPU registers stopped inside an entry stub, whose pt_regs lie at the stack pointer: there
// is no frame yet to attach them to, and the walk says so.
TEST_P(Unwind, ExceptionFrameBeforeAnyFrameStopsWithANote) {
  FakeKernel f(GetParam());
  f.orc(kIrq, {OrcType::regs, OrcReg::sp, 0});
  Task t = f.task(f.stack_lo() + 0x100, f.at(kSched, 0));
  PtRegs r{};
  r.ip = f.at(kIrq, 0x10);
  r.sp = f.stack_lo() + 0x2000;
  f.regs(r.sp, 0x401000, 0x33, 0x7ffc0000);
  auto bt = unwind_from_registers(f.open(), t, r);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_TRUE(bt->frames.empty());
  EXPECT_EQ(bt->stopped, fmt::format("exception frame at {:x} before any frame", r.sp));
}

// A loop the stack-pointer check cannot see (every CALL frame moves up by 8, the stack is
// long): the frame cap ends it.
TEST_P(Unwind, FrameCapBoundsEveryWalk) {
  FakeKernel f(GetParam());
  f.orc(kSched, {OrcType::call, OrcReg::sp, 8});
  uint64_t thread_sp = f.stack_lo();
  for (uint64_t a = thread_sp + kFrameRet + 8; a < f.stack_hi(); a += 8) f.put(a, f.at(kSched, 0x40));
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  auto bt = unwind_task(f.open(), t);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(bt->frames.size(), 256u);
  EXPECT_EQ(bt->stopped, "more than 256 frames");
}

TEST_P(Unwind, SavedStackPointerOffTheStackIsAnError) {
  FakeKernel f(GetParam());
  Task t = f.task(f.stack_lo() + 0x100, f.at(kSched, 0x40));
  t.thread_sp = f.stack_hi() + 0x1000;
  auto bt = unwind_task(f.open(), t);
  ASSERT_FALSE(bt);
  EXPECT_EQ(bt.error().message, fmt::format("stack address {:x} outside the task's stack", t.thread_sp + kFrameRet));
}

TEST_P(Unwind, TaskWithoutAStackIsAnError) {
  FakeKernel f(GetParam());
  Task t = f.task(f.stack_lo() + 0x100, f.at(kSched, 0x40));
  t.stack = 0;
  auto bt = unwind_task(f.open(), t);
  ASSERT_FALSE(bt);
  EXPECT_NE(bt.error().message.find("no usable kernel stack"), std::string::npos) << bt.error().message;
}

TEST_P(Unwind, RegistersOffTheStackAreRefused) {
  FakeKernel f(GetParam());
  Task t = f.task(f.stack_lo() + 0x100, f.at(kSched, 0x40));
  PtRegs r{};
  r.ip = f.at(kSched, 0x10);
  r.sp = 0xffffc90000000000ull;
  auto bt = unwind_from_registers(f.open(), t, r);
  ASSERT_FALSE(bt);
  EXPECT_EQ(bt.error().message, "stack pointer ffffc90000000000 is not on the task's stack");
}

// From a CPU's registers: the first lookup is at ip itself (an interrupted instruction).
TEST_P(Unwind, FromRegistersUsesTheInstructionItself) {
  FakeKernel f(GetParam());
  f.orc(kC, {OrcType::call, OrcReg::sp, 8});
  f.orc(kC, {OrcType::call, OrcReg::sp, 24}, 0x10);
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  Task t = f.task(f.stack_lo() + 0x100, f.at(kSched, 0));
  PtRegs r{};
  r.ip = f.at(kC, 0x10);
  r.sp = f.stack_lo() + 0x2000;
  f.put(r.sp + 16, f.at(kEntry, 0x10));
  auto bt = unwind_from_registers(f.open(), t, r);
  ASSERT_TRUE(bt) << bt.error().message;
  ASSERT_TRUE(bt->start);
  std::vector<FrameRow> want{{r.sp + 16, f.at(kEntry, 0x10), FrameSource::orc}};
  EXPECT_EQ(rows(*bt), want);
}

// The CPU's other stacks as the kernel describes them: the exception stacks from
// cea_exception_stacks (crash's names), then the IRQ stack from hardirq_stack_ptr.
TEST_P(Unwind, CpuStacksFromPerCpuPointers) {
  FakeKernel f(GetParam());
  f.cpu_stacks();
  auto stacks = cpu_stacks(f.open(), 0);
  ASSERT_TRUE(stacks) << stacks.error().message;
  ASSERT_EQ(stacks->size(), 3u);
  EXPECT_EQ((*stacks)[0].name, "NMI exception stack");
  EXPECT_EQ((*stacks)[0].lo, f.nmi_lo());
  EXPECT_EQ((*stacks)[0].hi, f.nmi_hi());
  EXPECT_EQ((*stacks)[1].name, "DOUBLEFAULT exception stack");
  EXPECT_EQ((*stacks)[2].name, "IRQ stack");
  EXPECT_EQ((*stacks)[2].lo, f.irq_lo());
  EXPECT_EQ((*stacks)[2].hi, f.irq_hi());
}

// A kernel without those per-CPU variables has no other stacks: no error, nothing to cross to.
TEST_P(Unwind, NoCpuStacksWithoutTheirVariables) {
  FakeKernel f(GetParam());
  auto stacks = cpu_stacks(f.open(), 0);
  ASSERT_TRUE(stacks) << stacks.error().message;
  EXPECT_TRUE(stacks->empty());
}

// An interrupt handler on the IRQ stack: the entry code (fake_c, like common_interrupt) saved
// the task's stack pointer in the IRQ stack's top word (ORC sp_indirect); the walk crosses
// there, and the first frame on the task's stack (the entry stub with the interrupted
// registers) says it left the IRQ stack; crash shows it at its pt_regs' address.
TEST_P(Unwind, CrossesFromTheIrqStackToTheTaskStack) {
  FakeKernel f(GetParam());
  f.cpu_stacks();
  f.orc(kB, {OrcType::call, OrcReg::sp, 8});
  f.orc(kC, {OrcType::call, OrcReg::sp_indirect, 8});
  f.orc(kIrq, {OrcType::regs, OrcReg::sp, 0});
  f.orc(kEntry, {OrcType::end_of_stack, OrcReg::undefined, 0});
  uint64_t slot0 = f.irq_hi() - 24;
  uint64_t task_slot = f.stack_hi() - 0x400;
  f.put(slot0, f.at(kB, 0x30));
  f.put(slot0 + 8, f.at(kC, 0x20));
  f.put(slot0 + 16, task_slot);  // the IRQ stack's last word: the interrupted stack pointer
  f.put(task_slot, f.at(kIrq, 0x10));
  f.regs(task_slot + 8, f.at(kEntry, 0x10), 0x10, task_slot + 8 + kPtRegsSize);
  Task t = f.task(f.stack_lo() + 0x100, f.at(kSched, 0x40));
  t.cpu = 0;
  auto bt = unwind_from_slot(f.open(), t, slot0, 0);
  ASSERT_TRUE(bt) << bt.error().message;
  std::vector<FrameRow> want{{slot0, f.at(kB, 0x30), FrameSource::registers},
                             {slot0 + 8, f.at(kC, 0x20), FrameSource::orc},
                             {task_slot + 8, f.at(kIrq, 0x10), FrameSource::orc}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
  EXPECT_EQ(bt->frames[0].left_stack, "");
  EXPECT_EQ(bt->frames[1].left_stack, "");
  EXPECT_EQ(bt->frames[2].left_stack, "IRQ stack");
  ASSERT_TRUE(bt->frames[2].exception);
  EXPECT_EQ(bt->frames[2].exception->addr, task_slot + 8);
  ASSERT_EQ(bt->stacks.size(), 2u);
  EXPECT_EQ(bt->stacks[0].name, "IRQ stack");
  EXPECT_EQ(bt->stacks[1].name, "task's stack");
  EXPECT_EQ(bt->stacks[1].lo, f.stack_lo());
}

// An NMI that hit an interrupt handler: NMI stack -> (exception frame) -> IRQ stack ->
// (saved stack pointer) -> task's stack, each stack change named on the next frame.
TEST_P(Unwind, CrossesFromTheNmiStackThroughTheIrqStack) {
  FakeKernel f(GetParam());
  f.cpu_stacks();
  f.orc(kB, {OrcType::call, OrcReg::sp, 8});
  f.orc(kC, {OrcType::call, OrcReg::sp_indirect, 8});
  f.orc(kIrq, {OrcType::regs, OrcReg::sp, 0});
  uint64_t slot0 = f.nmi_hi() - 16 - kPtRegsSize - 16;
  uint64_t irq_slot = f.irq_hi() - 16;
  uint64_t task_slot = f.stack_hi() - 0x400;
  f.put(slot0, f.at(kB, 0x30));
  f.put(slot0 + 8, f.at(kIrq, 0x10));
  f.regs(slot0 + 16, f.at(kB, 0x40), 0x10, irq_slot);  // the NMI interrupted fake_b on the IRQ stack
  f.put(irq_slot, f.at(kC, 0x20));
  f.put(irq_slot + 8, task_slot);
  f.put(task_slot, f.at(kIrq, 0x10));
  f.regs(task_slot + 8, 0x401000, 0x33, 0x7ffc0000);  // from user mode: the end
  Task t = f.task(f.stack_lo() + 0x100, f.at(kSched, 0x40));
  t.cpu = 0;
  auto bt = unwind_from_slot(f.open(), t, slot0, 0);
  ASSERT_TRUE(bt) << bt.error().message;
  // Leaving the NMI stack, the interrupted instruction is a frame of its own at the
  // interrupted stack pointer (crash's `#4 [RSP] native_safe_halt` after the marker).
  std::vector<FrameRow> want{{slot0, f.at(kB, 0x30), FrameSource::registers},
                             {slot0 + 8, f.at(kIrq, 0x10), FrameSource::orc},
                             {irq_slot, f.at(kB, 0x40), FrameSource::registers},
                             {irq_slot, f.at(kC, 0x20), FrameSource::orc},
                             {task_slot + 8, f.at(kIrq, 0x10), FrameSource::orc}};
  EXPECT_EQ(rows(*bt), want);
  EXPECT_EQ(bt->stopped, "");
  EXPECT_EQ(bt->frames[1].left_stack, "");
  ASSERT_TRUE(bt->frames[1].exception);
  EXPECT_EQ(bt->frames[2].left_stack, "NMI exception stack");
  EXPECT_EQ(bt->frames[3].left_stack, "");
  EXPECT_EQ(bt->frames[4].left_stack, "IRQ stack");
  ASSERT_EQ(bt->stacks.size(), 3u);
  EXPECT_EQ(bt->stacks[0].name, "NMI exception stack");
  EXPECT_EQ(bt->stacks[2].name, "task's stack");
  ASSERT_TRUE(bt->frames[4].exception);
  EXPECT_TRUE(bt->frames[4].exception->user_mode());
}

// Stacks pointing at each other: the IRQ stack's saved stack pointer leads back to the NMI
// stack the walk came from. Each stack is entered once, so the walk ends there with a note
// naming both stacks.
TEST_P(Unwind, LoopBetweenStacksEndsWithANote) {
  FakeKernel f(GetParam());
  f.cpu_stacks();
  f.orc(kB, {OrcType::call, OrcReg::sp, 8});
  f.orc(kC, {OrcType::call, OrcReg::sp_indirect, 8});
  f.orc(kIrq, {OrcType::regs, OrcReg::sp, 0});
  uint64_t slot0 = f.nmi_hi() - 16 - kPtRegsSize - 16;
  uint64_t irq_slot = f.irq_hi() - 16;
  f.put(slot0, f.at(kB, 0x30));
  f.put(slot0 + 8, f.at(kIrq, 0x10));
  f.regs(slot0 + 16, f.at(kB, 0x40), 0x10, irq_slot);
  f.put(irq_slot, f.at(kC, 0x20));
  f.put(irq_slot + 8, slot0 - 8);  // back onto the NMI stack
  Task t = f.task(f.stack_lo() + 0x100, f.at(kSched, 0x40));
  t.cpu = 0;
  auto bt = unwind_from_slot(f.open(), t, slot0, 0);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(bt->frames.size(), 4u);
  EXPECT_EQ(bt->stopped,
            fmt::format("stack pointer {:x} goes from the IRQ stack back to the NMI exception stack", slot0 - 8));
}

// The task's stack is the bottom: a frame there pointing up into the IRQ stack is not followed.
TEST_P(Unwind, NoCrossingFromTheTaskStackUp) {
  FakeKernel f(GetParam());
  f.cpu_stacks();
  f.orc(kSched, {OrcType::call, OrcReg::sp_indirect, 8});
  uint64_t thread_sp = f.stack_hi() - 0x200;
  uint64_t slot0 = thread_sp + kFrameRet;
  f.put(slot0 + 8, f.irq_hi() - 0x100);
  Task t = f.task(thread_sp, f.at(kSched, 0x40));
  t.cpu = 0;
  auto bt = unwind_from_slot(f.open(), t, slot0, 0);
  ASSERT_TRUE(bt) << bt.error().message;
  EXPECT_EQ(bt->frames.size(), 1u);
  EXPECT_EQ(bt->stopped,
            fmt::format("stack pointer {:x} goes from the task's stack back to the IRQ stack", f.irq_hi() - 0x100));
}


// A module's ORC table, read from its struct module (arch.num_orcs, arch.orc_unwind_ip,
// arch.orc_unwind) in the dump: entries at run-time module text addresses.
TEST_P(Unwind, ModuleOrcTableFromStructModule) {
  FakeKernel f(GetParam());
  uint64_t mod = f.at(kSched, 0) - kSched.off + 0xc000;
  uint64_t ips = mod + 0x100, entries = mod + 0x200;
  uint64_t text = 0xffffffffc0001000ull;
  f.put(mod + kFakeModuleArch, 2);  // num_orcs (and the padding after it)
  f.put(mod + kFakeModuleArch + 8, ips);
  f.put(mod + kFakeModuleArch + 16, entries);
  f.bytes(ips, orc_ips(ips, {text, text + 0x40}));
  Bytes e = encode_orc(f.layout(), {OrcType::call, OrcReg::sp, 16});
  Bytes e2 = encode_orc(f.layout(), {OrcType::call, OrcReg::bp, 16, OrcReg::prev_sp, -16});
  e.insert(e.end(), e2.begin(), e2.end());
  f.bytes(entries, e);
  auto t = module_orc(f.open(), mod);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->size(), 2u);
  EXPECT_FALSE(t->lookup(text - 1));
  auto a = t->lookup(text + 0x3f);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->sp_reg, OrcReg::sp);
  EXPECT_EQ(a->sp_offset, 16);
  auto b = t->lookup(text + 0x50);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->sp_reg, OrcReg::bp);
  EXPECT_EQ(b->bp_reg, OrcReg::prev_sp);
  EXPECT_EQ(b->bp_offset, -16);
}

// A module without ORC data (num_orcs 0) has an empty table, not an error.
TEST_P(Unwind, ModuleWithoutOrcHasAnEmptyTable) {
  FakeKernel f(GetParam());
  uint64_t mod = f.at(kSched, 0) - kSched.off + 0xc000;
  auto t = module_orc(f.open(), mod);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(t->empty());
}

// An absurd entry count from a corrupt struct module is refused before allocating.
TEST_P(Unwind, ModuleOrcWithAnAbsurdCountIsAnError) {
  FakeKernel f(GetParam());
  uint64_t mod = f.at(kSched, 0) - kSched.off + 0xc000;
  f.put(mod + kFakeModuleArch, 0x7fffffff);
  f.put(mod + kFakeModuleArch + 8, mod + 0x100);
  f.put(mod + kFakeModuleArch + 16, mod + 0x200);
  auto t = module_orc(f.open(), mod);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, fmt::format("module {:x}: 2147483647 ORC entries", mod));
}

INSTANTIATE_TEST_SUITE_P(OrcLayouts, Unwind, ::testing::Values(OrcLayout::before_6_4, OrcLayout::since_6_4),
                         [](const ::testing::TestParamInfo<OrcLayout>& p) {
                           return std::string(p.param == OrcLayout::before_6_4 ? "Before6_4" : "Since6_4");
                         });

// --- OrcTable alone

class OrcTableTest : public ::testing::TestWithParam<OrcLayout> {
 protected:
  void SetUp() override {
    btf_ = make_btf(GetParam());
    auto t = symbols::BtfTypes::from_bytes(btf_, "test.btf");
    ASSERT_TRUE(t) << t.error().message;
    types_ = std::move(*t);
  }
  Result<symbols::OrcTable> table(const std::vector<std::pair<uint64_t, Orc>>& entries, uint64_t base = 0x1000) {
    std::vector<uint64_t> ips;
    Bytes raw;
    for (auto& [ip, o] : entries) {
      ips.push_back(ip);
      Bytes e = encode_orc(GetParam(), o);
      raw.insert(raw.end(), e.begin(), e.end());
    }
    ips_ = orc_ips(base, ips);
    raw_ = raw;
    return symbols::OrcTable::from_sections(base, ips_, raw_, *types_);
  }
  Bytes btf_, ips_, raw_;
  std::unique_ptr<symbols::BtfTypes> types_;
};

TEST_P(OrcTableTest, DecodesEveryTypeAndRegister) {
  auto t = table({{0x100, {OrcType::call, OrcReg::sp, 8}},
                  {0x200, {OrcType::regs, OrcReg::sp, 0}},
                  {0x300, {OrcType::regs_partial, OrcReg::sp, 8}},
                  {0x400, {OrcType::end_of_stack, OrcReg::undefined, 0}},
                  {0x500, {OrcType::undefined, OrcReg::undefined, 0}},
                  {0x600, {OrcType::call, OrcReg::bp, 16, OrcReg::prev_sp, -16}},
                  {0x700, {OrcType::call, OrcReg::sp_indirect, -8, OrcReg::bp, 0}},
                  {0x800, {OrcType::call, OrcReg::r10, 0, OrcReg::undefined, 0}}});
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->size(), 8u);
  auto e = t->lookup(0x100);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, OrcType::call);
  EXPECT_EQ(e->sp_reg, OrcReg::sp);
  EXPECT_EQ(e->sp_offset, 8);
  EXPECT_FALSE(e->signal);
  EXPECT_EQ(t->lookup(0x200)->type, OrcType::regs);
  EXPECT_EQ(t->lookup(0x300)->type, OrcType::regs_partial);
  EXPECT_EQ(t->lookup(0x300)->sp_offset, 8);
  EXPECT_EQ(t->lookup(0x400)->type, OrcType::end_of_stack);
  EXPECT_EQ(t->lookup(0x500)->type, OrcType::undefined);
  e = t->lookup(0x600);
  EXPECT_EQ(e->sp_reg, OrcReg::bp);
  EXPECT_EQ(e->bp_reg, OrcReg::prev_sp);
  EXPECT_EQ(e->sp_offset, 16);
  EXPECT_EQ(e->bp_offset, -16);
  EXPECT_EQ(t->lookup(0x700)->sp_reg, OrcReg::sp_indirect);
  EXPECT_EQ(t->lookup(0x700)->sp_offset, -8);
  EXPECT_EQ(t->lookup(0x800)->sp_reg, OrcReg::r10);
}

TEST_P(OrcTableTest, LookupBoundaries) {
  auto t = table({{0x100, {OrcType::call, OrcReg::sp, 8}}, {0x200, {OrcType::call, OrcReg::sp, 16}}});
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_FALSE(t->lookup(0));
  EXPECT_FALSE(t->lookup(0xff));
  EXPECT_EQ(t->lookup(0x100)->sp_offset, 8);
  EXPECT_EQ(t->lookup(0x1ff)->sp_offset, 8);
  EXPECT_EQ(t->lookup(0x200)->sp_offset, 16);
  EXPECT_EQ(t->lookup(~0ull)->sp_offset, 16);  // the last entry covers everything above it
}

TEST_P(OrcTableTest, UnsortedTablesAreSortedWithTheirEntries) {
  // ip offsets are relative to each slot, so the order of slots and of addresses differ.
  auto t = table({{0x300, {OrcType::call, OrcReg::sp, 24}},
                  {0x100, {OrcType::call, OrcReg::sp, 8}},
                  {0x200, {OrcType::call, OrcReg::sp, 16}}});
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->lookup(0x150)->sp_offset, 8);
  EXPECT_EQ(t->lookup(0x250)->sp_offset, 16);
  EXPECT_EQ(t->lookup(0x350)->sp_offset, 24);
}

TEST_P(OrcTableTest, MalformedSectionsAreErrors) {
  ASSERT_TRUE(table({{0x100, {OrcType::call, OrcReg::sp, 8}}}));
  Bytes short_ips(ips_.begin(), ips_.end() - 1);
  auto t = symbols::OrcTable::from_sections(0x1000, short_ips, raw_, *types_);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, ".orc_unwind_ip: size 0x3 is not a multiple of 4");
  Bytes long_raw = raw_;
  long_raw.push_back(0);
  t = symbols::OrcTable::from_sections(0x1000, ips_, long_raw, *types_);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, ".orc_unwind: size 0x7 does not match 1 entries of .orc_unwind_ip");
  t = symbols::OrcTable::from_sections(0x1000, {}, {}, *types_);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->empty());
  EXPECT_FALSE(t->lookup(0x100));
}

INSTANTIATE_TEST_SUITE_P(OrcLayouts, OrcTableTest, ::testing::Values(OrcLayout::before_6_4, OrcLayout::since_6_4),
                         [](const ::testing::TestParamInfo<OrcLayout>& p) {
                           return std::string(p.param == OrcLayout::before_6_4 ? "Before6_4" : "Since6_4");
                         });

TEST(OrcTable, KernelWithoutOrcEntryTypeIsAnError) {
  struct btf* b = btf__new_empty();
  btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  Bytes raw = synth::btf_bytes(b);
  auto types = symbols::BtfTypes::from_bytes(raw, "test.btf");
  ASSERT_TRUE(types) << types.error().message;
  auto t = symbols::OrcTable::from_sections(0, {}, {}, **types);
  ASSERT_FALSE(t);
}

}  // namespace
