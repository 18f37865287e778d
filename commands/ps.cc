// ps: process status, crash's columns and markers: `>` for a task running on a CPU, kernel
// threads in brackets, sorted by PID.
#include <charconv>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "commands/builtin.h"
#include "commands/support/json.h"
#include "commands/support/parse.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/sysinfo.h"
#include "kernel/tasks.h"

namespace coroner::commands {
namespace {

using kernel::Task;

// One row of ps: what the text line and the JSON object both show.
struct PsRow {
  const Task* task;
  bool active;  // running on a CPU (crash's '>')
  int cpu;
  std::string state;     // crash's two-letter code
  kernel::TaskMemory memory;  // zeros when the mm cannot be read, as crash shows them
};

PsRow ps_row(Session& s, const kernel::TaskTable& tt, const Task& t) {
  auto mem = kernel::task_memory(s.kernel, t);
  return PsRow{&t, tt.is_active(t.addr), t.idle ? t.idle_cpu : t.cpu, kernel::task_state_code(s.kernel, t),
               mem ? *mem : kernel::TaskMemory{}};
}

void print_row(const PsRow& r, bool kstack, Output& out) {
  const Task& t = *r.task;
  std::string where = fmt::format("{:x}", t.addr);
  if (kstack) where = r.active ? "--" : fmt::format("{:x}", t.thread_sp);
  std::string comm = t.kernel_thread() ? fmt::format("[{}]", t.comm) : t.comm;
  const kernel::TaskMemory& m = r.memory;
  if (kstack && r.active)
    out.print("{}{:>8} {:>7} {:>3}  {:^16}  {}  {:>4.1f}  {:>7}  {:>7}  {}\n", r.active ? ">" : " ", t.pid, t.ppid, r.cpu,
              where, r.state, m.pct, m.vsz_kb, m.rss_kb, comm);
  else
    out.print("{}{:>8} {:>7} {:>3}  {:>16}  {}  {:>4.1f}  {:>7}  {:>7}  {}\n", r.active ? ">" : " ", t.pid, t.ppid, r.cpu,
              where, r.state, m.pct, m.vsz_kb, m.rss_kb, comm);
}

std::string cut_message(const kernel::TaskTable& tt) {
  return fmt::format("the task list is cut, {} tasks listed: {}", tt.tasks.size(), tt.cut->message);
}

// --json / -j: {"tasks":[...], "errors":[...]} (a task list cut by a damaged link: an error
// with the query "task list"); each task with the columns of the text
// (pct_mem rounded to one decimal as ps shows it, vsz and rss in KiB, comm without the
// brackets of kernel threads) plus tgid, kernel_thread and kstack (thread.sp).
void print_ps_json(Session& s, const kernel::TaskTable& tt, const std::vector<const Task*>& shown,
                   const std::vector<std::pair<std::string, std::string>>& errors, Output& out) {
  json::Writer w;
  w.object().field("command", "ps").key("tasks").array();
  for (const Task* t : shown) {
    PsRow r = ps_row(s, tt, *t);
    w.object().field("pid", t->pid).field("ppid", t->ppid).field("tgid", t->tgid).field("cpu", r.cpu);
    w.address_field("task", t->addr).field("state", r.state);
    w.key("pct_mem").raw_number(fmt::format("{:.1f}", r.memory.pct));
    w.field("vsz", r.memory.vsz_kb).field("rss", r.memory.rss_kb).field("comm", t->comm);
    w.field("active", r.active).field("kernel_thread", t->kernel_thread()).address_field("kstack", t->thread_sp).end();
  }
  w.end().key("errors").array();
  for (const auto& [query, message] : errors) w.object().field("query", query).field("error", message).end();
  if (tt.cut) w.object().field("query", "task list").field("error", cut_message(tt)).end();
  w.end().end().print_line(out);
}


// crash's convert_time(): jiffies as "[N days, ]HH:MM:SS".
std::string jiffies_text(uint64_t jiffies, uint64_t hz) {
  uint64_t total = jiffies / hz;
  uint64_t days = total / 86400;
  total %= 86400;
  std::string out = days ? fmt::format("{} days, ", days) : std::string();
  return out + fmt::format("{:02}:{:02}:{:02}", total / 3600, total % 3600 / 60, total % 60);
}

// crash's translate_nanoseconds(): "D HH:MM:SS.mmm".
std::string nanoseconds_text(uint64_t ns) {
  uint64_t ms = ns / 1000000;
  uint64_t secs = ms / 1000;
  return fmt::format("{} {:02}:{:02}:{:02}.{:03}", secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60, ms % 1000);
}

// ps -t: how long each task has run (whole seconds since its start, in jiffies, as crash
// computes it), its start time (task_struct.start_time, ns since boot) and its user and
// system time (ns). Without a selection, tasks are ordered by start time.
Result<void> show_times(kernel::Kernel& k, std::vector<const Task*> shown, bool sort, Output& out) {
  uint64_t hz = TRY(kernel::kernel_hz(k));
  uint64_t j64 = TRY(k.read_u64(TRY(k.symbol("jiffies_64"))));
  // jiffies start at INITIAL_JIFFIES = (unsigned long)(unsigned int)(-300*HZ).
  uint64_t now = j64 - static_cast<uint64_t>(static_cast<uint32_t>(-300 * static_cast<int64_t>(hz)));
  struct Times {
    const Task* t;
    uint64_t start, utime, stime;
  };
  std::vector<Times> rows;
  for (auto* t : shown)
    rows.push_back({t, TRY(k.member<uint64_t>(t->addr, "task_struct", "start_time")),
                    TRY(k.member<uint64_t>(t->addr, "task_struct", "utime")),
                    TRY(k.member<uint64_t>(t->addr, "task_struct", "stime"))});
  if (sort)
    std::stable_sort(rows.begin(), rows.end(), [](const Times& a, const Times& b) { return a.start < b.start; });
  for (auto& r : rows) {
    // start_time is ns (3.17+); crash counts whole seconds of it in jiffies.
    uint64_t started = r.start / 1000000000 * hz;
    uint64_t ran = started > now ? 0 : now - started;
    out.print("{}\n", task_header(*r.t));
    out.print("    RUN TIME: {}\n", jiffies_text(ran, hz));
    out.print("  START TIME: {}\n", r.start);
    out.print("       UTIME: {}\n", static_cast<int64_t>(r.utime));
    out.print("       STIME: {}\n\n", static_cast<int64_t>(r.stime));
  }
  return ok();
}

// The user page table of an mm, as a physical address (mm->pgd is in the direct map).
Result<uint64_t> user_root(kernel::Kernel& k, uint64_t mm) {
  uint64_t pgd = TRY(k.member<uint64_t>(mm, "mm_struct", "pgd"));
  auto pa = k.arch().linear_vtop(pgd);
  if (!pa) return Error::make(Errc::bad_data, "mm_struct {:x}: pgd {:x} is not in the direct map", mm, pgd);
  return *pa;
}

// ps -a: the command line and environment from the task's user memory, between the mm's
// arg_start and env_end, read page by page through its own page tables.
void show_args(kernel::Kernel& k, const Task& t, Output& out) {
  out.print("{}\n", task_header(t));
  if (!t.mm) {
    out.print("ps: no user stack\n\n");
    return;
  }
  auto field = [&](const char* name) { return k.member<uint64_t>(t.mm, "mm_struct", name); };
  auto as = field("arg_start"), ae = field("arg_end"), es = field("env_start"), ee = field("env_end");
  auto root = user_root(k, t.mm);
  if (!as || !ae || !es || !ee || !root) {
    out.print("ps: cannot read mm_struct {:x}\n\n", t.mm);
    return;
  }
  constexpr uint64_t kMaxArgs = 4u << 20;  // far above ARG_MAX's usual 2 MiB
  uint64_t page = k.arch().page_size();
  if (*ee < *as) {
    // env_end below arg_start (a task caught in exec before its stack was set up): crash reads
    // env_end - arg_start bytes as an unsigned length, so it reads on from arg_start until a
    // page is not mapped and names that page. Follow it that far, within kMaxArgs.
    for (uint64_t v = *as; v - *as < kMaxArgs; v += page - v % page) {
      auto pa = k.arch().walk(*root, v, nullptr);
      uint8_t byte = 0;
      if (!pa || !k.dump().read(*pa, std::span(&byte, 1))) {
        out.print("ps: cannot access user stack address: {:x}\n\n", v);
        return;
      }
    }
  }
  if (*ee < *as || *ee - *as > kMaxArgs || *ae < *as || *es < *as || *ae > *ee || *es > *ee) {
    out.print("ps: invalid argument/environment range {:x}-{:x}\n\n", *as, *ee);
    return;
  }
  std::vector<uint8_t> buf(*ee - *as);
  for (uint64_t v = *as; v < *ee;) {
    uint64_t n = std::min(page - v % page, *ee - v);
    auto pa = k.arch().walk(*root, v, nullptr);
    if (!pa || !k.dump().read(*pa, std::span(buf.data() + (v - *as), n))) {
      out.print("ps: cannot access user stack address: {:x}\n\n", v);
      return;
    }
    v += n;
  }
  std::string text = "ARG: ";
  int c = 0;
  for (uint64_t i = 0; i < *ae - *as; ++i) {
    if (buf[i] == 0) {
      if (c) text += ' ';
      c = 0;
    } else {
      text += static_cast<char>(buf[i]);
      ++c;
    }
  }
  text += "\nENV: ";
  c = 0;
  int d = 0;
  for (uint64_t i = *es - *as; i < *ee - *as; ++i) {
    if (buf[i] == 0) {
      if (c) text += '\n';
      c = 0;
    } else {
      if (!c && i != *es - *as) text += "     ";
      text += static_cast<char>(buf[i]);
      ++c, ++d;
    }
  }
  text += d ? "\n" : "\n\n";
  out.write(text);
}

// ps -r: the resource limits of the task's thread group (signal->rlim), crash's table.
Result<void> show_rlimits(kernel::Kernel& k, const Task& t, Output& out) {
  static const char* names[] = {"CPU",     "FSIZE", "DATA",  "STACK",      "CORE",     "RSS",  "NPROC",  "NOFILE",
                                "MEMLOCK", "AS",    "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};
  auto& types = k.types();
  auto sig_t = TRY(types.find("struct signal_struct"));
  auto rlim = TRY(types.member(sig_t, "rlim"));
  auto arr = types.array(types.resolve(rlim.type));
  if (!arr || arr->second == 0 || arr->second > 64) return Error::make(Errc::bad_data, "cannot determine rlimit array size");
  uint64_t count = arr->second;
  uint64_t esize = TRY(types.size_of(arr->first));
  uint64_t cur_off = TRY(k.offset_of("rlimit", "rlim_cur")), max_off = TRY(k.offset_of("rlimit", "rlim_max"));
  uint64_t signal = TRY(k.member<uint64_t>(t.addr, "task_struct", "signal"));
  size_t len1 = 0;
  for (uint64_t i = 0; i < count && i < std::size(names); ++i) len1 = std::max(len1, std::string_view(names[i]).size());
  const size_t len2 = std::string_view("(unlimited)").size();
  auto center = [&](std::string v) {
    size_t left = v.size() < len2 ? (len2 - v.size()) / 2 : 0;
    return std::string(left, ' ') + v + std::string(len2 > left + v.size() ? len2 - left - v.size() : 0, ' ');
  };
  out.print("{}\n", task_header(t));
  std::vector<uint8_t> raw(count * esize);
  TRY(k.read(signal + rlim.offset(), raw));
  out.print("  {:>{}}   {}   {}\n", "RLIMIT", len1, center("CURRENT"), center("MAXIMUM"));
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t cur = 0, max = 0;
    std::memcpy(&cur, raw.data() + i * esize + cur_off, 8);
    std::memcpy(&max, raw.data() + i * esize + max_off, 8);
    auto value = [&](uint64_t v) { return v == ~uint64_t{0} ? std::string("(unlimited)") : center(fmt::format("{}", v)); };
    out.print("  {:>{}}   {}   {}\n", i < std::size(names) ? names[i] : "(unknown)", len1, value(cur), value(max));
  }
  out.print("\n");
  return ok();
}

// The CPUs of -C: "all", or crash's CPU list.
Result<std::vector<int>> parse_cpus(const std::string& spec, size_t ncpus) {
  if (spec != "all") return parse_cpu_ranges(spec, static_cast<int>(ncpus));
  std::vector<int> out;
  for (size_t c = 0; c < ncpus; ++c) out.push_back(static_cast<int>(c));
  return out;
}

int task_cpu(const Task& t) { return t.idle ? t.idle_cpu : t.cpu; }

// ps -m: how long ago each task last arrived on a CPU, against that CPU's runqueue clock.
Result<uint64_t> rq_clock(kernel::Kernel& k, int cpu) {
  uint64_t rq = TRY(k.per_cpu("runqueues", cpu));
  return k.member<uint64_t>(rq, "rq", "clock");
}

Result<void> run_ps(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  bool json_out = json::wanted(s, args);
  if (json_out)
    for (char f : {'a', 't', 'c', 'p', 'g', 'l', 'm', 'S', 'r', 'C'})
      if (args.has(f)) return Error::make(Errc::usage, "-{} has no JSON output (the task list has: [-k|-u|-G|-A] [tasks])", f);
  std::vector<std::pair<std::string, std::string>> json_errors;  // (argument, why) of what selects nothing
  int modes = 0;
  for (char f : {'a', 't', 'c', 'p', 'g', 'l', 'm', 'S', 'r', 'A'}) modes += args.has(f) ? 1 : 0;
  if (modes > 1)
    return Error::make(Errc::usage, "-a, -t, -c, -p, -g, -l, -m, -S, -r and -A flags are all mutually-exclusive");
  if (args.has('C') && !args.has('l') && !args.has('m'))
    return Error::make(Errc::usage, "-C option is only applicable with -l and -m");
  if (args.has('S') && !args.positional.empty()) return Error::make(Errc::usage, "-S option takes no arguments");
  if (args.has('S') && (args.has('u') || args.has('k') || args.has('G')))
    return Error::make(Errc::usage, "-S option cannot be used with other options");
  if (args.has('G') && (args.has('l') || args.has('m')))
    return Error::make(Errc::usage, "-G not supported with -{} option", args.has('l') ? 'l' : 'm');

  // Which tasks: the arguments' selection (in argument order), else all; then -k/-u/-G.
  std::vector<const Task*> sel;
  if (args.positional.empty()) {
    for (auto& t : tt.tasks) sel.push_back(&t);
  } else {
    // crash walks the task table once and lists a task once for every argument naming it.
    if (args.has('C')) out.print("ps: -C option is not applicable with specified tasks\n");
    std::vector<std::vector<const Task*>> per_arg;
    for (auto& a : args.positional) {
      auto r = select_tasks(tt, a);
      if (!r) {
        // crash: a number that names no task is an error; a command name that matches none
        // shows nothing; a bad regex ends the command.
        std::string_view h = a;
        if (h.substr(0, 2) == "0x") h.remove_prefix(2);
        bool number = !h.empty() && h.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
        if (a.size() >= 2 && a.front() == '\'' && a.back() == '\'') {
          if (json_out) return r.error();
          out.print("ps: {}\n", r.error().message);
          return Error{Errc::usage, "", std::nullopt};
        }
        if (number && json_out) json_errors.emplace_back(a, "invalid task or pid value");
        else if (number) out.print("ps: invalid task or pid value: {}\n\n", a);
        continue;
      }
      per_arg.push_back(*r);
    }
    std::vector<const Task*> ordered;
    for (auto& t : tt.tasks)
      for (auto& matches : per_arg)
        for (auto* x : matches)
          if (x == &t) ordered.push_back(&t);
    sel = ordered;
  }
  std::vector<const Task*> shown;
  for (auto* t : sel) {
    if (args.has('k') && !t->kernel_thread()) continue;
    if (args.has('u') && t->kernel_thread()) continue;
    if (args.has('G') && t->pid != t->tgid) continue;
    if (args.has('A') && !tt.is_active(t->addr)) continue;
    shown.push_back(t);
  }
  if (json_out) {
    print_ps_json(s, tt, shown, json_errors, out);
    return ok();
  }

  if (args.has('S')) {
    // Counts per state, in crash's order of first appearance by state code.
    std::map<std::string, int> counts;
    std::vector<std::string> order{"RU", "IN", "UN", "ID", "ST", "TR", "ZO", "DE", "PA", "WA", "NE", "??"};
    for (auto* t : shown) counts[kernel::task_state_code(k, *t)]++;
    for (auto& st : order)
      if (counts.count(st)) out.print("  {}: {}\n", st, counts[st]);
    return ok();
  }
  if (args.has('p')) {
    // Parental hierarchy: init_task first, each generation indented by one more space.
    for (size_t i = 0; i < shown.size(); ++i) {
      std::vector<const Task*> chain{shown[i]};
      for (int guard = 0; guard < 4096; ++guard) {
        const Task* p = tt.find(chain.back()->parent);
        if (!p || p == chain.back()) break;
        chain.push_back(p);
      }
      int depth = 0;
      for (auto it = chain.rbegin(); it != chain.rend(); ++it, ++depth)
        out.print("{}{}\n", std::string(depth, ' '), task_header(**it));
      out.print("\n");
    }
    return ok();
  }
  if (args.has('c')) {
    for (size_t i = 0; i < shown.size(); ++i) {
      out.print("{}\n", task_header(*shown[i]));
      bool any = false;
      for (auto& t : tt.tasks)
        if (t.parent == shown[i]->addr && &t != shown[i] && !t.idle) {
          out.print("  {}\n", task_header(t));
          any = true;
        }
      if (!any) out.print("  (no children)\n");
      out.print("\n");
    }
    return ok();
  }
  if (args.has('g')) {
    std::set<int32_t> groups;
    for (size_t i = 0; i < shown.size(); ++i) {
      const Task* leader = nullptr;
      for (auto* t : tt.by_pid(shown[i]->tgid)) leader = t;
      if (!leader || !groups.insert(leader->tgid).second) continue;
      out.print("{}\n", task_header(*leader));
      bool any = false;
      for (auto& t : tt.tasks)
        if (t.tgid == leader->tgid && &t != leader) out.print("  {}\n", task_header(t)), any = true;
      if (!any) out.print("  (no threads)\n");
      out.print("\n");
    }
    return ok();
  }
  if (args.has('t')) return show_times(k, shown, args.positional.empty(), out);
  if (args.has('a')) {
    for (auto* t : shown) show_args(k, *t, out);
    return ok();
  }
  if (args.has('r')) {
    for (auto* t : shown)
      if (auto r = show_rlimits(k, *t, out); !r) out.print("ps: {}\n\n", r.error().message);
    return ok();
  }
  if (args.has('m') || args.has('l')) {
    // Most recent first; crash sorts its whole task table this way (stable, from PID order).
    std::vector<const Task*> by_time = shown;
    std::stable_sort(by_time.begin(), by_time.end(),
                     [](const Task* a, const Task* b) { return a->last_arrival > b->last_arrival; });
    // -l: the timestamp column is as wide as the most recent timestamp of all tasks.
    uint64_t newest = 0;
    for (auto& t : tt.tasks) newest = std::max(newest, t.last_arrival);
    size_t width = fmt::format("{}", newest).size();
    std::map<int, uint64_t> clocks;  // -m: each CPU's runqueue clock
    auto stamp = [&](const Task& t) -> Result<std::string> {
      if (args.has('l')) return fmt::format("[{:>{}}]", t.last_arrival, width);
      int cpu = task_cpu(t);
      if (!clocks.count(cpu)) clocks[cpu] = TRY(rq_clock(k, cpu));
      uint64_t now = clocks[cpu];
      std::string since = nanoseconds_text(now > t.last_arrival ? now - t.last_arrival : 0);
      // The days column padded to the width of the CPU clock's own.
      size_t max_days = nanoseconds_text(now).find(' '), days = since.find(' ');
      return fmt::format("[{}{}]", std::string(max_days > days ? max_days - days : 0, ' '), since);
    };
    if (!args.has('C')) {
      for (auto* t : by_time)
        out.print("{} [{}]  {}\n", TRY(stamp(*t)), kernel::task_state_code(k, *t), task_header(*t));
      return ok();
    }
    // Per CPU, over every task. With tasks named as well, crash warns (above) and still lists
    // the CPUs, once for each task named.
    std::vector<const Task*> every;
    for (auto& t : tt.tasks) every.push_back(&t);
    std::stable_sort(every.begin(), every.end(),
                     [](const Task* a, const Task* b) { return a->last_arrival > b->last_arrival; });
    auto cpus = TRY(parse_cpus(args.value('C'), tt.active.size()));
    size_t repeat = args.positional.empty() ? 1 : shown.size();
    for (size_t n = 0; n < repeat; ++n)
      for (size_t i = 0; i < cpus.size(); ++i) {
        out.print("{}CPU: {}\n", i ? "\n" : "", cpus[i]);
        for (auto* t : every)
          if (task_cpu(*t) == cpus[i])
            out.print("{} [{}]  {}\n", TRY(stamp(*t)), kernel::task_state_code(k, *t), task_header(*t));
      }
    return ok();
  }

  bool kstack = args.has('s');
  out.print("{}", kstack ? "      PID    PPID  CPU      KSTACKP      ST  %MEM      VSZ      RSS  COMM\n"
                        : "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\n");
  for (auto* t : shown) print_row(ps_row(s, tt, *t), kstack, out);
  return ok();
}

// A task list cut by a damaged link: the tasks reached are listed, then the error naming
// where the walk stopped (a non-zero exit status for scripts), as crash lists what it found.
// In JSON the cut is in the document's "errors" (one document per command), and the command
// still fails.
Result<void> run_ps_reached(Session& s, const Args& args, Output& out) {
  TRY(run_ps(s, args, out));
  const kernel::TaskTable& tt = *TRY(kernel::task_table(s.kernel));
  if (tt.cut && json::wanted(s, args)) return Error{tt.cut->code, "", std::nullopt};
  if (tt.cut) return Error::make(tt.cut->code, "{}", cut_message(tt));
  return ok();
}

Command ps_command() {
  return Command{
      CommandSpec{"ps",
                  {},
                  "display process status information",
                  "[-k|-u|-G|-y policy] [-s] [-p|-c|-t|-[l|m][-C cpu]|-a|-g|-r|-S|-A|-H]\n"
                  "     [pid | task | command] ...",
                  {{'k', false, "kernel threads only"},
                   {'u', false, "user tasks only"},
                   {'G', false, "thread group leaders only"},
                   {'s', false, "show the kernel stack pointer instead of the task address"},
                   {'p', false, "parental hierarchy"},
                   {'c', false, "children"},
                   {'l', false, "last run timestamp, most recent first"},
                   {'g', false, "thread groups"},
                   {'S', false, "count of tasks in each state"},
                   {'A', false, "active tasks only (one per CPU)"},
                   {'t', false, "run time, start time, user and system time"},
                   {'a', false, "command line arguments and environment"},
                   {'r', false, "resource limits"},
                   {'m', false, "time since each task last ran, as days hh:mm:ss.ms"},
                   {'C', true, "with -l or -m: per CPU (N, N-M, list, or all)"},
                   {'j', false, "JSON: the selected tasks as one document (not with -p -c -g -t -a -r -l -m -S)"}},
                  {"ps", "ps -k", "ps 1 'kworker.*'", "ps -p 116", "ps -S", "ps -t 1", "ps -a sh", "ps -r 1", "ps -m -C 0"}},
      run_ps_reached};
}

}  // namespace

std::vector<Command> ps_commands() { return {json::capable(ps_command())}; }

}  // namespace coroner::commands
