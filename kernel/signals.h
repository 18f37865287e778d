// A task's signal state as crash's `sig` shows it: the thread group's dispositions
// (sighand_struct.action[], one k_sigaction per signal), its shared pending queue
// (signal_struct.shared_pending), and the task's own pending queue, blocked set and
// TIF_SIGPENDING bit. Layouts (sighand_struct, k_sigaction, sigpending, sigqueue,
// kernel_siginfo) come from the type layer; the number of signals is the length of
// sighand_struct.action (_NSIG).
//
//   auto group = TRY(signal_group(k, task.addr));
//   for (size_t i = 0; i < group.actions.size(); ++i) fmt::print("[{}] {:x}\n", i + 1, group.actions[i].handler);
//   auto own = TRY(task_signals(k, task.addr));
//   std::string names = sigset_names(own.pending.signal, TRY(signal_count(k)));
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct SigAction {
  uint64_t addr = 0;     // the k_sigaction in sighand_struct.action[]
  uint64_t handler = 0;  // sa_handler: 0 SIG_DFL, 1 SIG_IGN, ~0 SIG_ERR, else a user address
  uint64_t flags = 0;    // sa_flags
  uint64_t mask = 0;     // sa_mask (first 64 signals)
};

struct QueuedSignal {
  int32_t signo = 0;  // info.si_signo
  uint64_t info = 0;  // address of the sigqueue's siginfo
};

struct PendingSignals {
  uint64_t signal = 0;  // sigpending.signal (first 64 signals)
  std::vector<QueuedSignal> queue;
};

// Thread-group level: task_struct.signal and .sighand.
struct SignalGroup {
  uint64_t signal_struct = 0;
  // signal_struct.count (before 2.6.35, printed COUNT) or .nr_threads (NR_THREADS).
  std::optional<int32_t> count, nr_threads;
  uint64_t sighand = 0;
  std::vector<SigAction> actions;  // actions[0] is signal 1
  bool has_shared_pending = false;  // signal_struct.shared_pending exists (2.6+)
  PendingSignals shared;
};

// Task level.
struct TaskSignals {
  bool sigpending = false;  // TIF_SIGPENDING in thread_info.flags
  // crash reads `blocked` as two longs, the second shifted left by 32 (its 32-bit sigset
  // reading applied to a 64-bit one): on x86_64 the word after blocked (real_blocked) leaks
  // into the high half. Kept as crash computes it, since scripts compare this field.
  uint64_t blocked = 0;
  PendingSignals pending;
};

// The number of signals: the length of sighand_struct.action (_NSIG, 64 on x86_64).
Result<int> signal_count(Kernel& k);

// Thread-group data; `signal_struct` 0 (an exited task) leaves the rest empty.
Result<SignalGroup> signal_group(Kernel& k, uint64_t task);
Result<TaskSignals> task_signals(Kernel& k, uint64_t task);

// Signal names, crash's: "SIGHUP", ..., "SIGRTMIN", "SIGRTMIN+1" ... "SIGRTMAX-1", "SIGRTMAX".
// `alternative` gives the second name some signals have ("SIGIOT" for 6), else "".
std::string signal_name(int sig, int nsig);
std::string signal_alternative_name(int sig);

}  // namespace coroner::kernel
