#include "kernel/signals.h"

#include <array>
#include <cstring>

#include <fmt/format.h>

#include "kernel/walkers.h"

namespace coroner::kernel {
namespace {

// x86's TIF_SIGPENDING bit in thread_info.flags (arch/x86/include/asm/thread_info.h; 2 since
// the i386/x86_64 merge). A macro, so not in BTF.
constexpr int kTifSigpending = 2;
// The first real-time signal (SIGRTMIN, 32 on every architecture crash supports).
constexpr int kSigRtMin = 32;
// A pending queue longer than this is corrupt (RLIMIT_SIGPENDING defaults to a few thousand).
constexpr size_t kMaxQueued = 1u << 16;

struct ClassicName {
  const char* name;
  const char* alt;
};
constexpr std::array<ClassicName, 32> kNames = {{{nullptr, nullptr},   {"SIGHUP", nullptr},   {"SIGINT", nullptr},
                                                 {"SIGQUIT", nullptr}, {"SIGILL", nullptr},   {"SIGTRAP", nullptr},
                                                 {"SIGABRT", "SIGIOT"}, {"SIGBUS", nullptr},  {"SIGFPE", nullptr},
                                                 {"SIGKILL", nullptr}, {"SIGUSR1", nullptr},  {"SIGSEGV", nullptr},
                                                 {"SIGUSR2", nullptr}, {"SIGPIPE", nullptr},  {"SIGALRM", nullptr},
                                                 {"SIGTERM", nullptr}, {"SIGSTKFLT", nullptr}, {"SIGCHLD", "SIGCLD"},
                                                 {"SIGCONT", nullptr}, {"SIGSTOP", nullptr},  {"SIGTSTP", nullptr},
                                                 {"SIGTTIN", nullptr}, {"SIGTTOU", nullptr},  {"SIGURG", nullptr},
                                                 {"SIGXCPU", nullptr}, {"SIGXFSZ", nullptr},  {"SIGVTALRM", nullptr},
                                                 {"SIGPROF", nullptr}, {"SIGWINCH", nullptr}, {"SIGIO", "SIGPOLL"},
                                                 {"SIGPWR", nullptr},  {"SIGSYS", "SIGUNUSED"}}};

// The first 64 bits of a sigset_t at `addr`.
Result<uint64_t> read_sigset(Kernel& k, uint64_t addr) { return k.read_u64(addr); }

// A struct sigpending at `addr`: its signal set and the sigqueue entries on its list.
Result<PendingSignals> read_pending(Kernel& k, uint64_t addr) {
  PendingSignals p;
  p.signal = TRY(read_sigset(k, addr + TRY(k.offset_of("sigpending", "signal"))));
  uint64_t head = addr + TRY(k.offset_of("sigpending", "list"));
  uint64_t list_off = TRY(k.offset_of("sigqueue", "list"));
  uint64_t info_off = TRY(k.offset_of("sigqueue", "info"));
  uint64_t signo_off = TRY(k.offset_of("sigqueue", "info.si_signo"));
  for (uint64_t node : TRY(list_walk(k, head, kMaxQueued))) {
    uint64_t q = node - list_off;
    p.queue.push_back({static_cast<int32_t>(TRY(k.read_u32(q + signo_off))), q + info_off});
  }
  return p;
}

}  // namespace

Result<int> signal_count(Kernel& k) {
  auto& types = k.types();
  symbols::TypeRef sighand = TRY(types.find("sighand_struct"));
  symbols::MemberInfo action = TRY(types.member(sighand, "action"));
  auto arr = types.array(types.resolve(action.type));
  if (!arr || arr->second == 0 || arr->second > 1024)
    return Error::make(Errc::bad_data, "sighand_struct.action is not an array of signals");
  return static_cast<int>(arr->second);
}

Result<SignalGroup> signal_group(Kernel& k, uint64_t task) {
  SignalGroup g;
  g.signal_struct = TRY(k.member<uint64_t>(task, "task_struct", "signal"));
  if (!g.signal_struct) return g;
  if (k.types().has_member("signal_struct", "count"))
    g.count = static_cast<int32_t>(TRY(k.member_uint(g.signal_struct, "signal_struct", "count")));
  else if (k.types().has_member("signal_struct", "nr_threads"))
    g.nr_threads = static_cast<int32_t>(TRY(k.member_uint(g.signal_struct, "signal_struct", "nr_threads")));

  int nsig = TRY(signal_count(k));
  g.sighand = TRY(k.member<uint64_t>(task, "task_struct", "sighand"));
  if (!g.sighand) return Error::make(Errc::bad_data, "task {:x}: task_struct.sighand is NULL", task);
  uint64_t action = g.sighand + TRY(k.offset_of("sighand_struct", "action"));
  uint64_t ksa_size = TRY(k.types().size_of_name("k_sigaction"));
  uint64_t handler_off = TRY(k.offset_of("k_sigaction", "sa.sa_handler"));
  uint64_t flags_off = TRY(k.offset_of("k_sigaction", "sa.sa_flags"));
  uint64_t mask_off = TRY(k.offset_of("k_sigaction", "sa.sa_mask"));
  std::vector<uint8_t> buf(ksa_size * static_cast<uint64_t>(nsig));
  TRY(k.read(action, buf));
  auto word = [&](uint64_t off) {
    uint64_t v = 0;
    std::memcpy(&v, buf.data() + off, sizeof v);
    return v;
  };
  for (int i = 0; i < nsig; ++i) {
    uint64_t base = ksa_size * static_cast<uint64_t>(i);
    SigAction a;
    a.addr = action + base;
    a.handler = word(base + handler_off);
    a.flags = word(base + flags_off);
    a.mask = word(base + mask_off);
    g.actions.push_back(a);
  }
  if (auto sp = k.offset_of("signal_struct", "shared_pending")) {
    g.has_shared_pending = true;
    g.shared = TRY(read_pending(k, g.signal_struct + *sp));
  }
  return g;
}

Result<TaskSignals> task_signals(Kernel& k, uint64_t task) {
  TaskSignals s;
  // thread_info lives in task_struct with CONFIG_THREAD_INFO_IN_TASK (x86 4.9+), else at the
  // bottom of the stack.
  uint64_t ti_flags = 0;
  if (auto off = k.offset_of("task_struct", "thread_info.flags")) {
    ti_flags = TRY(k.read_u32(task + *off));
  } else {
    uint64_t stack = TRY(k.member<uint64_t>(task, "task_struct", "stack"));
    ti_flags = TRY(k.member_uint(stack, "thread_info", "flags"));
  }
  s.sigpending = (ti_flags >> kTifSigpending) & 1;
  uint64_t blocked = task + TRY(k.offset_of("task_struct", "blocked"));
  uint64_t lo = TRY(k.read_u64(blocked));
  uint64_t hi = TRY(k.read_u64(blocked + 8));
  s.blocked = (hi << 32) | lo;
  s.pending = TRY(read_pending(k, task + TRY(k.offset_of("task_struct", "pending"))));
  return s;
}

std::string signal_name(int sig, int nsig) {
  if (sig <= 0 || sig > nsig) return fmt::format("{}", sig);
  if (sig < kSigRtMin) return kNames[static_cast<size_t>(sig)].name;
  if (sig == kSigRtMin) return "SIGRTMIN";
  if (sig == nsig) return "SIGRTMAX";
  // crash splits the real-time range between SIGRTMIN+n and SIGRTMAX-n, the larger half
  // counted from SIGRTMIN.
  int span = nsig - kSigRtMin - 1;
  int from_min = span - span / 2;
  int n = sig - kSigRtMin;
  if (n <= from_min) return fmt::format("SIGRTMIN+{}", n);
  return fmt::format("SIGRTMAX-{}", nsig - sig);
}

std::string signal_alternative_name(int sig) {
  if (sig <= 0 || sig >= kSigRtMin) return "";
  const char* alt = kNames[static_cast<size_t>(sig)].alt;
  return alt ? alt : "";
}

}  // namespace coroner::kernel
