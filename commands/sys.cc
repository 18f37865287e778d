// sys: the system banner crash prints at start-up, field for field; the system call table
// (-c), taints (-t), DMI strings (-i) and the in-kernel configuration (config).
#include <ctime>

#include "commands/builtin.h"
#include "commands/support/json.h"
#include "commands/support/symstr.h"
#include "kernel/sysinfo.h"

namespace coroner::commands {
namespace {

std::string uptime_text(uint64_t secs) {
  uint64_t days = secs / 86400, h = secs % 86400 / 3600, m = secs % 3600 / 60, s = secs % 60;
  std::string out;
  if (days) out = fmt::format("{} days, ", days);  // crash says "1 days"
  return out + fmt::format("{:02}:{:02}:{:02}", h, m, s);
}

// One load average as the kernel's LOAD_INT/LOAD_FRAC print it, rounded: "0.24".
std::string loadavg_one(uint64_t fixed) {
  constexpr uint64_t kFixed1 = 1 << 11;
  uint64_t v = fixed + kFixed1 / 200;
  return fmt::format("{}.{:02}", v >> 11, ((v & (kFixed1 - 1)) * 100) >> 11);
}

std::string loadavg_text(const std::vector<uint64_t>& a) {
  std::string out;
  for (size_t i = 0; i < a.size(); ++i) out += fmt::format("{}{}", i ? ", " : "", loadavg_one(a[i]));
  return out;
}

std::string date_text(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  localtime_r(&tt, &tm);
  char buf[128];
  strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Z %Y", &tm);
  return buf;
}

template <typename T, typename F>
std::string field(const kernel::Field<T>& f, F fmt_ok) {
  return f ? fmt_ok(*f) : std::string("(unknown)");
}

}  // namespace

namespace {

// crash marks compressed dumps that left pages out (dump level > 0) and incomplete ones.
bool partial_dump(Session& s) {
  const auto& info = s.kernel.dump().info();
  return info.dump_level && *info.dump_level > 0;
}

std::string panic_text(const kernel::SysInfo& si) {
  std::string panic = si.panic ? *si.panic : std::string();
  while (!panic.empty() && panic.back() == '\n') panic.pop_back();
  return panic;
}

// --json / -j: the banner's fields, each null when unknown (where the text says "(unknown)").
void print_sys_json(Session& s, Output& out) {
  kernel::SysInfo si = kernel::gather_sysinfo(s.kernel);
  json::Writer w;
  w.object().field("command", "sys").field("kernel", s.kernel.vmlinux_path()).key("dumpfiles").array();
  for (const auto& d : s.kernel.dump_paths()) w.string(d);
  w.end().field("partial_dump", partial_dump(s)).field("incomplete", s.kernel.dump().info().incomplete);
  auto mask = kernel::tainted_mask(s.kernel);
  if (mask) w.field("tainted", *mask != 0);
  else w.null_field("tainted");
  auto opt_int = [&](std::string_view name, const auto& f) {
    if (f) w.field(name, *f);
    else w.null_field(name);
  };
  opt_int("cpus", si.cpus);
  w.field("offline_cpus", si.offline_cpus);
  opt_int("date", si.date);
  if (si.date) w.field("date_text", date_text(*si.date));
  else w.null_field("date_text");
  opt_int("uptime_seconds", si.uptime_seconds);
  if (si.uptime_seconds) w.field("uptime", uptime_text(*si.uptime_seconds));
  else w.null_field("uptime");
  if (si.avenrun) {
    w.key("load_average").array();
    for (uint64_t v : *si.avenrun) w.raw_number(loadavg_one(v));
    w.end();
  } else {
    w.null_field("load_average");
  }
  opt_int("tasks", si.tasks);
  if (si.uts) {
    w.field("nodename", si.uts->nodename).field("release", si.uts->release).field("version", si.uts->version);
    w.field("machine", si.uts->machine);
  } else {
    for (const char* f : {"nodename", "release", "version", "machine"}) w.null_field(f);
  }
  if (si.cpu_mhz && *si.cpu_mhz) w.field("cpu_mhz", *si.cpu_mhz);
  else w.null_field("cpu_mhz");
  opt_int("memory_bytes", si.memory_bytes);
  if (si.memory_bytes) w.field("memory", kernel::memory_size_text(*si.memory_bytes));
  else w.null_field("memory");
  if (si.panic) w.field("panic", panic_text(si));
  else w.null_field("panic");
  w.end().print_line(out);
}

}  // namespace

void print_sys_banner(Session& s, Output& out) {
  kernel::SysInfo si = kernel::gather_sysinfo(s.kernel);
  // crash marks a kernel whose tainted_mask is not 0 (an oops, an out-of-tree or unsigned
  // module...); an unreadable mask gives no mark.
  auto mask = kernel::tainted_mask(s.kernel);
  out.print("      KERNEL: {}{}\n", s.kernel.vmlinux_path(), mask && *mask ? "  [TAINTED]" : "");
  // A split set gets one suffix per file, after one space instead of two.
  const auto& dumps = s.kernel.dump_paths();
  const auto& info = s.kernel.dump().info();
  std::string marks;
  if (partial_dump(s)) marks += " [PARTIAL DUMP]";
  if (info.incomplete) marks += " [INCOMPLETE]";
  if (dumps.size() == 1) {
    out.print("    DUMPFILE: {}{}{}\n", dumps[0], marks.empty() ? "" : " ", marks);
  } else {
    out.print("   DUMPFILES: {}{}\n", dumps[0], marks);
    for (size_t i = 1; i < dumps.size(); ++i) out.print("              {}{}\n", dumps[i], marks);
  }
  std::string cpus = field(si.cpus, [](int c) { return std::to_string(c); });
  if (si.offline_cpus > 0) cpus += fmt::format(" [OFFLINE: {}]", si.offline_cpus);
  out.print("        CPUS: {}\n", cpus);
  out.print("        DATE: {}\n", field(si.date, date_text));
  out.print("      UPTIME: {}\n", field(si.uptime_seconds, uptime_text));
  out.print("LOAD AVERAGE: {}\n", field(si.avenrun, loadavg_text));
  out.print("       TASKS: {}\n", field(si.tasks, [](uint64_t n) { return std::to_string(n); }));
  kernel::UtsName u = si.uts ? *si.uts : kernel::UtsName{};
  out.print("    NODENAME: {}\n", u.nodename);
  out.print("     RELEASE: {}\n", u.release);
  out.print("     VERSION: {}\n", u.version);
  out.print("     MACHINE: {}  ({})\n", u.machine,
            si.cpu_mhz && *si.cpu_mhz ? fmt::format("{} Mhz", *si.cpu_mhz) : std::string("unknown Mhz"));
  out.print("      MEMORY: {}\n", field(si.memory_bytes, kernel::memory_size_text));
  std::string panic = panic_text(si);
  out.print("       PANIC: \"{}\"{}\n", panic, panic.find("Oops: ") != std::string::npos ? " (check log for details)" : "");
}

namespace {

// The build directory crash strips from source file names: the part of schedule()'s file
// name before "/kernel/" (get_build_directory()).
std::optional<std::string> build_directory(kernel::Kernel& k) {
  const symbols::Symbol* s = k.symbols().find("schedule");
  if (!s) s = k.symbols().find("do_schedule");
  if (!s) return std::nullopt;
  auto loc = k.source_lines().lookup(s->link_addr);
  if (!loc) return std::nullopt;
  for (std::string_view cut : {"/kernel/", "/./arch/"})
    if (size_t p = loc->file.find(cut); p != std::string::npos) return loc->file.substr(0, p);
  return std::nullopt;
}

struct SyscallEntry {
  int number;
  uint64_t address;
  std::string name;  // empty: no symbol at that address
};

// sys_call_table's entries: as many as its symbol's size holds.
Result<std::vector<SyscallEntry>> syscall_table(kernel::Kernel& k) {
  const symbols::Symbol* table = k.symbols().find("sys_call_table");
  if (!table) return Error::make(Errc::not_found, "sys_call_table does not exist in this kernel");
  uint64_t base = k.symbols().address(*table);
  uint64_t n = table->size / 8;
  if (!n) {  // no size: up to the next symbol, as crash counts when DWARF says nothing
    n = 256;
    const auto& all = k.symbols().all();
    for (size_t i = static_cast<size_t>(table - all.data()) + 1; i < all.size(); ++i)
      if (all[i].link_addr > table->link_addr) {
        n = (all[i].link_addr - table->link_addr) / 8;
        break;
      }
  }
  n = std::min<uint64_t>(n, 4096);
  std::vector<SyscallEntry> out;
  auto ni = k.symbols().address_of("sys_ni_syscall");
  for (uint64_t i = 0; i < n; ++i) {
    SyscallEntry e{static_cast<int>(i), TRY(k.read_u64(base + 8 * i)), {}};
    auto hit = k.symbols().lookup(e.address);
    if (hit && hit->offset == 0) {
      e.name = ni && *ni == e.address ? "sys_ni_syscall" : value_to_symstr(k, e.address).value_or(std::string(hit->symbol->name));
    }
    out.push_back(std::move(e));
  }
  return out;
}

// "../fs/read_write.c: 621": the first address of the function whose line is not in an
// include/ header (a system call often starts with inlined header code), relative to the
// build directory.
std::string syscall_source(kernel::Kernel& k, uint64_t addr, const std::optional<std::string>& build_dir) {
  if (!build_dir) return "";
  auto hit = k.symbols().lookup(addr);
  if (!hit) return "";
  const auto& all = k.symbols().all();
  uint64_t end = 0;
  for (size_t i = static_cast<size_t>(hit->symbol - all.data()) + 1; i < all.size(); ++i)
    if (all[i].link_addr > hit->symbol->link_addr) {
      end = all[i].link_addr;
      break;
    }
  uint64_t link = addr - k.symbols().relocation();
  for (uint64_t a = link; a < end && a - link < (1u << 16); ++a) {
    auto loc = k.source_lines().lookup(a);
    if (!loc) continue;
    std::string text = fmt::format("{}: {}", loc->file, loc->line);
    if (text.find(".h: ") != std::string::npos && text.find("include/") != std::string::npos) continue;
    if (text.find(*build_dir) != std::string::npos) return ".." + text.substr(build_dir->size());
  }
  return "";
}

constexpr std::string_view kSyscallHeader = "NUM  SYSTEM CALL                FILE AND LINE NUMBER\n";

Result<void> run_syscalls(Session& s, const std::vector<std::string>& specs, Output& out) {
  auto& k = s.kernel;
  auto table = TRY(syscall_table(k));
  // crash warns and lists the table without its last column when it has no line numbers.
  if (!k.vmlinux().has_dwarf()) out.print("sys: line numbers are not available\n");
  auto build_dir = build_directory(k);
  // The NUM column follows the output radix (`set radix 16`), as crash prints it; a number
  // given on the command line is still decimal.
  auto num = [&](const SyscallEntry& e) {
    return s.output_radix == 16 ? fmt::format("{:3x}", e.number) : fmt::format("{:3}", e.number);
  };
  auto line = [&](const SyscallEntry& e) {
    return fmt::format("{}  {:<26} {}\n", num(e), e.name, syscall_source(k, e.address, build_dir));
  };
  if (specs.empty()) {
    out.write(kSyscallHeader);
    for (const auto& e : table) {
      if (e.name.empty()) {
        out.print("{}  invalid sys_call_table entry: {:x} \n", num(e), e.address);
        continue;
      }
      out.write(line(e));
    }
    return ok();
  }
  // crash filters its own table: a number matches that entry, a string every name holding it.
  bool header = false;
  for (const auto& spec : specs) {
    bool number = !spec.empty() && spec.size() < 10 && spec.find_first_not_of("0123456789") == std::string::npos;
    for (const auto& e : table) {
      if (e.name.empty()) continue;
      if (number ? e.number != std::stoi(spec) : e.name.find(spec) == std::string::npos) continue;
      if (!header) out.write(kSyscallHeader);
      header = true;
      out.write(line(e));
      if (number) break;
    }
  }
  return ok();
}

// sys -c under --json: every entry of the table (not filtered), with its source line.
Result<void> print_syscalls_json(Session& s, Output& out) {
  auto& k = s.kernel;
  auto table = TRY(syscall_table(k));
  auto build_dir = build_directory(k);
  json::Writer w;
  w.object().field("command", "sys").key("syscalls").array();
  for (const auto& e : table) {
    w.object().field("number", e.number).address_field("address", e.address);
    if (e.name.empty()) {
      w.null_field("name").null_field("source");
    } else {
      w.field("name", e.name);
      std::string src = syscall_source(k, e.address, build_dir);
      if (src.empty()) w.null_field("source");
      else w.field("source", src);
    }
    w.end();
  }
  w.end().end().print_line(out);
  return ok();
}

Result<void> run_sys_json(Session& s, const Args& a, Output& out) {
  if (a.has('t')) {
    auto t = TRY(kernel::kernel_taints(s.kernel));
    json::Writer w;
    w.object().field("command", "sys").field("tainted_mask", t.mask).field("taint_letters", t.letters).end();
    w.print_line(out);
    return ok();
  }
  if (a.has('i')) {
    auto d = TRY(kernel::dmi_info(s.kernel));
    json::Writer w;
    w.object().field("command", "sys").key("dmi").object();
    for (const auto& e : d.strings) w.field(e.field, e.value);
    w.end().end().print_line(out);
    return ok();
  }
  if (a.has('c')) {
    if (!a.positional.empty()) return Error::make(Errc::usage, "-c with names or numbers has no JSON output (the whole table has)");
    return print_syscalls_json(s, out);
  }
  if (!a.positional.empty()) return Error::make(Errc::usage, "sys config has no JSON output");
  print_sys_json(s, out);
  return ok();
}

Result<void> run_sys(Session& s, const Args& a, Output& out) {
  if (json::wanted(s, a)) return run_sys_json(s, a, out);
  if (a.has('t')) {
    auto t = TRY(kernel::kernel_taints(s.kernel));
    out.print("TAINTED_MASK: {:x}  {}\n", t.mask, t.letters);
    return ok();
  }
  if (a.has('i')) {
    auto d = TRY(kernel::dmi_info(s.kernel));
    for (const auto& e : d.strings) out.print("  {:>{}}: {}\n", e.field, d.name_width, e.value);
    return ok();
  }
  if (a.has('c')) return run_syscalls(s, a.positional, out);
  if (a.positional.empty()) {
    print_sys_banner(s, out);
    return ok();
  }
  for (const auto& p : a.positional) {
    if (p != "config") return Error::make(Errc::usage, "invalid argument: {} (sys takes only \"config\")", p);
    for (const auto& line : kernel::ikconfig_lines(TRY(kernel::kernel_config(s.kernel)))) out.print("{}\n", line);
  }
  return ok();
}
}  // namespace

static Command sys_command() {
  return Command{CommandSpec{"sys",
                             {},
                             "system data",
                             "[-c [name|number]] [-t] [-i] config",
                             {{'c', false, "the system call table, or the entries matching each name or number"},
                              {'t', false, "kernel taint information"},
                              {'i', false, "the DMI strings"},
                              {'j', false, "JSON: the banner's fields, or -t, -i, -c (whole table) as one document"}},
                             {"sys", "sys -c", "sys -c read", "sys -t", "sys config"}},
                 run_sys};
}

std::vector<Command> sys_commands() { return {json::capable(sys_command())}; }

}  // namespace coroner::commands
