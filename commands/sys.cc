// sys: the system banner crash prints at start-up, field for field.
#include <ctime>

#include "commands/builtin.h"
#include "kernel/sysinfo.h"

namespace coroner::commands {
namespace {

std::string uptime_text(uint64_t secs) {
  uint64_t days = secs / 86400, h = secs % 86400 / 3600, m = secs % 3600 / 60, s = secs % 60;
  std::string out;
  if (days) out = fmt::format("{} days, ", days);  // crash says "1 days"
  return out + fmt::format("{:02}:{:02}:{:02}", h, m, s);
}

std::string loadavg_text(const std::vector<uint64_t>& a) {
  constexpr uint64_t kFixed1 = 1 << 11;
  std::string out;
  for (size_t i = 0; i < a.size(); ++i) {
    uint64_t v = a[i] + kFixed1 / 200;
    out += fmt::format("{}{}.{:02}", i ? ", " : "", v >> 11, ((v & (kFixed1 - 1)) * 100) >> 11);
  }
  return out;
}

// crash rounds up to the next GiB when within 64 MiB of it, prints one decimal, then drops
// a ".0 " ("768 MB", "1 GB", "511.5 MB").
std::string memory_text(uint64_t bytes) {
  constexpr uint64_t kMB = 1ull << 20, kGB = 1ull << 30;
  uint64_t next_gig = (bytes + kGB - 1) / kGB * kGB;
  if (next_gig - bytes <= 64 * kMB) bytes = next_gig;
  std::string s;
  if (bytes >= kGB) s = fmt::format("{:.1f} GB", static_cast<double>(bytes) / kGB);
  else if (bytes >= kMB) s = fmt::format("{:.1f} MB", static_cast<double>(bytes) / kMB);
  else s = fmt::format("{} KB", bytes >> 10);
  if (size_t p = s.find(".0 "); p != std::string::npos) s.erase(p, 2);
  return s;
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

void print_sys_banner(Session& s, Output& out) {
  kernel::SysInfo si = kernel::gather_sysinfo(s.kernel);
  out.print("      KERNEL: {}\n", s.kernel.vmlinux_path());
  // crash marks compressed dumps that left pages out (dump level > 0) and incomplete ones;
  // a split set gets one suffix per file, after one space instead of two.
  const auto& dumps = s.kernel.dump_paths();
  const auto& info = s.kernel.dump().info();
  std::string marks;
  if (info.dump_level && *info.dump_level > 0) marks += " [PARTIAL DUMP]";
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
  out.print("      MEMORY: {}\n", field(si.memory_bytes, memory_text));
  std::string panic = si.panic ? *si.panic : std::string();
  while (!panic.empty() && panic.back() == '\n') panic.pop_back();
  out.print("       PANIC: \"{}\"{}\n", panic, panic.find("Oops: ") != std::string::npos ? " (check log for details)" : "");
}

namespace {
Result<void> run_sys(Session& s, const Args&, Output& out) {
  print_sys_banner(s, out);
  return ok();
}
}  // namespace

static Command sys_command() {
  return Command{CommandSpec{"sys", {}, "system data", "", {}, {"sys"}}, run_sys};
}

std::vector<Command> sys_commands() { return {sys_command()}; }

}  // namespace coroner::commands
