// sig: a task's signal handling as crash shows it.
//
//   PID: 1        TASK: ffff8ba941236100  CPU: 0    COMMAND: "init"
//   SIGNAL_STRUCT: ffff8ba941246880  NR_THREADS: 1
//    SIG    SIGACTION        HANDLER       MASK       FLAGS
//    [1] ffff8ba94123dae0    SIG_DFL 0000000000000000 0
//    [2] ffff8ba94123db00     525892 fffffffe7ffbfeff 4000000 (SA_RESTORER)
//   ...
//   SIGPENDING: no
//      BLOCKED: 0000000000000000
//   PRIVATE_PENDING
//       SIGNAL: 0000000000000000
//     SIGQUEUE: (empty)
//   SHARED_PENDING
//   ...
//
// `sig -g` shows the thread group's dispositions once, then each thread's own state
// indented; `sig -l` lists the signal names, `sig -s SIGSET` names a set's signals.
#include <charconv>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/session_flags.h"
#include "kernel/signals.h"
#include "kernel/tasks.h"

namespace coroner::commands {
namespace {

using kernel::Task;

// Field widths crash uses on 64-bit: VADDR_PRLEN 16, UVADDR_PRLEN 10.
constexpr size_t kAddrWidth = 16;
constexpr size_t kUserAddrWidth = 10;

std::string center(const std::string& s, size_t width) {
  if (s.size() >= width) return s;
  size_t left = (width - s.size()) / 2;
  return std::string(left, ' ') + s + std::string(width - s.size() - left, ' ');
}

// sa_flags bits as crash names them, in its order (x86 uapi <asm/signal.h> values).
struct FlagName {
  uint64_t bit;
  const char* name;
};
constexpr FlagName kSaFlags[] = {{0x00000001, "SA_NOCLDSTOP"}, {0x04000000, "SA_RESTORER"}, {0x00000002, "SA_NOCLDWAIT"},
                                 {0x00000004, "SA_SIGINFO"},   {0x08000000, "SA_ONSTACK"},  {0x10000000, "SA_RESTART"},
                                 {0x40000000, "SA_NODEFER"},   {0x80000000, "SA_RESETHAND"}};

std::string flags_text(uint64_t flags) {
  std::string names;
  for (auto& f : kSaFlags)
    if (flags & f.bit) names += (names.empty() ? "" : "|") + std::string(f.name);
  return names.empty() ? "" : "(" + names + ")";
}

std::string handler_text(uint64_t h) {
  std::string s = h == ~uint64_t{0} ? "SIG_ERR" : h == 0 ? "SIG_DFL" : h == 1 ? "SIG_IGN" : fmt::format("{:x}", h);
  return s.size() >= kUserAddrWidth ? s : std::string(kUserAddrWidth - s.size(), ' ') + s;
}

void print_queue(const kernel::PendingSignals& p, const std::string& indent, Output& out) {
  if (p.queue.empty()) {
    out.print("{}  SIGQUEUE: (empty)\n", indent);
    return;
  }
  out.print("{}  SIGQUEUE:  SIG  {}\n", indent, center("SIGINFO", kAddrWidth));
  for (auto& q : p.queue) out.print("             {:3}  {:x}\n", q.signo, q.info);
}

enum Level { kGroup = 1, kTask = 2 };

// crash's dump_signal_data(): the group part, the task part, or both; `indented` for the
// threads of `sig -g`.
Result<void> show_signals(kernel::Kernel& k, const Task& t, int levels, bool indented, Output& out) {
  const std::string ind = indented ? "  " : "";
  kernel::SignalGroup g = TRY(kernel::signal_group(k, t.addr));
  if (levels & kGroup) {
    out.print("{}SIGNAL_STRUCT: {:x}  ", ind, g.signal_struct);
    if (!g.signal_struct) {
      out.print("\n");
      return ok();
    }
    if (g.count) out.print("COUNT: {}\n", *g.count);
    else if (g.nr_threads) out.print("NR_THREADS: {}\n", *g.nr_threads);
    else out.print("\n");
    out.print("{} SIG {} {} {} {:<16}\n", ind, center("SIGACTION", kAddrWidth), std::string(3, ' ') + "HANDLER",
              center("MASK", 16), "FLAGS");
    for (size_t i = 0; i < g.actions.size(); ++i) {
      const auto& a = g.actions[i];
      int sig = static_cast<int>(i + 1);
      out.print("{}{}[{}] {:<10x} {} {:016x} {:x} {}\n", ind, sig < 10 ? " " : "", sig, a.addr, handler_text(a.handler),
                a.mask, a.flags, flags_text(a.flags));
    }
  }
  if (levels & kTask) {
    kernel::TaskSignals ts = TRY(kernel::task_signals(k, t.addr));
    out.print("{}SIGPENDING: {}\n", ind, ts.sigpending ? "yes" : "no");
    out.print("{}   BLOCKED: {:016x}\n", ind, ts.blocked);
    if (g.has_shared_pending) out.print("{}PRIVATE_PENDING\n", ind);
    out.print("{}    SIGNAL: {:016x}\n", ind, ts.pending.signal);
    print_queue(ts.pending, ind, out);
  }
  if ((levels & kGroup) && g.has_shared_pending) {
    out.print("SHARED_PENDING\n");
    out.print("{}    SIGNAL: {:016x}\n", ind, g.shared.signal);
    print_queue(g.shared, ind, out);
  }
  return ok();
}

// crash's do_sig_thread_group(): the group leader's dispositions, then every thread.
Result<void> show_thread_group(kernel::Kernel& k, const kernel::TaskTable& tt, const Task& chosen, bool& idle_shown,
                               Output& out) {
  const Task* leader = &chosen;
  if (chosen.pid != chosen.tgid) {
    leader = nullptr;
    for (auto* c : tt.by_pid(chosen.tgid))
      if (c->tgid == chosen.tgid) leader = c;
    if (!leader) return ok();
  }
  if (leader->pid == 0 && idle_shown) return ok();
  out.print("{}\n", task_header(*leader));
  TRY(show_signals(k, *leader, kGroup, false, out));
  out.print("\n  {}\n", task_header(*leader));
  TRY(show_signals(k, *leader, kTask, true, out));
  for (auto& t : tt.tasks) {
    if (t.addr == leader->addr || t.tgid != leader->tgid) continue;
    out.print("\n  {}\n", task_header(t));
    TRY(show_signals(k, t, kTask, true, out));
    if (t.pid == 0) idle_shown = true;
  }
  out.print("\n");
  return ok();
}

void list_signals(int nsig, Output& out) {
  for (int i = 1; i <= nsig; ++i) {
    std::string alt = kernel::signal_alternative_name(i);
    out.print("{}[{}] {}{}\n", i < 10 ? " " : "", i, kernel::signal_name(i, nsig), alt.empty() ? "" : "/" + alt);
  }
}

// crash's translate_sigset(): names separated by spaces, lines broken before 80 columns.
void translate_sigset(uint64_t set, int nsig, Output& out) {
  if (!set) {
    out.print("(none)\n");
    return;
  }
  std::string line;
  size_t len = 0;
  int shown = 0;
  for (int i = 1; i <= nsig && i <= 64; ++i) {
    if (!((set >> (i - 1)) & 1)) continue;
    std::string word = (shown++ ? " " : "") + kernel::signal_name(i, nsig);
    if (len + word.size() > 80) {
      word.erase(0, 1);
      line += "\n";
      len = 0;
    }
    len += word.size();
    line += word;
  }
  out.print("{}\n", line);
}

bool is_number(const std::string& s) {
  std::string_view v = s;
  if (v.substr(0, 2) == "0x" || v.substr(0, 2) == "0X") v.remove_prefix(2);
  return !v.empty() && v.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

Result<void> run_sig(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  int nsig = TRY(kernel::signal_count(k));
  // -l and -s answer at once, the first one given winning (crash's getopt loop returns).
  for (auto& w : args.words) {
    if (w.rfind("-", 0) != 0) continue;
    for (char c : w.substr(1)) {
      if (c == 'l') {
        list_signals(nsig, out);
        return ok();
      }
      if (c == 's') {
        const std::string text = args.value('s');
        std::string_view v = text;
        if (v.substr(0, 2) == "0x" || v.substr(0, 2) == "0X") v.remove_prefix(2);
        uint64_t set = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), set, 16);
        if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
          out.print("sig: invalid hexadecimal value: {}\n", args.value('s'));
          return Error{Errc::usage, "", std::nullopt};
        }
        translate_sigset(set, nsig, out);
        return ok();
      }
      if (c == 'g' || c == 'R') break;
    }
  }
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  std::vector<const Task*> targets;
  bool bogus = false, reference = args.has('R');
  for (auto& a : args.positional) {
    if (is_number(a)) {
      auto sel = select_tasks(tt, a);
      if (!sel || sel->empty()) {
        out.print("sig: invalid task or pid value: {}\n\n", a);
        bogus = true;
        continue;
      }
      for (auto* t : *sel) targets.push_back(t);
    } else if (a.find(',') != std::string::npos || k.types().has_member("task_struct", a)) {
      reference = true;  // crash takes it as a -R reference
    } else {
      out.print("sig: invalid task or pid value: {}\n\n", a);
    }
  }
  if (targets.empty() && !bogus) {
    uint64_t cur = s.current_task ? *s.current_task : (tt.panic ? *tt.panic : 0);
    const Task* t = tt.find(cur);
    if (!t && !tt.tasks.empty()) t = &tt.tasks.front();
    if (t) targets.push_back(t);
  }
  bool idle_shown = false;
  for (auto* t : targets) {
    if (args.has('g')) {
      TRY(show_thread_group(k, tt, *t, idle_shown, out));
      continue;
    }
    if (reference) {
      out.print("sig: -R not supported yet\n");
      return Error{Errc::unsupported, "", std::nullopt};
    }
    out.print("{}\n", task_header(*t));
    TRY(show_signals(k, *t, kGroup | kTask, false, out));
    out.print("\n");
  }
  // crash's "invalid task or pid value" is an error(INFO): no restart (kernel/session_flags.h).
  if (bogus && targets.empty()) return kernel::info_error(k, Error{Errc::not_found, "", std::nullopt});
  return ok();
}

}  // namespace

std::vector<Command> sig_commands() {
  return {Command{CommandSpec{"sig",
                              {},
                              "task signal handling",
                              "[[-l] | [-s sigset]] | [-g] [pid | taskp] ...",
                              {{'l', false, "list the signal numbers and names"},
                               {'s', true, "name the signals of a hexadecimal sigset_t value"},
                               {'g', false, "every thread of the task's thread group"},
                               {'R', true, "reference (not supported, as in crash)"}},
                              {"sig", "sig 1", "sig -g 159", "sig -l", "sig -s 800A000000000201", "foreach sig"}},
                  run_sig}};
}

}  // namespace coroner::commands
