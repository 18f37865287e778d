#include "kernel/tasks.h"

#include <algorithm>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "kernel/sysinfo.h"
#include "kernel/walkers.h"

namespace coroner::kernel {
namespace {

// Where each field lives in this kernel's task_struct, resolved once.
struct TaskLayout {
  uint64_t pid, tgid, comm, real_parent, mm, flags, stack, thread_sp;
  uint64_t cpu;          // thread_info.cpu (5.16+) or cpu
  uint64_t state;        // __state (5.14+) or state
  uint64_t state_size;
  uint64_t exit_state;
  std::optional<uint64_t> last_arrival;
};

Result<uint64_t> member_size(Kernel& k, std::string_view type, std::string_view path) {
  auto& types = k.types();
  auto t = TRY(types.find(type));
  auto m = TRY(types.member(t, path));
  return types.size_of(m.type);
}

Result<TaskLayout> task_layout(Kernel& k) {
  TaskLayout l{};
  const char* ts = "task_struct";
  l.pid = TRY(k.offset_of(ts, "pid"));
  l.tgid = TRY(k.offset_of(ts, "tgid"));
  l.comm = TRY(k.offset_of(ts, "comm"));
  l.real_parent = TRY(k.offset_of(ts, "real_parent"));
  l.mm = TRY(k.offset_of(ts, "mm"));
  l.flags = TRY(k.offset_of(ts, "flags"));
  l.stack = TRY(k.offset_of(ts, "stack"));
  // The saved stack pointer of a task switched out: thread.sp on x86_64, the callee-saved
  // context's sp on arm64 (thread.cpu_context.sp).
  auto tsp = k.offset_of(ts, "thread.sp");
  l.thread_sp = tsp ? *tsp : TRY(k.offset_of(ts, "thread.cpu_context.sp"));
  auto cpu = k.offset_of(ts, "thread_info.cpu");
  l.cpu = cpu ? *cpu : TRY(k.offset_of(ts, "cpu"));
  const char* state = k.types().has_member(ts, "__state") ? "__state" : "state";
  l.state = TRY(k.offset_of(ts, state));
  l.state_size = TRY(member_size(k, ts, state));
  l.exit_state = TRY(k.offset_of(ts, "exit_state"));
  if (auto la = k.offset_of(ts, "sched_info.last_arrival")) l.last_arrival = *la;
  return l;
}

Result<Task> read_task(Kernel& k, const TaskLayout& l, uint64_t addr) {
  Task t;
  t.addr = addr;
  t.pid = TRY(k.read_as<int32_t>(addr + l.pid));
  t.tgid = TRY(k.read_as<int32_t>(addr + l.tgid));
  char comm[17] = {};
  TRY(k.read(addr + l.comm, std::span(reinterpret_cast<uint8_t*>(comm), 16)));
  t.comm = comm;
  t.parent = TRY(k.read_u64(addr + l.real_parent));
  t.mm = TRY(k.read_u64(addr + l.mm));
  t.flags = TRY(k.read_u32(addr + l.flags));
  t.stack = TRY(k.read_u64(addr + l.stack));
  t.thread_sp = TRY(k.read_u64(addr + l.thread_sp));
  t.cpu = static_cast<int>(TRY(k.read_u32(addr + l.cpu)));
  t.state = l.state_size == 8 ? TRY(k.read_u64(addr + l.state)) : TRY(k.read_u32(addr + l.state));
  t.exit_state = TRY(k.read_u32(addr + l.exit_state));
  if (l.last_arrival) t.last_arrival = TRY(k.read_u64(addr + *l.last_arrival));
  return t;
}

// Task state bits (include/linux/sched.h), unchanged since 4.14. They are #defines, so
// neither BTF nor DWARF carries them.
constexpr uint64_t kInterruptible = 0x1, kUninterruptible = 0x2, kStopped = 0x4, kTraced = 0x8,
                   kExitDead = 0x10, kExitZombie = 0x20, kParked = 0x40, kDead = 0x80, kWakekill = 0x100, kWaking = 0x200,
                   kNoload = 0x400, kNew = 0x800;

struct TaskTableCache {
  std::optional<Result<TaskTable>> table;
};

}  // namespace

std::string task_state_code(Kernel&, const Task& t) {
  uint64_t s = t.state | t.exit_state;
  if (s == 0) return "RU";
  if (s & kInterruptible) return "IN";
  if (s & kUninterruptible) return (s & kNoload) ? "ID" : "UN";
  if (s & kExitZombie) return "ZO";
  if (s & kStopped) return "ST";
  if (s & kTraced) return "TR";
  if (s & (kExitDead | kDead)) return "DE";
  if (s & kParked) return "PA";
  if (s & kWaking) return "WA";
  if (s & kNew) return "NE";
  return "??";
}

std::string task_state_name(Kernel&, const Task& t) {
  // crash's verbose form: every known bit of state and exit_state, lowest first, joined by
  // '|' ("TASK_UNINTERRUPTIBLE|TASK_NOLOAD"); bits it has no name for (TASK_FREEZABLE) are left out.
  uint64_t s = t.state | t.exit_state;
  if (s == 0) return "TASK_RUNNING";
  static const std::pair<uint64_t, const char*> names[] = {
      {kInterruptible, "TASK_INTERRUPTIBLE"}, {kUninterruptible, "TASK_UNINTERRUPTIBLE"}, {kStopped, "TASK_STOPPED"},
      {kTraced, "TASK_TRACED"},   {kExitDead, "EXIT_DEAD"},     {kExitZombie, "EXIT_ZOMBIE"},
      {kParked, "TASK_PARKED"},   {kDead, "TASK_DEAD"},         {kWakekill, "TASK_WAKEKILL"},
      {kWaking, "TASK_WAKING"},   {kNoload, "TASK_NOLOAD"},     {kNew, "TASK_NEW"}};
  std::string out;
  for (auto& [bit, name] : names)
    if (s & bit) out += (out.empty() ? "" : "|") + std::string(name);
  return out.empty() ? "(unknown)" : out;
}

namespace {

// Walks the circular list at `head` (init_task.tasks, a thread group's list) and calls
// `visit` with each node's list_head address; stops at a NULL or unreadable link, a cycle, the
// `limit`, or the first error `visit` returns, and gives that error naming the address.
std::optional<Error> walk_until_cut(Kernel& k, uint64_t head, std::string_view what, size_t limit,
                                    const std::function<Result<void>(uint64_t)>& visit) {
  std::unordered_set<uint64_t> seen;
  auto first = k.read_u64(head);
  if (!first) return Error::make(Errc::fault, "{} at {:#x}: cannot read its head: {}", what, head, first.error().message);
  uint64_t prev = head, next = *first;
  while (next != head) {
    if (next == 0) return Error::make(Errc::bad_data, "{} at {:#x}: NULL next pointer in entry {:#x}", what, head, prev);
    if (!seen.insert(next).second)
      return Error::make(Errc::bad_data, "{} at {:#x}: cycle: entry {:#x} points back to {:#x}", what, head, prev, next);
    if (seen.size() > limit) return Error::make(Errc::out_of_bounds, "{} at {:#x}: more than {} entries", what, head, limit);
    auto n = k.read_u64(next);
    if (!n)
      return Error::make(Errc::fault, "{} at {:#x}: entry {:#x} (the next pointer of {:#x}) cannot be read: {}", what,
                         head, next, prev, n.error().message);
    if (auto r = visit(next); !r)
      return Error::make(r.error().code, "{} at {:#x}: entry {:#x}: {}", what, head, next, r.error().message);
    prev = next;
    next = *n;
  }
  return std::nullopt;
}

}  // namespace

Result<TaskWalk> walk_tasks(Kernel& k) {
  TaskLayout l = TRY(task_layout(k));
  TaskWalk walk;
  std::vector<Task>& out = walk.tasks;
  std::unordered_set<uint64_t> seen;
  uint64_t init_task = TRY(k.symbol("init_task"));
  uint64_t tasks_off = TRY(k.offset_of("task_struct", "tasks"));
  // No kernel has this many tasks (PID_MAX_LIMIT is 4M); a longer list is garbage.
  constexpr size_t kMaxTasks = 1u << 22;

  // Threads of a group: signal->thread_head linked through task->thread_node (3.14 ..),
  // or the older task->thread_group ring (removed in 6.7).
  bool has_thread_node = k.types().has_member("task_struct", "thread_node");
  uint64_t signal_off = TRY(k.offset_of("task_struct", "signal"));
  uint64_t thread_off = has_thread_node ? TRY(k.offset_of("task_struct", "thread_node"))
                                        : TRY(k.offset_of("task_struct", "thread_group"));
  uint64_t thread_head_off = has_thread_node ? TRY(k.offset_of("signal_struct", "thread_head")) : 0;

  auto add = [&](uint64_t addr) -> Result<void> {
    if (!seen.insert(addr).second) return ok();
    auto t = read_task(k, l, addr);
    if (!t) {
      seen.erase(addr);
      return Error::make(t.error().code, "task_struct at {:#x}: {}", addr, t.error().message);
    }
    out.push_back(std::move(*t));
    return ok();
  };

  TRY(add(init_task));
  // A cut in the task list keeps the leaders reached before it; their threads are still
  // walked. The first cut found is the one reported.
  std::vector<uint64_t> leaders{init_task};
  walk.cut = walk_until_cut(k, init_task + tasks_off, "task list", kMaxTasks, [&](uint64_t node) -> Result<void> {
    TRY(add(node - tasks_off));
    leaders.push_back(node - tasks_off);
    return ok();
  });
  for (uint64_t leader : leaders) {
    uint64_t head;
    if (has_thread_node) {
      auto signal = k.read_u64(leader + signal_off);
      if (!signal || !*signal) continue;  // a group being torn down: its leader is still listed
      head = *signal + thread_head_off;
    } else {
      head = leader + thread_off;
    }
    // The leader's own node is on its group's list too; a list whose head cannot be read
    // belongs to a group being torn down (its leader is still listed).
    if (!k.read_u64(head)) continue;
    auto cut = walk_until_cut(k, head, fmt::format("thread list of task {:#x}", leader), kMaxTasks,
                              [&](uint64_t node) { return add(node - thread_off); });
    if (cut && !walk.cut) walk.cut = std::move(cut);
  }

  // Idle tasks of the other CPUs (CPU 0's is init_task).
  auto cpus = k.cpus_in_mask("cpu_present_mask");
  if (cpus) {
    for (int cpu : *cpus) {
      auto rq = k.per_cpu("runqueues", cpu);
      if (!rq) continue;
      auto idle = k.member<uint64_t>(*rq, "rq", "idle");
      if (!idle || !*idle) continue;
      if (!seen.count(*idle)) TRY(add(*idle));
      for (auto& t : out)
        if (t.addr == *idle) t.idle = true, t.idle_cpu = cpu;
    }
  }

  std::unordered_map<uint64_t, int32_t> pid_of;
  for (auto& t : out) pid_of[t.addr] = t.pid;
  for (auto& t : out) {
    auto it = pid_of.find(t.parent);
    t.ppid = it != pid_of.end() && !t.idle ? it->second : 0;
  }
  return walk;
}

Result<std::vector<Task>> all_tasks(Kernel& k) {
  TaskWalk walk = TRY(walk_tasks(k));
  if (walk.cut) return std::move(*walk.cut);
  return std::move(walk.tasks);
}

const TaskTable* built_task_table(Kernel& k) {
  auto& cache = k.extension<TaskTableCache>();
  return cache.table && *cache.table ? &**cache.table : nullptr;
}

Result<const TaskTable*> task_table(Kernel& k) {
  auto& cache = k.extension<TaskTableCache>();
  if (!cache.table) {
    cache.table = [&]() -> Result<TaskTable> {
      TaskTable tt;
      TaskWalk walk = TRY(walk_tasks(k));
      tt.tasks = std::move(walk.tasks);
      tt.cut = std::move(walk.cut);
      std::stable_sort(tt.tasks.begin(), tt.tasks.end(), [](const Task& a, const Task& b) {
        if (a.pid != b.pid) return a.pid < b.pid;
        return a.idle_cpu < b.idle_cpu;
      });
      tt.index();
      // Present, not online: CPUs stopped by the panicking one have left cpu_online_mask.
      auto online = k.cpus_in_mask("cpu_present_mask");
      if (online && !online->empty()) {
        tt.active.assign(online->back() + 1, 0);
        for (int cpu : *online) {
          auto rq = k.per_cpu("runqueues", cpu);
          if (!rq) continue;
          if (auto curr = k.member<uint64_t>(*rq, "rq", "curr")) tt.active[cpu] = *curr;
        }
      }
      // panic() and crash_kexec() claim panic_cpu (atomic_t, -1 when nobody did).
      if (auto pc = k.symbol("panic_cpu")) {
        auto v = k.read_as<int32_t>(*pc);
        if (v && *v >= 0 && static_cast<size_t>(*v) < tt.active.size() && tt.active[*v]) {
          tt.panic_cpu = *v;
          tt.panic = tt.active[*v];
        }
      }
      return tt;
    }();
  }
  if (!*cache.table) return cache.table->error();
  return &**cache.table;
}

void TaskTable::index() {
  by_addr.clear();
  for (size_t i = 0; i < tasks.size(); ++i) by_addr.emplace(tasks[i].addr, i);
}

const Task* TaskTable::find(uint64_t addr) const {
  if (by_addr.size() == tasks.size()) {
    auto it = by_addr.find(addr);
    if (it == by_addr.end()) return nullptr;
    if (it->second < tasks.size() && tasks[it->second].addr == addr) return &tasks[it->second];
  }
  for (auto& t : tasks)  // no index (or a stale one); duplicates keep the first, as before
    if (t.addr == addr) return &t;
  return nullptr;
}

std::vector<const Task*> TaskTable::by_pid(int32_t pid) const {
  std::vector<const Task*> out;
  for (auto& t : tasks)
    if (t.pid == pid) out.push_back(&t);
  return out;
}

bool TaskTable::is_active(uint64_t addr) const { return active_cpu(addr) >= 0; }

int TaskTable::active_cpu(uint64_t addr) const {
  for (size_t c = 0; c < active.size(); ++c)
    if (active[c] == addr) return static_cast<int>(c);
  return -1;
}

Result<TaskMemory> task_memory(Kernel& k, const Task& t) {
  TaskMemory m;
  if (!t.mm) return m;
  uint64_t page_kb = k.dump().info().page_size / 1024;
  uint64_t total_vm = TRY(k.member<uint64_t>(t.mm, "mm_struct", "total_vm"));
  m.vsz_kb = total_vm * page_kb;

  auto& types = k.types();
  auto mm_t = TRY(types.find("mm_struct"));
  auto rss_m = TRY(types.member(mm_t, "rss_stat"));
  uint64_t rss_addr = t.mm + rss_m.offset();
  std::vector<int64_t> counters;
  const char* names[] = {"MM_FILEPAGES", "MM_ANONPAGES", "MM_SHMEMPAGES"};
  std::vector<int64_t> idx;
  for (auto* n : names)
    if (auto v = types.enumerator(n)) idx.push_back(*v);
  int64_t pages = 0;
  auto arr = types.array(types.resolve(rss_m.type));
  if (types.kind(types.resolve(rss_m.type)) == symbols::TypeKind::array && arr) {
    // 6.2+: struct percpu_counter rss_stat[NR_MM_COUNTERS]: count plus every CPU's delta.
    uint64_t esize = TRY(types.size_of(arr->first));
    uint64_t count_off = TRY(k.offset_of("percpu_counter", "count"));
    uint64_t counters_off = TRY(k.offset_of("percpu_counter", "counters"));
    // Every present CPU's delta: CPUs stopped at the panic are offline but kept theirs.
    auto online = TRY(k.cpus_in_mask("cpu_present_mask"));
    for (int64_t i : idx) {
      uint64_t pc = rss_addr + static_cast<uint64_t>(i) * esize;
      int64_t v = TRY(k.read_as<int64_t>(pc + count_off));
      uint64_t percpu = TRY(k.read_u64(pc + counters_off));
      if (percpu)
        for (int cpu : online) v += TRY(k.read_as<int32_t>(percpu + TRY(k.per_cpu_offset(cpu))));
      pages += v;
    }
  } else {
    // struct mm_rss_stat { atomic_long_t count[NR_MM_COUNTERS]; }, plus each thread's
    // unsynced task_struct.rss_stat (SPLIT_RSS_COUNTING, before 6.2).
    uint64_t count_off = TRY(k.offset_of("mm_rss_stat", "count"));
    for (int64_t i : idx) pages += TRY(k.read_as<int64_t>(rss_addr + count_off + static_cast<uint64_t>(i) * 8));
    if (auto split = k.offset_of("task_struct", "rss_stat.count")) {
      auto tt = TRY(task_table(k));
      for (auto& o : tt->tasks) {
        if (o.mm != t.mm) continue;
        for (int64_t i : idx) pages += TRY(k.read_as<int32_t>(o.addr + *split + static_cast<uint64_t>(i) * 4));
      }
    }
  }
  if (pages < 0) pages = 0;
  m.rss_kb = static_cast<uint64_t>(pages) * page_kb;
  uint64_t total_pages = TRY(memory_pages(k));
  if (total_pages) m.pct = static_cast<double>(pages) * 100.0 / static_cast<double>(total_pages);
  return m;
}

}  // namespace coroner::kernel
