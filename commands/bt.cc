// bt: kernel stack backtraces in crash's layout, unwound with the kernel's ORC data.
// foreach: run a task command (bt, ps-style selection) over a set of tasks.
#include <set>

#include "commands/builtin.h"
#include "commands/support/parse.h"
#include "commands/support/symstr.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/stack.h"
#include "kernel/tasks.h"

namespace coroner::commands {
namespace {

using kernel::Task;

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
    std::string_view name = hit ? symbols::display_name(hit->symbol->name) : std::string_view();
    std::string where = !hit ? fmt::format("unknown or invalid address")
                        : hit->offset ? fmt::format("{}+{}", name, hit->offset)
                                      : std::string(name);
    out.print("    [exception RIP: {}]\n", where);
  }
  print_regs(out, r);
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
};

std::string frame_label(kernel::Kernel& k, uint64_t pc, const BtOptions& o) {
  auto hit = k.symbols().lookup(pc);
  if (!hit) return fmt::format("{:x}", pc);
  std::string_view name = symbols::display_name(hit->symbol->name);
  if (!o.offsets || hit->offset == 0) return std::string(name);
  return o.hex ? fmt::format("{}+{:#x}", name, hit->offset) : fmt::format("{}+{}", name, hit->offset);
}

// Kernel text, as -t/-T list it: an address inside a text symbol of the kernel image.
bool is_kernel_text(kernel::Kernel& k, uint64_t v) {
  auto text = k.symbols().address_of("_stext");
  auto etext = k.symbols().address_of("_etext");
  auto init = k.symbols().address_of("_sinittext");  // init text: start_kernel under swapper/0
  auto einit = k.symbols().address_of("_einittext");
  bool in_text = text && etext && v >= *text && v < *etext;
  bool in_init = init && einit && v >= *init && v < *einit;
  if (!in_text && !in_init) return false;
  auto hit = k.symbols().lookup(v);
  return hit && (hit->symbol->type == 't' || hit->symbol->type == 'T' || hit->symbol->type == 'W');
}

// Stack words from `from` to `to` inclusive, two to a line, as bt -f and -r print them.
Result<void> print_words(kernel::Kernel& k, Output& out, uint64_t from, uint64_t to, const char* indent,
                         const char* sep, bool symbolic = false) {
  if (to < from) return ok();
  uint64_t n = (to - from) / 8 + 1;
  if (n > (1u << 17)) return Error::make(Errc::out_of_bounds, "{} stack words from {:x}", n, from);
  std::vector<uint64_t> w(n);
  TRY(k.read(from, std::span(reinterpret_cast<uint8_t*>(w.data()), n * 8)));
  for (uint64_t i = 0; i < n; i += 2) {
    std::string line = fmt::format("{}{:x}:{}", indent, from + i * 8, sep);
    for (uint64_t j = i; j < n && j < i + 2; ++j) {
      auto sym = symbolic ? value_to_symstr(k, w[j]) : std::nullopt;
      line += sym ? fmt::format("{:<16} ", *sym) : fmt::format("{:016x} ", w[j]);
    }
    out.print("{}\n", line);
  }
  return ok();
}

