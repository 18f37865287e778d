#include "kernel/sysinfo.h"

#include <algorithm>

#include "kernel/printk.h"
#include "kernel/tasks.h"

namespace coroner::kernel {
namespace {

Result<UtsName> read_uts(Kernel& k) {
  uint64_t ns = TRY(k.symbol("init_uts_ns"));
  uint64_t name = ns + TRY(k.offset_of("uts_namespace", "name"));
  UtsName u;
  auto field = [&](std::string_view m) -> Result<std::string> {
    uint64_t off = TRY(k.offset_of("new_utsname", m));
    return k.read_cstring(name + off, 65);
  };
  u.sysname = TRY(field("sysname"));
  u.nodename = TRY(field("nodename"));
  u.release = TRY(field("release"));
  u.version = TRY(field("version"));
  u.machine = TRY(field("machine"));
  u.domainname = TRY(field("domainname"));
  return u;
}

Result<int64_t> read_date(Kernel& k) {
  // crash reads shadow_timekeeper (3.10+), a plain struct timekeeper; older kernels had
  // `timekeeper`. tk_core (3.17+) holds the same time but in an anonymous struct.
  for (const char* name : {"timekeeper", "shadow_timekeeper"})
    if (auto addr = k.symbols().address_of(name)) return TRY(k.member<int64_t>(*addr, "timekeeper", "xtime_sec"));
  return Error::make(Errc::no_debug_info, "no timekeeper or shadow_timekeeper symbol");
}

Result<uint64_t> read_uptime(Kernel& k) {
  uint64_t hz = TRY(kernel_hz(k));
  uint64_t j = TRY(k.read_u64(TRY(k.symbol("jiffies_64"))));
  // jiffies start at INITIAL_JIFFIES = (unsigned long)(unsigned int)(-300*HZ).
  uint64_t initial = static_cast<uint64_t>(static_cast<uint32_t>(-300 * static_cast<int64_t>(hz)));
  return (j - initial) / hz;
}

Result<std::vector<uint64_t>> read_avenrun(Kernel& k) {
  uint64_t a = TRY(k.symbol("avenrun"));
  std::vector<uint64_t> v(3);
  TRY(k.read(a, std::span(reinterpret_cast<uint8_t*>(v.data()), 24)));
  return v;
}

Result<uint64_t> read_mhz(Kernel& k) {
  uint32_t khz = TRY(k.read_u32(TRY(k.symbol("cpu_khz"))));
  return khz / 1000;
}

Result<uint64_t> read_memory(Kernel& k) { return TRY(memory_pages(k)) * k.dump().info().page_size; }

// The panic message, found in the kernel log the way crash finds it: ordered passes of
// patterns, each pass over every line from the top; the first line matching wins.
Result<std::string> read_panic(Kernel& k) {
  auto log = TRY(read_log(k));
  std::vector<std::string_view> lines;
  for (const auto& r : log) {
    std::string_view t = r.text;
    while (!t.empty()) {
      size_t nl = t.find('\n');
      lines.push_back(t.substr(0, nl));
      if (nl == std::string_view::npos) break;
      t.remove_prefix(nl + 1);
    }
  }
  static const std::vector<std::vector<std::string_view>> kPasses = {
      {"general protection fault: ", "double fault: ", "divide error: ", "stack segment: "},
      {"SysRq : Netdump", "SysRq : Crash", "SysRq : Trigger a crash"},
      {"Oops: ", "Kernel BUG at", "kernel BUG at", "Unable to handle kernel paging request",
       "Unable to handle kernel NULL pointer dereference", "BUG: unable to handle kernel "},
      {"Kernel panic: ", "Kernel panic - "},
      {"[Hardware Error]: "},
      {"Bad mode in "},
  };
  for (const auto& pass : kPasses)
    for (std::string_view line : lines)
      for (std::string_view p : pass)
        if (line.find(p) != std::string_view::npos) return std::string(line);
  return std::string();
}

}  // namespace

namespace {
struct MemoryPagesCache {
  std::optional<uint64_t> pages;
};
}  // namespace

Result<uint64_t> memory_pages(Kernel& k) {
  auto& cache = k.extension<MemoryPagesCache>();
  if (cache.pages) return *cache.pages;
  // Sum of present pages over every node (what the page allocator manages plus what the
  // kernel reserved at boot).
  uint64_t nodes = TRY(k.symbol("node_data"));
  uint64_t present_off = TRY(k.offset_of("pglist_data", "node_present_pages"));
  uint64_t spanned_off = TRY(k.offset_of("pglist_data", "node_spanned_pages"));
  const symbols::Symbol* nd = k.symbols().find("node_data");
  uint64_t max_nodes = nd && nd->size ? nd->size / 8 : 1;
  uint64_t total = 0;
  for (uint64_t n = 0; n < max_nodes && n < 1024; ++n) {
    uint64_t pgdat = TRY(k.read_u64(nodes + n * 8));
    if (!pgdat) continue;
    uint64_t present = TRY(k.read_u64(pgdat + present_off));
    total += present ? present : TRY(k.read_u64(pgdat + spanned_off));
  }
  cache.pages = total;
  return total;
}

Result<uint64_t> kernel_hz(Kernel& k) {
  if (auto hz = k.vmcoreinfo().number("CONFIG_HZ")) return *hz;
  uint64_t tick_nsec = TRY(k.read_u64(TRY(k.symbol("tick_nsec"))));
  if (tick_nsec == 0) return Error::make(Errc::bad_data, "tick_nsec is 0: cannot derive HZ");
  return (1000000000ull + tick_nsec / 2) / tick_nsec;
}

SysInfo gather_sysinfo(Kernel& k) {
  SysInfo si;
  auto online = k.cpus_in_mask("cpu_online_mask");
  auto present = k.cpus_in_mask("cpu_present_mask");
  if (present) {
    si.cpus = present->empty() ? 1 : present->back() + 1;
    if (online && !online->empty()) si.offline_cpus = std::max(0, *si.cpus - static_cast<int>(online->size()));
  } else {
    si.cpus = present.error();
  }
  si.date = read_date(k);
  si.uptime_seconds = read_uptime(k);
  si.avenrun = read_avenrun(k);
  // The cached table: ps, bt and foreach use the same walk later in the session.
  if (auto t = task_table(k)) si.tasks = static_cast<uint64_t>((*t)->tasks.size());
  else si.tasks = t.error();
  si.uts = read_uts(k);
  si.cpu_mhz = read_mhz(k);
  si.memory_bytes = read_memory(k);
  si.panic = read_panic(k);
  return si;
}

}  // namespace coroner::kernel
