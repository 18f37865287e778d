// bt: kernel stack backtraces in crash's layout, unwound with the kernel's ORC data.
#include <map>
#include <set>

#include "commands/builtin.h"
#include "commands/support/json.h"
#include "commands/support/parse.h"
#include "commands/support/symstr.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/mm.h"
#include "kernel/modules.h"
#include "kernel/session_flags.h"
#include "kernel/stack.h"
#include "kernel/stack_arm64.h"
#include "kernel/tasks.h"

namespace coroner::commands {
namespace {

using kernel::Task;

void print_regs(Output& out, const kernel::PtRegs& r) {
  // crash omits ORIG_RAX for registers that came from a dump note. One write, compiled
  // formats: every user task's trace ends with this block.
  fmt::memory_buffer b;
  auto o = std::back_inserter(b);
  fmt::format_to(o, FMT_COMPILE("    RIP: {:016x}  RSP: {:016x}  RFLAGS: {:08x}\n"), r.ip, r.sp, r.flags);
  fmt::format_to(o, FMT_COMPILE("    RAX: {:016x}  RBX: {:016x}  RCX: {:016x}\n"), r.ax, r.bx, r.cx);
  fmt::format_to(o, FMT_COMPILE("    RDX: {:016x}  RSI: {:016x}  RDI: {:016x}\n"), r.dx, r.si, r.di);
  fmt::format_to(o, FMT_COMPILE("    RBP: {:016x}   R8: {:016x}   R9: {:016x}\n"), r.bp, r.r8, r.r9);
  fmt::format_to(o, FMT_COMPILE("    R10: {:016x}  R11: {:016x}  R12: {:016x}\n"), r.r10, r.r11, r.r12);
  fmt::format_to(o, FMT_COMPILE("    R13: {:016x}  R14: {:016x}  R15: {:016x}\n"), r.r13, r.r14, r.r15);
  if (r.from_cpu_note) fmt::format_to(o, FMT_COMPILE("    CS: {:04x}  SS: {:04x}\n"), r.cs, r.ss);
  else fmt::format_to(o, FMT_COMPILE("    ORIG_RAX: {:016x}  CS: {:04x}  SS: {:04x}\n"), r.orig_ax, r.cs, r.ss);
  out.write(std::string_view(b.data(), b.size()));
}

// What bt prints beyond the frames, from its options.
struct BtOptions {
  bool frames_data = false;  // -f: the stack words of each frame
  bool lines = false;        // -l: file and line of each frame
  bool offsets = false;      // -s: name+offset
  bool hex = false;          // -x: offsets (and -f words) in hex; -d decimal (the default)
  bool text = false;         // -t: text addresses on the stack from the starting frame up
  bool all_text = false;     // -T: text addresses on the whole stack
  bool raw = false;          // -r: the raw stack
  int symbolic = 0;          // -F: stack words shown symbolically, slab objects as [cache]; -FF [addr:cache]
  bool eframes = false;      // -e: search the stack for exception frames
  bool old = false;          // -o (or after -O): crash's old x86_64 method, every text return address
  bool thread_group = false; // -g: every thread of the target's thread group
  bool skip_idle = false;    // -n idle: only the header for idle tasks
  std::string ref;           // -R: only traces referencing this symbol or text address
  std::optional<uint64_t> hook_ip;  // -I: the starting text location
  std::optional<uint64_t> hook_sp;  // -S: the starting stack address
};

// A module text address as crash names it: the module symbol at or below it, its offset and
// the module's name (crash appends " [NAME]" to the frame). The module's own symbols (its
// kallsyms in the dump) are in address order.
struct ModuleTextSymbol {
  std::string name;
  uint64_t offset = 0;
  std::string_view module;
};
// `text_only` false: any symbol of the module holding v (memory words, as bt -r names data).
std::optional<ModuleTextSymbol> module_text_symbol(kernel::Kernel& k, uint64_t v, bool text_only = true) {
  if (kernel::in_kernel_core_text(k, v)) return std::nullopt;  // the kernel image's own text
  auto table = kernel::modules(k);
  if (!table) return std::nullopt;
  const kernel::Module* m = (*table)->containing(v);
  if (!m || (text_only && !m->in_text(v))) return std::nullopt;
  if (!text_only) {
    // A data word: crash's name for it, by the module's regions (6.4+: a word in .rodata
    // past its last symbol is _MODULE_RODATA_START_NAME+N, not the last .bss symbol's).
    auto at = kernel::symbol_at(k, v);
    if (at && !at->module.empty() && !at->region_end) return ModuleTextSymbol{at->name, at->offset, m->name};
  }
  const kernel::ModuleSymbol* best = nullptr;
  for (const auto& sym : m->symbols)
    if (sym.value <= v && (!text_only || sym.type == 't' || sym.type == 'T')) best = &sym;
  if (!best) return std::nullopt;
  return ModuleTextSymbol{best->name, v - best->value, m->name};
}

// What a frame's pc is, as crash names it: a module's text symbol first (the module's own
// kallsyms in the dump), else the kernel's symbol; `name` empty when none covers it.
struct PcSymbol {
  std::string name;
  uint64_t offset = 0;
  std::string module;  // empty: the kernel's
};
PcSymbol pc_symbol(kernel::Kernel& k, uint64_t pc) {
  if (auto ms = module_text_symbol(k, pc)) return {std::string(ms->name), ms->offset, std::string(ms->module)};
  auto hit = k.symbols().lookup(pc);
  if (!hit) return {};
  return {std::string(symbols::display_name(hit->symbol->name)), hit->offset, {}};
}

// The frame line's name: the symbol (with -s its offset, -x in hex), else the bare address.
void append_frame_label(fmt::memory_buffer& b, const PcSymbol& sym, uint64_t pc, const BtOptions& o) {
  auto w = std::back_inserter(b);
  if (sym.name.empty()) fmt::format_to(w, FMT_COMPILE("{:x}"), pc);
  else if (!o.offsets || sym.offset == 0) b.append(sym.name);
  else if (o.hex) fmt::format_to(w, FMT_COMPILE("{}+{:#x}"), sym.name, sym.offset);
  else fmt::format_to(w, FMT_COMPILE("{}+{}"), sym.name, sym.offset);
}
std::string frame_label(const PcSymbol& sym, uint64_t pc, const BtOptions& o) {
  fmt::memory_buffer b;
  append_frame_label(b, sym, pc, o);
  return fmt::to_string(b);
}

std::string frame_label(kernel::Kernel& k, uint64_t pc, const BtOptions& o) { return frame_label(pc_symbol(k, pc), pc, o); }

// The symbol of an exception frame's interrupted instruction (the text's
// `[exception RIP: sym+off]`): a module's text symbol (crash names module text so: a virtio
// driver's vp_notify+18 on 6.1 qemu-net.elf), else the kernel's; nullopt for an address no
// symbol covers.
struct RipSymbol {
  std::string name;
  uint64_t offset = 0;
};
std::optional<RipSymbol> exception_rip(kernel::Kernel& k, const kernel::PtRegs& r) {
  if (auto ms = module_text_symbol(k, r.ip)) return RipSymbol{ms->name, ms->offset};
  auto hit = k.symbols().lookup(r.ip);
  if (!hit) return std::nullopt;
  return RipSymbol{std::string(symbols::display_name(hit->symbol->name)), hit->offset};
}

// A kernel-mode frame names the interrupted instruction first: `[exception RIP: sym+off]`.
void print_exception(kernel::Kernel& k, Output& out, const kernel::PtRegs& r) {
  if (!r.user_mode()) {
    auto rip = exception_rip(k, r);
    std::string where = !rip ? fmt::format("unknown or invalid address")
                        : rip->offset ? fmt::format("{}+{}", rip->name, rip->offset)
                                      : std::string(rip->name);
    out.print("    [exception RIP: {}]\n", where);
  }
  print_regs(out, r);
}

// What crash appends to a frame line in module text: " [NAME]".
std::string module_suffix(kernel::Kernel& k, uint64_t pc) {
  auto ms = module_text_symbol(k, pc);
  return ms ? fmt::format(" [{}]", ms->module) : std::string();
}

// Kernel text, as -t/-T list it: an address inside a text symbol of the kernel image, or in
// a module's text.
bool is_kernel_text(kernel::Kernel& k, uint64_t v) {
  return module_text_symbol(k, v) || kernel::in_kernel_image_text(k, v);
}

// Stack words from `from` to `to` inclusive, two to a line, as bt -f and -r print them.
// crash's slab cache name for an address inside a slab object (bt -F); kernel/mm's lookup.
std::optional<std::string> slab_cache_of(kernel::Kernel& k, uint64_t v);

// A stack word as bt -F shows it: a kernel symbol, a slab object's cache ([cache], or
// [addr:cache] for -FF), else the hex value.
std::string full_word(kernel::Kernel& k, uint64_t v, int level) {
  if (auto sym = value_to_symstr(k, v)) return fmt::format("{:<16}", *sym);
  if (auto ms = module_text_symbol(k, v, false))
    return fmt::format("{:<16}", ms->offset ? fmt::format("{}+{}", ms->name, ms->offset) : std::string(ms->name));
  if (auto slab = slab_cache_of(k, v))
    return fmt::format("{:<16}", level > 1 ? fmt::format("[{:x}:{}]", v, *slab) : fmt::format("[{}]", *slab));
  return fmt::format("{:016x}", v);
}

Result<void> print_words(kernel::Kernel& k, Output& out, uint64_t from, uint64_t to, const char* indent,
                         const char* sep, bool symbolic = false, int full_sym = 0) {
  if (to < from) return ok();
  uint64_t n = (to - from) / 8 + 1;
  if (n > (1u << 17)) return Error::make(Errc::out_of_bounds, "{} stack words from {:x}", n, from);
  std::vector<uint64_t> w(n);
  TRY(k.read(from, std::span(reinterpret_cast<uint8_t*>(w.data()), n * 8)));
  for (uint64_t i = 0; i < n; i += 2) {
    std::string line = fmt::format("{}{:x}:{}", indent, from + i * 8, sep);
    for (uint64_t j = i; j < n && j < i + 2; ++j) {
      if (full_sym) {
        line += full_word(k, w[j], full_sym) + " ";
        continue;
      }
      auto sym = symbolic ? value_to_symstr(k, w[j]) : std::nullopt;
      if (symbolic && !sym)
        if (auto ms = module_text_symbol(k, w[j], false))
          sym = ms->offset ? fmt::format("{}+{}", ms->name, ms->offset) : std::string(ms->name);
      line += sym ? fmt::format("{:<16} ", *sym) : fmt::format("{:016x} ", w[j]);
    }
    out.print("{}\n", line);
  }
  return ok();
}



bool kernel_vaddr(uint64_t v) { return (v >> 47) == 0x1ffff; }  // x86_64's upper canonical half
bool user_vaddr(uint64_t v) { return (v >> 47) == 0; }

// Whether the words at `addr` look like a struct pt_regs an exception or interrupt left, by
// crash's tests (x86_64_eframe_verify): RFLAGS with bit 1 set and no reserved bit; kernel CS
// (0x10) with kernel SS (0x18), or with a stack pointer just above the frame, and a text RIP;
// or user CS/SS (0x33/0x2b) with user RIP and RSP.
// On an exception stack crash takes any kernel CS with a text RIP and a kernel RSP (so
// __crash_kexec's own saved pt_regs on the NMI stack, SS 0 and RSP at the frame itself), and
// with kernel SS also a non-kernel RSP.
bool eframe_plausible(kernel::Kernel& k, const kernel::PtRegs& r, uint64_t regs_size, bool exception_stack = false) {
  constexpr uint64_t kRflagsReserved = 0xffffffffffc08028ull;  // must-be-zero RFLAGS bits
  if ((r.flags & kRflagsReserved) || !(r.flags & 0x2)) return false;
  if (r.cs == 0x10 && is_kernel_text(k, r.ip) && kernel_vaddr(r.sp)) {
    if (r.ss == 0x18 || exception_stack) return true;
    if (r.sp == r.addr + regs_size || r.sp == r.addr + regs_size + 8) return true;
  }
  if (exception_stack && r.cs == 0x10 && r.ss == 0x18 && is_kernel_text(k, r.ip)) return true;
  return r.cs == 0x33 && r.ss == 0x2b && user_vaddr(r.ip) && user_vaddr(r.sp);
}


// Plausible exception frames in [lo, hi) as bt -e and -E list them, or "(none found)".
Result<void> search_eframes(kernel::Kernel& k, uint64_t lo, uint64_t hi, bool say_none, Output& out,
                            bool exception_stack = false) {
  uint64_t size = TRY(k.types().size_of(TRY(k.types().find("struct pt_regs"))));
  bool found = false;
  for (uint64_t a = lo; a + size <= hi; a += 8) {
    auto r = kernel::read_pt_regs(k, a);
    if (!r || !eframe_plausible(k, *r, size, exception_stack)) continue;
    found = true;
    out.print("\n  {}-MODE EXCEPTION FRAME AT: {:x}\n", r->user_mode() ? "USER" : "KERNEL", a);
    print_exception(k, out, *r);
  }
  if (!found && say_none) out.print("(none found)\n");
  return ok();
}

// bt -E: every CPU's IRQ stack, then each CPU's exception stacks in IST order (the TSS's
// x86_tss.ist[] tops, crash's names by index; a stack's size is its cea_exception_stacks
// member's; unmapped ones left out), searched for exception frames.
Result<void> search_cpu_stacks(kernel::Kernel& k, const kernel::TaskTable& tt, Output& out) {
  int cpus = static_cast<int>(tt.active.size());
  for (int cpu = 0; cpu < cpus; ++cpu) {
    out.print("CPU {} IRQ STACK:\n", cpu);
    bool any = false;
    for (auto& st : TRY(kernel::cpu_stacks(k, cpu)))
      if (st.kind == kernel::StackRange::Kind::irq) {
        TRY(search_eframes(k, st.lo, st.hi, true, out));
        any = true;
      }
    if (!any) out.print("(none found)\n");
    out.print("\n");
  }
  auto tss = k.symbols().address_of("cpu_tss_rw");
  auto ist_off = k.offset_of("tss_struct", "x86_tss.ist");
  auto cea = k.types().find("struct cea_exception_stacks");
  if (!tss || !ist_off || !cea) return ok();
  static const std::pair<const char*, const char*> by_index[] = {{"DOUBLEFAULT", "DF_stack"}, {"NMI", "NMI_stack"},
                                                                  {"DEBUG", "DB_stack"},      {"MCE", "MCE_stack"},
                                                                  {"VC", "VC_stack"},         {"VC2", "VC2_stack"}};
  // The IST slots some IDT gate switches to (gate_struct bits.ist, 1-based; 0: no switch).
  // A stack no gate uses holds no exception frame, and crash lists none past it: the 6.1
  // cloud kernel maps an MCE stack (TSS ist[3]) but, built without CONFIG_X86_MCE, has no
  // #MC gate (no asm_exc_machine_check); 6.12 has one.
  std::set<uint64_t> used;
  const symbols::Symbol* idt = k.symbols().find("idt_table");
  auto idt_addr = k.symbols().address_of("idt_table");
  if (idt && idt_addr) {
    auto gate_size_r = k.types().size_of_name("gate_struct");
    uint64_t gate_size = gate_size_r ? *gate_size_r : 0;
    uint64_t n = gate_size ? idt->size / gate_size : 0;
    for (uint64_t g = 0; g < n && g < 256; ++g) {
      auto ist = k.member_uint(*idt_addr + g * gate_size, "gate_struct", "bits.ist");
      auto present = k.member_uint(*idt_addr + g * gate_size, "gate_struct", "bits.p");
      if (ist && present && *present && *ist) used.insert(*ist - 1);
    }
  }
  for (int cpu = 0; cpu < cpus; ++cpu) {
    uint64_t ist = TRY(k.per_cpu("cpu_tss_rw", cpu)) + *ist_off;
    for (size_t i = 0; i < std::size(by_index); ++i) {
      uint64_t top = TRY(k.read_u64(ist + 8 * i));
      auto m = k.types().member(*cea, by_index[i].second);
      if (!top || !m || (!used.empty() && !used.count(i))) break;
      uint64_t size = TRY(k.types().size_of(m->type));
      // Stacks the kernel did not map (#VC without SEV-ES, #MC without machine checks) are
      // not in the dump's page tables: crash leaves them out.
      if (!k.read_u64(top - size) || !k.read_u64(top - 8)) continue;
      out.print("CPU {} {} EXCEPTION STACK:\n", cpu, by_index[i].first);
      TRY(search_eframes(k, top - size, top, true, out, true));
      out.print("\n");
    }
  }
  return ok();
}

// bt -e: every plausible exception frame on the task's stack, lowest first.
Result<void> print_eframes(kernel::Kernel& k, const Task& t, Output& out) {
  auto [lo, hi] = TRY(kernel::task_stack(k, t));
  return search_eframes(k, lo, hi, false, out);
}

// The functions whose frames hold an exception's registers just above their return address
// (the 5.8+ idtentry names; crash's exception_functions_5_8).
bool is_exception_entry(std::string_view name) {
  static const std::set<std::string_view> names = {
      "asm_exc_invalid_tss", "asm_exc_segment_not_present", "asm_exc_alignment_check",
      "asm_exc_general_protection", "asm_exc_page_fault", "asm_exc_divide_error", "asm_exc_overflow",
      "asm_exc_bounds", "asm_exc_invalid_op", "asm_exc_device_not_available", "asm_exc_coproc_segment_overrun",
      "asm_exc_spurious_interrupt_bug", "asm_exc_coprocessor_error", "asm_exc_simd_coprocessor_error",
      "asm_exc_debug", "invalid_TSS", "segment_not_present", "alignment_check", "general_protection",
      "page_fault", "divide_error", "overflow", "bounds", "invalid_op", "device_not_available",
      "coprocessor_segment_overrun", "spurious_interrupt_bug", "coprocessor_error", "simd_coprocessor_error"};
  return names.count(name) > 0;
}

// crash's -t/-o stop on a kernel stack overflow (#DF): the interrupted stack pointer is in
// the guard page below the task's stack, which crash will not walk.
void print_cannot_transition(Output& out, uint64_t exception_sp, uint64_t process_sp, uint64_t stack_base) {
  out.print("bt: cannot transition from exception stack to current process stack:\n"
            "    exception stack pointer: {:x}\n"
            "      process stack pointer: {:x}\n"
            "         current stack base: {:x}\n",
            exception_sp, process_sp, stack_base);
}

// bt -o: crash's old x86_64 method. From the first frame of the ORC trace up, every word that
// is a kernel text address past a function's start is a frame (stale ones included); an
// exception entry's frame shows the registers above it; a user task ends with its entry
// registers at the top of the stack.
//
// Across stacks (the ORC trace's `stacks`, in walk order), as crash's low-budget tracer does:
// an exception stack is scanned up to the exception frame the ORC walk left it through, whose
// registers follow, then `--- <NAME> ---` and the interrupted instruction as a frame at the
// interrupted stack pointer, from which the next stack is scanned; the IRQ stack is scanned to
// its top, then `--- <IRQ stack> ---` and the entry stub at its pt_regs with the registers,
// and the scan goes on above that pt_regs (an interrupt from user mode ends the trace).
Result<void> print_old_bt(kernel::Kernel& k, const Task& t, const kernel::Backtrace& bt, const BtOptions& o,
                          Output& out) {
  if (bt.start) print_exception(k, out, *bt.start);
  if (bt.frames.empty()) return ok();
  uint64_t hi = TRY(kernel::task_stack(k, t)).second;
  uint64_t regs_size = TRY(k.types().size_of(TRY(k.types().find("struct pt_regs"))));
  const auto& fr = bt.frames;
  int level = 0;
  uint64_t last_eframe = 0;
  bool on_task_stack = false;  // the scan ended on the task's stack (not at an IRQ from user mode)
  // crash's exception frame: the registers, then with -l the interrupted instruction's line.
  auto eframe = [&](const kernel::PtRegs& r) {
    print_exception(k, out, r);
    if (o.lines && !r.user_mode())
      if (auto loc = k.source_lines().lookup(r.ip - k.kaslr_offset())) out.print("    {}: {}\n", loc->file, loc->line);
  };
  auto frame = [&](uint64_t slot, uint64_t pc) {
    out.print("{:>3} [{:x}] {} at {:x}{}\n", fmt::format("#{}", level++), slot, frame_label(k, pc, o), pc, module_suffix(k, pc));
    if (o.lines)
      if (auto loc = k.source_lines().lookup(pc - k.kaslr_offset())) out.print("    {}: {}\n", loc->file, loc->line);
  };
  // The text words of [from, to) on `range`, each exception entry's registers in place.
  auto scan = [&](const kernel::StackRange& range, uint64_t from, uint64_t to) -> Result<void> {
    to = std::min(to, range.hi);
    if (from >= to) return ok();
    if (!range.contains(from) || to - from > (1u << 20))
      return Error::make(Errc::bad_data, "stack address {:x} is not on the {}", from, range.name);
    std::vector<uint64_t> w((to - from) / 8);
    TRY(k.read(from, std::span(reinterpret_cast<uint8_t*>(w.data()), w.size() * 8)));
    for (size_t i = 0; i < w.size(); ++i) {
      uint64_t slot = from + 8 * i;
      if (!is_kernel_text(k, w[i])) continue;
      // A word at a function's first byte is a function pointer, not a return address:
      // module text too, by the module's own symbols (a kthread's threadfn argument).
      PcSymbol ps = pc_symbol(k, w[i]);
      if (ps.name.empty() || ps.offset == 0) continue;
      frame(slot, w[i]);
      if (ps.module.empty() && is_exception_entry(ps.name) && slot + 8 + regs_size <= range.hi) {
        auto r = kernel::read_pt_regs(k, slot + 8);
        if (r && eframe_plausible(k, *r, regs_size)) {
          eframe(*r);
          if (range.kind == kernel::StackRange::Kind::task) last_eframe = slot + 8;
          i += regs_size / 8;
        }
      }
    }
    return ok();
  };
  uint64_t from = fr.front().slot;
  frame(from, fr.front().pc);
  from += 8;
  size_t seg = 0;
  for (size_t i = 0; i < fr.size() && seg < bt.stacks.size(); ++seg) {
    size_t j = i + 1;  // frames [i, j) are on bt.stacks[seg]
    while (j < fr.size() && fr[j].left_stack.empty()) ++j;
    const kernel::StackRange& range = bt.stacks[seg];
    if (j == fr.size() || range.kind == kernel::StackRange::Kind::task) {
      TRY(scan(range, from, range.hi));
      on_task_stack = range.kind == kernel::StackRange::Kind::task;
      break;
    }
    const kernel::StackFrame& next = fr[j];
    if (range.kind == kernel::StackRange::Kind::exception) {
      // Left through the exception frame above the stack's last frame.
      const auto& regs = fr[j - 1].exception;
      TRY(scan(range, from, regs ? regs->addr : range.hi));
      if (regs) eframe(*regs);
      out.print("--- <{}> ---\n", next.left_stack);
      frame(next.slot, next.pc);
      from = next.slot;
      if (seg + 1 < bt.stacks.size() && bt.stacks[seg + 1].kind == kernel::StackRange::Kind::task &&
          !bt.stacks[seg + 1].contains(next.slot)) {
        // A kernel stack overflow (#DF): the interrupted stack pointer is in the guard page
        // below the task's stack; crash's -o stops with its own message.
        print_cannot_transition(out, fr.front().slot, next.slot, bt.stacks[seg + 1].lo);
        return ok();
      }
    } else {
      TRY(scan(range, from, range.hi));
      out.print("--- <{}> ---\n", next.left_stack);
      frame(next.slot, next.pc);
      from = next.slot + 8;
      if (next.exception) {
        eframe(*next.exception);
        if (next.exception->user_mode()) break;
        from = next.exception->addr + regs_size;
      }
    }
    i = j;
  }
  if (on_task_stack && !t.kernel_thread() && last_eframe < hi - regs_size)
    print_regs(out, TRY(kernel::read_pt_regs(k, hi - regs_size)));
  return ok();
}

// Whether a trace names the -R reference: a function name, or a text address equal to a frame's.
bool references(kernel::Kernel& k, const kernel::Backtrace& bt, const std::string& ref) {
  auto hex = parse_hex(ref);
  auto check = [&](uint64_t pc) {
    if (hex && *hex == pc) return true;
    auto hit = k.symbols().lookup(pc);
    return hit && (hit->symbol->name == ref || symbols::display_name(hit->symbol->name) == ref);
  };
  if (bt.start && check(bt.start->ip)) return true;
  for (auto& f : bt.frames) {
    if (check(f.pc)) return true;
    if (f.exception && check(f.exception->ip)) return true;
  }
  return false;
}

// bt -t when the trace crosses stacks (IRQ, exception): each stack's text words from where the
// trace is on it up to its top, crash's `--- <NAME> ---` line between stacks, and each
// exception frame's registers after its entry stub's word (the pt_regs words themselves are
// not listed; a stack left through an exception frame is not listed past it). On a new stack
// crash lists the first frame itself, then the words above it; the interrupted instruction
// after an exception stack gets that stack's base as its address.
Result<void> print_text_across_stacks(kernel::Kernel& k, const kernel::Backtrace& bt, const BtOptions& o, Output& out) {
  const auto& fr = bt.frames;
  uint64_t start_pc = bt.start ? bt.start->ip : fr.front().pc;  // crash's instptr
  out.print("              START: {} at {:x}\n", frame_label(k, start_pc, o), start_pc);
  uint64_t regs_size = TRY(k.types().size_of_name("pt_regs"));
  size_t seg = 0;
  for (size_t i = 0; i < fr.size() && seg < bt.stacks.size(); ++seg) {
    size_t j = i + 1;  // frames [i, j) are on bt.stacks[seg]
    while (j < fr.size() && fr[j].left_stack.empty()) ++j;
    const kernel::StackRange& range = bt.stacks[seg];
    uint64_t from = fr[i].slot;
    if (seg > 0) {
      out.print("--- <{}> ---\n", fr[i].left_stack);
      bool interrupted = fr[i].how == kernel::FrameSource::registers;
      out.print("  [{:x}] {} at {:x}{}\n", interrupted ? bt.stacks[seg - 1].lo : fr[i].slot, frame_label(k, fr[i].pc, o),
                fr[i].pc, module_suffix(k, fr[i].pc));
      if (range.kind == kernel::StackRange::Kind::task && !range.contains(fr[i].slot)) {
        // A kernel stack overflow (#DF): the interrupted stack pointer is in the guard page
        // below the task's stack. crash's -t stops there, with its own message.
        print_cannot_transition(out, fr.front().slot, fr[i].slot, range.lo);
        return ok();
      }
      if (fr[i].exception) {
        print_exception(k, out, *fr[i].exception);
        if (i + 1 == j && j < fr.size()) {
          i = j;
          continue;
        }
        from = fr[i].exception->addr + regs_size;
      } else if (!interrupted) {
        from += 8;
      }
    }
    if (from >= range.hi) {
      i = j;
      continue;
    }
    if (!range.contains(from) || range.hi - from > (1u << 20))
      return Error::make(Errc::bad_data, "frame at {:x} is not on the {}", from, range.name);
    std::vector<uint64_t> w((range.hi - from) / 8);
    TRY(k.read(from, std::span(reinterpret_cast<uint8_t*>(w.data()), w.size() * 8)));
    for (uint64_t a = from; a + 8 <= range.hi; a += 8) {
      uint64_t v = w[(a - from) / 8];
      if (is_kernel_text(k, v)) out.print("  [{:x}] {} at {:x}{}\n", a, frame_label(k, v, o), v, module_suffix(k, v));
      const kernel::StackFrame* with_regs = nullptr;
      for (size_t n = i; n < j; ++n)
        if (fr[n].slot == a && fr[n].exception) with_regs = &fr[n];
      if (!with_regs) continue;
      print_exception(k, out, *with_regs->exception);
      if (with_regs == &fr[j - 1] && j < fr.size()) break;
      if (with_regs->exception->addr + regs_size > a + 8) a = with_regs->exception->addr + regs_size - 8;
    }
    i = j;
  }
  return ok();
}

// One frame of the default trace, everything its text line and JSON need: the text and
// the JSON are printed from the same BtTrace (print_trace, trace_json).
struct BtFrame {
  uint64_t sp = 0;  // the stack slot the return address was read from (the text's [ADDR])
  uint64_t ip = 0;
  PcSymbol symbol;
  std::string left_stack;   // set on the first frame on a new stack: the stack left
  std::string stack;        // the stack this frame is on ("task's stack", "IRQ stack"...)
  // Whether [sp] lies inside that stack: not so for the interrupted instruction of a kernel
  // stack overflow (#DF), whose stack pointer is in the guard page below the task's stack.
  bool on_stack = true;
  std::optional<symbols::SourceLocation> line;  // -l
  std::optional<kernel::PtRegs> exception;      // the registers of an exception frame above it
  std::optional<symbols::SourceLocation> exception_line;  // -l: the interrupted instruction's
};

struct BtTrace {
  std::optional<kernel::PtRegs> start;  // the CPU's registers the walk began from
  std::vector<BtFrame> frames;
  std::string stopped;  // why the walk ended early
};

std::optional<symbols::SourceLocation> source_line(kernel::Kernel& k, uint64_t pc) {
  return k.source_lines().lookup(pc - k.kaslr_offset());
}

BtTrace collect_trace(kernel::Kernel& k, const kernel::Backtrace& bt, const BtOptions& o) {
  BtTrace tr;
  tr.start = bt.start;
  tr.stopped = bt.stopped;
  size_t seg = 0;
  for (size_t i = 0; i < bt.frames.size(); ++i) {
    const kernel::StackFrame& f = bt.frames[i];
    if (i && !f.left_stack.empty()) ++seg;
    BtFrame row;
    row.sp = f.slot;
    row.ip = f.pc;
    row.symbol = pc_symbol(k, f.pc);
    row.left_stack = f.left_stack;
    if (seg < bt.stacks.size()) {
      row.stack = bt.stacks[seg].name;
      row.on_stack = bt.stacks[seg].contains(f.slot);
    }
    row.exception = f.exception;
    if (o.lines) {
      row.line = source_line(k, f.pc);
      if (f.exception && !f.exception->user_mode()) row.exception_line = source_line(k, f.exception->ip);
    }
    tr.frames.push_back(std::move(row));
  }
  return tr;
}

// crash's default trace: each frame's line (`--- <STACK> ---` first when it left a stack),
// with -l its source line, the registers of an exception frame above it (with -l the
// interrupted instruction's line), then -f/-F's words up to the next frame.
Result<void> print_trace(kernel::Kernel& k, const BtTrace& tr, const BtOptions& o, Output& out) {
  if (tr.start) print_exception(k, out, *tr.start);
  for (size_t i = 0; i < tr.frames.size(); ++i) {
    const BtFrame& f = tr.frames[i];
    if (!f.left_stack.empty()) out.print("--- <{}> ---\n", f.left_stack);
    // The frame's line, "#N" right-aligned in 3 columns, formats compiled (the line printed
    // most often).
    fmt::memory_buffer line;
    auto w = std::back_inserter(line);
    if (i < 10) fmt::format_to(w, FMT_COMPILE(" #{}"), i);
    else fmt::format_to(w, FMT_COMPILE("#{}"), i);
    fmt::format_to(w, FMT_COMPILE(" [{:x}] "), f.sp);
    append_frame_label(line, f.symbol, f.ip, o);
    fmt::format_to(w, FMT_COMPILE(" at {:x}"), f.ip);
    if (!f.symbol.module.empty()) fmt::format_to(w, FMT_COMPILE(" [{}]"), f.symbol.module);
    line.push_back('\n');
    out.write(std::string_view(line.data(), line.size()));
    if (f.line) out.print("    {}: {}\n", f.line->file, f.line->line);
    if (f.exception) {
      print_exception(k, out, *f.exception);
      if (f.exception_line) out.print("    {}: {}\n", f.exception_line->file, f.exception_line->line);
      // crash prints the registers twice when an entry stub of its exception-function list
      // (asm_exc_debug) leaves an exception stack: once for the stub's frame, once for the
      // stack transition (the #DB dumps of 6.1 and 6.12; #DF's and NMI's stubs are not in
      // the list, and #PF's do not leave a stack).
      if (i + 1 < tr.frames.size() && !tr.frames[i + 1].left_stack.empty() && is_exception_entry(f.symbol.name) &&
          f.stack.find("exception stack") != std::string::npos) {
        print_exception(k, out, *f.exception);
        if (f.exception_line) out.print("    {}: {}\n", f.exception_line->file, f.exception_line->line);
      }
    }
    // -f/-F: the words up to the next frame, none from a frame off its stack (crash lists
    // none for the overflowed stack pointer in the guard page: they cannot be read).
    if ((o.frames_data || o.symbolic) && i + 1 < tr.frames.size() && tr.frames[i + 1].left_stack.empty() && f.on_stack)
      TRY(print_words(k, out, f.sp + 8, tr.frames[i + 1].sp, "    ", " ", false, o.symbolic));
  }
  if (!tr.stopped.empty()) out.print("bt: {}\n", tr.stopped);
  return ok();
}

// arm64: crash's register block of an exception frame. Kernel mode names pc and lr
// (`[sym+off]`, the offset in the output radix), user mode prints pc, lr and sp on one line
// and ends with ORIG_X0, SYSCALLNO and PSTATE; x29..x0 three to a row (AArch32 user frames:
// r12..r0 four to a row).
void print_arm64_eframe(kernel::Kernel& k, Output& out, const kernel::arm64::Regs& r, bool user, int radix) {
  bool is64 = !(user && r.aarch32());
  uint64_t lr = is64 ? r.x[30] : r.x[14], sp = is64 ? r.sp : r.x[13];
  auto named = [&](uint64_t v) {
    auto hit = is_kernel_text(k, v) ? k.symbols().lookup(v) : std::nullopt;
    PcSymbol ps = pc_symbol(k, v);
    if (!hit && ps.name.empty()) return std::string("[unknown or invalid address]");
    if (ps.name.empty()) return std::string("[unknown or invalid address]");
    if (!ps.offset) return fmt::format("[{}]", ps.name);
    return radix == 16 ? fmt::format("[{}+{:#x}]", ps.name, ps.offset) : fmt::format("[{}+{}]", ps.name, ps.offset);
  };
  if (user) {
    if (is64) out.print("     PC: {:016x}   LR: {:016x}   SP: {:016x}\n    ", r.pc, lr, sp);
    else out.print("     PC: {:08x}  LR: {:08x}  SP: {:08x}  PSTATE: {:08x}\n    ", r.pc, lr, sp, r.pstate);
  } else {
    out.print("     PC: {:016x}  {}\n", r.pc, named(r.pc));
    out.print("     LR: {:016x}  {}\n", lr, named(lr));
    out.print("     SP: {:016x}  PSTATE: {:08x}\n    ", sp, r.pstate);
  }
  int top = is64 ? 29 : 12, rows = is64 ? 3 : 4;
  for (int i = top, n = 1; i >= 0; --i, ++n) {
    out.print("{}X{}: ", i < 10 ? " " : "", i);
    out.print("{}", is64 ? fmt::format("{:016x}", r.x[i]) : fmt::format("{:08x}", r.x[i]));
    if (i == 0 && !is64) out.print("\n");
    else if (i == 0 || n % rows == 0) out.print("\n{}", i == 0 && !user ? "" : "    ");
    else out.print("{}", is64 ? "  " : " ");
  }
  if (is64 && user) out.print("ORIG_X0: {:016x}  SYSCALLNO: {:x}  PSTATE: {:08x}\n", r.orig_x0, r.syscallno, r.pstate);
}

// arm64's trace in crash's layout (arm64_back_trace_cmd): ` #N [FP] NAME at PC [MODULE]`,
// where PC is the found address less 4 (a return address points after its branch) and FP
// the frame record (for the last frame of a user task, the user pt_regs at the stack's top);
// exception frames after the frame that took them, `--- <IRQ stack> ---` where the walk
// left the IRQ stack, the user-mode registers last.
Result<void> print_bt_arm64(Session& s, const kernel::TaskTable& tt, const Task& t, const BtOptions& o, Output& out) {
  kernel::Kernel& k = s.kernel;
  auto is_text = [&k](uint64_t v) { return is_kernel_text(k, v); };
  auto bt = kernel::arm64::unwind(k, tt, t, is_text);
  if (!bt) {
    out.print("bt: {}\n", bt.error().message);
    return ok();
  }
  if (o.text || o.all_text) {
    // -t: the text words from the starting frame's sp up, after crash's START line (the
    // starting pc itself); -T: from the stack's base. Names as the words are (no -4).
    auto [lo, hi] = TRY(kernel::task_stack(k, t));
    uint64_t from = lo;
    if (o.text) {
      out.print("              START: {} at {:x}\n", frame_label(k, bt->start_pc, o), bt->start_pc);
      if (bt->start_sp >= lo + 8 && bt->start_sp < hi) from = bt->start_sp - 8;
    }
    std::vector<uint64_t> w((hi - from) / 8);
    TRY(k.read(from, std::span(reinterpret_cast<uint8_t*>(w.data()), w.size() * 8)));
    for (size_t i = 0; i < w.size(); ++i) {
      uint64_t v = kernel::arm64::strip_pac(k, w[i], is_text);
      if (is_kernel_text(k, v)) out.print("  [{:x}] {} at {:x}{}\n", from + 8 * i, frame_label(k, v, o), v, module_suffix(k, v));
    }
    return ok();
  }
  if (bt->first_exception) print_arm64_eframe(k, out, *bt->first_exception, false, s.output_radix);
  for (size_t i = 0; i < bt->frames.size(); ++i) {
    const auto& f = bt->frames[i];
    if (!f.left_stack.empty()) out.print("--- <{}> ---\n", f.left_stack);
    uint64_t pc = f.pc - 4;
    out.print("{}#{} [{:8x}] {} at {:x}{}\n", i < 10 ? " " : "", i, f.fp, frame_label(k, pc, o), pc, module_suffix(k, pc));
    if (o.lines)
      if (auto l = source_line(k, pc)) out.print("    {}: {}\n", l->file, l->line);
    if (f.exception) print_arm64_eframe(k, out, *f.exception, false, s.output_radix);
  }
  if (!bt->stopped.empty()) out.print("bt: {}\n", bt->stopped);
  if (bt->user) {
    print_arm64_eframe(k, out, *bt->user, true, s.output_radix);
    if (bt->in_user_space) out.print(" #0 [user space]\n");
  }
  return ok();
}

// --json / -j (docs/json.md): a pt_regs as the text's register lines show it, each register
// a hex string; orig_rax only where the text has it (not for registers from a dump note).
void exception_json(json::Writer& w, kernel::Kernel& k, const kernel::PtRegs& r,
                    const std::optional<symbols::SourceLocation>& line, bool lines) {
  w.object().field("mode", r.user_mode() ? "user" : "kernel");
  if (r.from_cpu_note) w.null_field("address");
  else w.address_field("address", r.addr);
  auto rip = r.user_mode() ? std::nullopt : exception_rip(k, r);
  if (rip) w.field("rip_symbol", rip->name).field("rip_offset", rip->offset);
  else w.null_field("rip_symbol").null_field("rip_offset");
  if (lines) {
    if (line) w.field("file", line->file).field("line", line->line);
    else w.null_field("file").null_field("line");
  }
  w.key("registers").object();
  w.address_field("rip", r.ip).address_field("rsp", r.sp).address_field("rflags", r.flags);
  w.address_field("rax", r.ax).address_field("rbx", r.bx).address_field("rcx", r.cx);
  w.address_field("rdx", r.dx).address_field("rsi", r.si).address_field("rdi", r.di);
  w.address_field("rbp", r.bp).address_field("r8", r.r8).address_field("r9", r.r9);
  w.address_field("r10", r.r10).address_field("r11", r.r11).address_field("r12", r.r12);
  w.address_field("r13", r.r13).address_field("r14", r.r14).address_field("r15", r.r15);
  if (!r.from_cpu_note) w.address_field("orig_rax", r.orig_ax);
  w.address_field("cs", r.cs).address_field("ss", r.ss);
  w.end().end();
}

// One task of bt's document: the header's fields, then the trace (or why there is none).
void task_json(json::Writer& w, kernel::Kernel& k, const Task& t, const BtTrace* tr, std::string_view error,
               const BtOptions& o) {
  w.object().field("pid", t.pid).address_field("task", t.addr).field("cpu", t.idle ? t.idle_cpu : t.cpu);
  w.field("command", t.comm);
  if (tr && tr->start) {
    w.key("start");
    exception_json(w, k, *tr->start, std::nullopt, false);
  } else {
    w.null_field("start");
  }
  w.key("frames").array();
  for (size_t i = 0; tr && i < tr->frames.size(); ++i) {
    const BtFrame& f = tr->frames[i];
    w.object().field("level", i).address_field("sp", f.sp).address_field("ip", f.ip);
    if (f.symbol.name.empty()) w.null_field("symbol").null_field("offset");
    else w.field("symbol", f.symbol.name).field("offset", f.symbol.offset);
    if (f.symbol.module.empty()) w.null_field("module");
    else w.field("module", f.symbol.module);
    w.field("stack", f.stack);
    if (o.lines) {
      if (f.line) w.field("file", f.line->file).field("line", f.line->line);
      else w.null_field("file").null_field("line");
    }
    w.key("exception");
    if (f.exception) exception_json(w, k, *f.exception, f.exception_line, o.lines);
    else w.null();
    w.end();
  }
  w.end();
  if (tr && !tr->stopped.empty()) w.field("stopped", tr->stopped);
  else w.null_field("stopped");
  if (!error.empty()) w.field("error", error);
  w.end();
}

// bt's one document: {"command":"bt","tasks":[...]}, the tasks the text would show (-R: those
// referencing the symbol; -n idle: an idle task's header only, an empty frame list).
Result<void> print_bt_json(Session& s, const kernel::TaskTable& tt, const std::vector<const Task*>& targets,
                           const BtOptions& o, Output& out) {
  kernel::Kernel& k = s.kernel;
  json::Writer w;
  w.object().field("command", "bt").key("tasks").array();
  for (const Task* t : targets) {
    TRY(check_interrupt());
    if (o.skip_idle && t->pid == 0 && !(tt.panic && *tt.panic == t->addr)) {
      task_json(w, k, *t, nullptr, "", o);
      continue;
    }
    auto bt = kernel::unwind(k, tt, *t);
    if (!o.ref.empty() && (!bt || !references(k, *bt, o.ref))) continue;
    if (!bt) {
      task_json(w, k, *t, nullptr, bt.error().message, o);
      continue;
    }
    BtTrace tr = collect_trace(k, *bt, o);
    task_json(w, k, *t, &tr, "", o);
  }
  w.end().end();
  w.print_line(out);
  return ok();
}

Result<void> print_bt(Session& s, const kernel::TaskTable& tt, const Task& t, const BtOptions& o, Output& out) {
  kernel::Kernel& k = s.kernel;
  if (!o.ref.empty()) {
    // -R: the trace only when it references the symbol, then a blank line.
    auto bt = kernel::unwind(k, tt, t);
    if (!bt || !references(k, *bt, o.ref)) return ok();
    BtOptions plain = o;
    plain.ref.clear();
    TRY(print_bt(s, tt, t, plain, out));
    out.print("\n");
    return ok();
  }
  out.print("{}\n", task_header(t));
  // -n idle: an idle task shows only its header, unless it is the one that panicked or its
  // trace starts from a crash-path word (crash's dump-file search finds one and clears its
  // BT_SKIP_IDLE: 6.1 kdump-irq.elf's swapper/0 stopped in crash_nmi_callback).
  if (o.skip_idle && t.pid == 0 && !(tt.panic && *tt.panic == t.addr) && !kernel::starts_on_crash_path(k, tt, t))
    return ok();
  if (o.raw) {
    auto [lo, hi] = TRY(kernel::task_stack(k, t));
    return print_words(k, out, lo, hi - 8, "", "  ", true);
  }
  if (k.arch().machine() == EM_AARCH64) return print_bt_arm64(s, tt, t, o, out);
  if (o.eframes) return print_eframes(k, t, out);
  if (o.raw) {
    auto [lo, hi] = TRY(kernel::task_stack(k, t));
    return print_words(k, out, lo, hi - 8, "", "  ", true);
  }
  bool hooked = o.hook_ip || o.hook_sp;
  auto bt = hooked ? kernel::unwind_from_hook(k, tt, t, o.hook_ip, o.hook_sp) : kernel::unwind(k, tt, t);
  if (!bt) {
    out.print("bt: {}\n", bt.error().message);
    return ok();
  }
  if (o.text || o.all_text) {
    if (o.text && hooked) {
      // -S/-I: the text words from the given stack address (crash does not step over the
      // switch frame here), named after the given or the task's own pc.
      auto h = TRY(kernel::hook_start(k, tt, t, o.hook_ip, o.hook_sp));
      uint64_t from = o.hook_sp ? *o.hook_sp : h.sp;
      out.print("              START: {} at {:x}\n", frame_label(k, h.pc, o), h.pc);
      auto [lo, hi] = TRY(kernel::task_stack(k, t));
      if (from >= lo && from < hi) {
        std::vector<uint64_t> w((hi - from) / 8);
        TRY(k.read(from, std::span(reinterpret_cast<uint8_t*>(w.data()), w.size() * 8)));
        for (size_t i = 0; i < w.size(); ++i)
          if (is_kernel_text(k, w[i])) out.print("  [{:x}] {} at {:x}{}\n", from + 8 * i, frame_label(k, w[i], o), w[i], module_suffix(k, w[i]));
      }
      if (!bt->frames.empty() && bt->frames.back().exception && bt->frames.back().exception->user_mode())
        print_regs(out, *bt->frames.back().exception);
      return ok();
    }
    if (o.text && bt->stacks.size() > 1 && !bt->frames.empty()) return print_text_across_stacks(k, *bt, o, out);
    auto [lo, hi] = TRY(kernel::task_stack(k, t));
    uint64_t from = lo;
    if (o.text && !bt->frames.empty()) {
      // From the first frame when it is on the task's stack (a walk that ended on another
      // stack lists the task's stack whole, never a negative length).
      if (bt->frames.front().slot >= lo && bt->frames.front().slot < hi) from = bt->frames.front().slot;
      // crash's instptr: the CPU's interrupted instruction when the trace began from the
      // dump's registers, else the first frame's pc.
      uint64_t start_pc = bt->start ? bt->start->ip : bt->frames.front().pc;
      out.print("              START: {} at {:x}\n", frame_label(k, start_pc, o), start_pc);
    }
    std::vector<uint64_t> w((hi - from) / 8);
    TRY(k.read(from, std::span(reinterpret_cast<uint8_t*>(w.data()), w.size() * 8)));
    for (size_t i = 0; i < w.size(); ++i)
      if (is_kernel_text(k, w[i])) out.print("  [{:x}] {} at {:x}{}\n", from + 8 * i, frame_label(k, w[i], o), w[i], module_suffix(k, w[i]));
    if (!bt->frames.empty() && bt->frames.back().exception && bt->frames.back().exception->user_mode())
      print_regs(out, *bt->frames.back().exception);
    return ok();
  }
  if (o.old) return print_old_bt(k, t, *bt, o, out);
  return print_trace(k, collect_trace(k, *bt, o), o, out);
}

// A task to trace, or (task == nullptr) the message for an argument that names none: crash goes
// through bt's arguments in order and reports a bad one with error(INFO) where it stands,
// between the traces (`bt 1 99999`: PID 1's trace, then the message).
struct BtTarget {
  const Task* task;
  std::string error;
};

Result<std::vector<BtTarget>> bt_targets(Session& s, const kernel::TaskTable& tt, const Args& args) {
  std::vector<BtTarget> out;
  if (args.has('a')) {
    for (uint64_t a : tt.active)
      if (const Task* t = a ? tt.find(a) : nullptr) out.push_back({t, {}});
    return out;
  }
  if (args.has('p')) {
    if (!tt.panic) return Error::make(Errc::not_found, "no panic task found");
    out.push_back({tt.find(*tt.panic), {}});
    return out;
  }
  if (args.has('c')) {
    for (int cpu : TRY(parse_cpu_ranges(args.value('c'), static_cast<int>(tt.active.size())))) {
      const Task* t = tt.active[static_cast<size_t>(cpu)] ? tt.find(tt.active[static_cast<size_t>(cpu)]) : nullptr;
      if (!t) return Error::make(Errc::not_found, "no active task on CPU {}", cpu);
      out.push_back({t, {}});
    }
    return out;
  }
  if (args.positional.empty()) {
    uint64_t cur = s.current_task ? *s.current_task : (tt.panic ? *tt.panic : 0);
    if (const Task* t = tt.find(cur)) out.push_back({t, {}});
    else if (!tt.tasks.empty()) out.push_back({&tt.tasks.front(), {}});
    return out;
  }
  for (auto& a : args.positional) {
    // Like crash, bt takes PIDs and task addresses, not command names.
    if (a.empty() || a.find_first_not_of("0123456789abcdefABCDEFx") != std::string::npos) {
      out.push_back({nullptr, fmt::format("invalid task or pid value: {}", a)});
      continue;
    }
    auto r = select_tasks(tt, a);
    if (!r) {
      out.push_back({nullptr, r.error().message});
      continue;
    }
    for (auto* t : *r) out.push_back({t, {}});
  }
  return out;
}

// -I's value: a hexadecimal address or a symbol.
Result<uint64_t> parse_address(Session& s, const std::string& v) {
  if (auto n = parse_hex(v)) return *n;
  if (auto a = s.kernel.symbols().address_of(v)) return *a;
  return Error::make(Errc::usage, "invalid text address: {}", v);
}

Result<BtOptions> bt_options(Session& s, const Args& args) {
  BtOptions o;
  o.frames_data = args.has('f');
  o.lines = args.has('l');
  o.offsets = args.has('s');
  o.hex = args.has('x');
  o.text = args.has('t');
  o.all_text = args.has('T');
  o.raw = args.has('r');
  o.symbolic = args.count('F');
  o.eframes = args.has('e');
  o.old = args.has('o');
  o.thread_group = args.has('g');
  o.skip_idle = args.has('n');
  o.ref = args.value('R');
  if (args.has('I')) o.hook_ip = TRY(parse_address(s, args.value('I')));
  if (args.has('S')) {
    auto sp = parse_hex(args.value('S'));
    if (!sp) return Error::make(Errc::usage, "invalid stack address: {}", args.value('S'));
    if (*sp == 0) return Error::make(Errc::usage, "invalid stack address for this task: 0");
    o.hook_sp = *sp;
  }
  return o;
}

// -O: whether the old method is each session's default (crash keeps it in kernel flags).
std::map<const kernel::Kernel*, bool>& old_default() {
  static std::map<const kernel::Kernel*, bool> by_kernel;
  return by_kernel;
}

// STACK_END_MAGIC (include/uapi/linux/magic.h): the kernel writes it at the lowest word of
// every task stack (end_of_stack) and checks it for overflows.
constexpr uint64_t kStackEndMagic = 0x57AC6E9D;

// bt -v: every task's stack end magic and thread_info.cpu, as crash checks them.
Result<void> check_stacks(kernel::Kernel& k, const kernel::TaskTable& tt, Output& out) {
  bool any = false;
  auto cpu_off = k.offset_of("thread_info", "cpu");
  auto ti_off = k.offset_of("task_struct", "thread_info");
  for (auto& t : tt.tasks) {
    std::vector<std::string> problems;
    auto range = kernel::task_stack(k, t);
    if (range) {
      auto magic = k.read_u32(range->first);
      if (magic && *magic != kStackEndMagic) problems.push_back(fmt::format("{:x} != STACK_END_MAGIC", *magic));
    }
    if (cpu_off && ti_off) {
      auto cpu = k.read_u32(t.addr + *ti_off + *cpu_off);
      if (cpu && *cpu >= tt.active.size()) problems.push_back(fmt::format("thread_info.cpu: {}", *cpu));
    }
    if (problems.empty()) continue;
    if (any) out.print("\n");
    any = true;
    out.print("{}\n", task_header(t));
    for (auto& p : problems) out.print("possible stack overflow: {}\n", p);
  }
  if (!any) out.print("No stack overflows detected\n");
  return ok();
}

Result<void> run_bt(Session& s, const Args& args, Output& out) {
  const kernel::TaskTable& tt = *TRY(kernel::task_table(s.kernel));
  kernel::Kernel& k = s.kernel;
  bool json_out = json::wanted(s, args);
  if (json_out) {
    // The options that print something other than the frames (stack words, text scans,
    // exception frame searches, the old method, a hook) have no JSON form.
    for (char f : std::string_view("fFrtTeEvoOSI"))
      if (args.has(f)) return Error::make(Errc::usage, "-{} has no JSON output (bt -j takes -a -p -c -g -l -s -x -d -n -R)", f);
    if (old_default()[&k])
      return Error::make(Errc::usage, "the old bt method (bt -O) has no JSON output: bt -O again restores the default");
  }
  if (k.arch().machine() == EM_AARCH64) {
    // arm64 has its own walk (print_bt_arm64); the x86_64 stack checks, searches and the
    // JSON form are not written for it yet.
    for (char f : std::string_view("vEeoOSIfFR"))
      if (args.has(f)) return Error::make(Errc::unsupported, "-{} is not supported on arm64 yet", f);
    if (json_out) return Error::make(Errc::unsupported, "bt -j is not supported on arm64 yet");
  }
  if (args.has('v')) return check_stacks(k, tt, out);
  if (args.has('E')) return search_cpu_stacks(k, tt, out);
  if (args.has('O')) {
    for (int i = 0; i < args.count('O'); ++i) {
      bool& old = old_default()[&k];
      old = !old;
      out.print("bt: use {} bt method by default\n", old ? "old" : "new");
    }
    return ok();
  }
  if (args.has('n') && args.value('n') != "idle") return Error::make(Errc::usage, "-n option not supported");
  if (args.has('g') && (args.has('a') || args.has('c')))
    return Error::make(Errc::usage, "-{} option cannot be used with the -g option", args.has('a') ? 'a' : 'c');
  BtOptions o = TRY(bt_options(s, args));
  auto targets = TRY(bt_targets(s, tt, args));
  o.old = o.old || old_default()[&k];
  if (o.thread_group) {
    // Each target's whole thread group: the leader first, then its other threads.
    std::vector<BtTarget> group;
    for (auto& target : targets) {
      const Task* t = target.task;
      if (!t || t->pid == 0) {
        group.push_back(target);
        continue;
      }
      for (auto* l : tt.by_pid(t->tgid)) group.push_back({l, {}});
      for (auto& x : tt.tasks)
        if (x.tgid == t->tgid && x.pid != t->tgid) group.push_back({&x, {}});
    }
    targets = group;
  }
  if (json_out) {
    std::vector<const Task*> tasks;
    for (auto& target : targets) {
      if (!target.task) return kernel::info_error(k, Error::make(Errc::not_found, "{}", target.error));
      tasks.push_back(target.task);
    }
    return print_bt_json(s, tt, tasks, o, out);
  }
  bool failed = false;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i && o.ref.empty()) out.print("\n");
    if (!targets[i].task) {
      // error(INFO): the message, and bt goes on (no restart: kernel/session_flags.h).
      out.print("bt: {}\n", targets[i].error);
      failed = true;
      continue;
    }
    TRY(print_bt(s, tt, *targets[i].task, o, out));
  }
  // The command still failed (exit status, --stop-on-error); its messages are out already.
  if (failed) return kernel::info_error(k, Error{Errc::not_found, "", std::nullopt});
  return ok();
}

}  // namespace