// bt -t when the trace crosses stacks (IRQ, exception): each stack's text words from where the
// trace is on it up to its top, crash's `--- <NAME> ---` line between stacks, and each
// exception frame's registers after its entry stub's word (the pt_regs words themselves are
// not listed; a stack left through an exception frame is not listed past it). On a new stack
// crash lists the first frame itself, then the words above it; the interrupted instruction
// after an exception stack gets that stack's base as its address.
Result<void> print_text_across_stacks(kernel::Kernel& k, const kernel::Backtrace& bt, const BtOptions& o, Output& out) {
  const auto& fr = bt.frames;
  out.print("              START: {} at {:x}\n", frame_label(k, fr.front().pc, o), fr.front().pc);
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
      out.print("  [{:x}] {} at {:x}\n", interrupted ? bt.stacks[seg - 1].lo : fr[i].slot, frame_label(k, fr[i].pc, o),
                fr[i].pc);
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
      if (is_kernel_text(k, v)) out.print("  [{:x}] {} at {:x}\n", a, frame_label(k, v, o), v);
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

Result<void> print_bt(Session& s, const kernel::TaskTable& tt, const Task& t, const BtOptions& o, Output& out) {
  kernel::Kernel& k = s.kernel;
  out.print("{}\n", task_header(t));
  if (o.raw) {
    auto [lo, hi] = TRY(kernel::task_stack(k, t));
    return print_words(k, out, lo, hi - 8, "", "  ", true);
  }
  auto bt = kernel::unwind(k, tt, t);
  if (!bt) {
    out.print("bt: {}\n", bt.error().message);
    return ok();
  }
  if (o.text || o.all_text) {
    if (o.text && bt->stacks.size() > 1 && !bt->frames.empty()) return print_text_across_stacks(k, *bt, o, out);
    auto [lo, hi] = TRY(kernel::task_stack(k, t));
    uint64_t from = lo;
    if (o.text && !bt->frames.empty()) {
      from = bt->frames.front().slot;
      out.print("              START: {} at {:x}\n", frame_label(k, bt->frames.front().pc, o), bt->frames.front().pc);
    }
    std::vector<uint64_t> w((hi - from) / 8);
    TRY(k.read(from, std::span(reinterpret_cast<uint8_t*>(w.data()), w.size() * 8)));
    for (size_t i = 0; i < w.size(); ++i)
      if (is_kernel_text(k, w[i])) out.print("  [{:x}] {} at {:x}\n", from + 8 * i, frame_label(k, w[i], o), w[i]);
    if (!bt->frames.empty() && bt->frames.back().exception && bt->frames.back().exception->user_mode())
      print_regs(out, *bt->frames.back().exception);
    return ok();
  }
  if (bt->start) print_exception(k, out, *bt->start);
  for (size_t i = 0; i < bt->frames.size(); ++i) {
    auto& f = bt->frames[i];
    if (!f.left_stack.empty()) out.print("--- <{}> ---\n", f.left_stack);
    out.print("{:>3} [{:x}] {} at {:x}\n", fmt::format("#{}", i), f.slot, frame_label(k, f.pc, o), f.pc);
    if (o.lines) {
      if (auto loc = k.source_lines().lookup(f.pc - k.kaslr_offset())) out.print("    {}: {}\n", loc->file, loc->line);
    }
    if (f.exception) {
      // crash: the registers first, with -l the interrupted instruction's line, then -f's words.
      print_exception(k, out, *f.exception);
      if (o.lines && !f.exception->user_mode()) {
        if (auto loc = k.source_lines().lookup(f.exception->ip - k.kaslr_offset()))
          out.print("    {}: {}\n", loc->file, loc->line);
      }
    }
    if (o.frames_data && i + 1 < bt->frames.size() && bt->frames[i + 1].left_stack.empty())
      TRY(print_words(k, out, f.slot + 8, bt->frames[i + 1].slot, "    ", " "));
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
  if (args.has('p')) {
    if (!tt.panic) return Error::make(Errc::not_found, "no panic task found");
    out.push_back(tt.find(*tt.panic));
    return out;
  }
  if (args.has('c')) {
    for (int cpu : TRY(parse_cpu_ranges(args.value('c'), static_cast<int>(tt.active.size())))) {
      const Task* t = tt.active[static_cast<size_t>(cpu)] ? tt.find(tt.active[static_cast<size_t>(cpu)]) : nullptr;
      if (!t) return Error::make(Errc::not_found, "no active task on CPU {}", cpu);
      out.push_back(t);
    }
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

BtOptions bt_options(const Args& args) {
  BtOptions o;
  o.frames_data = args.has('f');
  o.lines = args.has('l');
  o.offsets = args.has('s');
  o.hex = args.has('x');
  o.text = args.has('t');
  o.all_text = args.has('T');
  o.raw = args.has('r');
  return o;
}

Result<void> run_bt(Session& s, const Args& args, Output& out) {
  const kernel::TaskTable& tt = *TRY(kernel::task_table(s.kernel));
  auto targets = TRY(bt_targets(s, tt, args));
  BtOptions o = bt_options(args);
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i) out.print("\n");
    TRY(print_bt(s, tt, *targets[i], o, out));
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
  // bt's own options after `bt` (foreach's parser takes none of its own).
  std::vector<std::string> sub(args.positional.begin() + static_cast<long>(i) + 1, args.positional.end());
  const Command* bt = find_command("bt");
  auto sub_args = TRY(parse_args(bt->spec, sub));
  if (!sub_args.positional.empty()) return Error::make(Errc::usage, "foreach bt: unexpected argument {}", sub_args.positional[0]);
  BtOptions o = bt_options(sub_args);
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
    TRY(print_bt(s, tt, *chosen[j], o, out));
  }
  return ok();
}

}  // namespace

std::vector<Command> bt_commands() {
  return {
      Command{CommandSpec{"bt",
                          {},
                          "backtrace",
                          "[-a|-p|-c cpu[,cpu...]] [-f|-l|-s [-x|-d]|-t|-T|-r] [pid | task] ...",
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
                           {'r', false, "the raw stack"}},
                          {"bt", "bt -a", "bt 1", "bt 'kworker.*'"}},
              run_bt},
      Command{CommandSpec{"foreach",
                          {},
                          "display command data for multiple tasks in the system",
                          "[pid | task | command]... [RU|IN|UN|ID|ST|TR|ZO|DE...] [kernel|user|active] bt",
                          {},
                          {"foreach bt", "foreach UN bt", "foreach kernel bt -s"},
                          true},
              run_foreach},
  };
}

}  // namespace coroner::commands