std::vector<Command> bt_commands() {
  return {
      json::capable(Command{CommandSpec{"bt",
                          {},
                          "backtrace",
                          "[-a|-c cpu(s)|-g|-r|-t|-T|-l|-e|-E|-f|-F|-o|-O|-v|-p] [-R ref] [-s [-x|d]]\n"
                          "     [-I ip] [-S sp] [-n idle] [pid | task]",
                          {{'a', false, "the active task on every CPU"},
                           {'p', false, "the panic task"},
                           {'c', true, "the active task on these CPUs"},
                           {'f', false, "the stack data of each frame"},
                           {'l', false, "source file and line of each frame"},
                           {'s', false, "symbol offsets"},
                           {'x', false, "hexadecimal offsets"},
                           {'d', false, "decimal offsets (the default)"},
                           {'t', false, "text addresses on the stack from the starting frame"},
                           {'T', false, "text addresses on the whole stack"},
                           {'r', false, "the raw stack"},
                           {'F', false, "like -f, stack words shown symbolically (-FF: slab addresses too)"},
                           {'e', false, "search the stack for kernel and user mode exception frames"},
                           {'E', false, "search the IRQ and exception stacks for exception frames"},
                           {'v', false, "check every task's stack for overflow"},
                           {'o', false, "old backtrace method: every text return address on the stack"},
                           {'O', false, "make the old backtrace method the default (again: undo)"},
                           {'g', false, "every thread of the task's thread group"},
                           {'n', true, "idle: only the header for idle tasks"},
                           {'R', true, "only traces that reference this symbol or text address"},
                           {'I', true, "start the trace at this text address"},
                           {'S', true, "start the trace at this stack address"},
                           {'j', false, "JSON: the tasks and their frames as one document (not with -f -F -r -t -T -e -E -v -o -O -S -I)"}},
                          {"bt", "bt -a", "bt 1", "bt 'kworker.*'"}},
              run_bt}),
  };
}

}  // namespace coroner::commands

namespace coroner::commands {
namespace {
std::optional<std::string> slab_cache_of(kernel::Kernel& k, uint64_t v) {
  // Only kernel virtual addresses: a word such as 00ff888d2e25e000 (6.12 kdump-irq.elf, CPU
  // 0's stack) is no pointer, whatever page its low bits name.
  if (!kernel_vaddr(v)) return std::nullopt;
  auto obj = kernel::slab_object_at(k, v);
  if (!obj || !*obj) return std::nullopt;
  return (*obj)->cache_name;
}
}  // namespace
}  // namespace coroner::commands
