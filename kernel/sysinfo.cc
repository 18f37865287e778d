#include "kernel/sysinfo.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

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

// The kernel's page size, not the dump file's block size (QEMU writes arm64 kdump files in
// 64 KiB blocks whatever the guest's granule).
Result<uint64_t> read_memory(Kernel& k) { return TRY(memory_pages(k)) * k.arch().page_size(); }

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
  // crash 9's passes (get_panicmsg), in its order: a sysrq crash, a panic() line, a BUG or
  // bad page fault, the x86 exception lines, a hardware error, arm's bad mode, and an Oops
  // last: an oops that went on to panic() (oops=panic, panic_on_oops) is named by its
  // "Kernel panic - not syncing: Fatal exception" line, one kexec'ed straight from the oops
  // (no panic() line) by its "Oops: " line.
  static const std::vector<std::vector<std::string_view>> kPasses = {
      {"SysRq : Crash", "SysRq : Trigger a crash", "SysRq : Netdump"},
      {"Kernel panic: ", "Kernel panic - "},
      {"Kernel BUG at", "kernel BUG at", "Unable to handle kernel paging request",
       "Unable to handle kernel NULL pointer dereference", "BUG: unable to handle kernel "},
      {"general protection fault: ", "double fault: ", "divide error: ", "stack segment: "},
      {"[Hardware Error]: "},
      {"Bad mode in "},
      {"Oops: "},
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
  // Callers divide by HZ: a damaged VMCOREINFO or tick_nsec (or another kernel's vmlinux with
  // --force) must end in an error, not a zero. Kernels configure HZ from 24 to 10000.
  constexpr uint64_t kMaxHz = 100000;
  if (auto hz = k.vmcoreinfo().number("CONFIG_HZ")) {
    if (*hz == 0 || *hz > kMaxHz) return Error::make(Errc::bad_data, "VMCOREINFO CONFIG_HZ={} is not a tick rate", *hz);
    return *hz;
  }
  uint64_t addr = TRY(k.symbol("tick_nsec"));
  uint64_t tick_nsec = TRY(k.read_u64(addr));
  uint64_t hz = tick_nsec ? (1000000000ull + tick_nsec / 2) / tick_nsec : 0;
  if (hz == 0 || hz > kMaxHz)
    return Error::make(Errc::bad_data, "tick_nsec at {:#x} is {}: cannot derive HZ", addr, tick_nsec);
  return hz;
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

std::string memory_size_text(uint64_t bytes) {
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

Result<uint64_t> tainted_mask(Kernel& k) { return k.read_u64(TRY(k.symbol("tainted_mask"))); }

Result<Taints> kernel_taints(Kernel& k) {
  Taints t;
  t.mask = TRY(tainted_mask(k));
  // struct taint_flag { char c_true; char c_false; bool module; ... } taint_flags[TAINT_FLAGS_COUNT]
  // (kernel/panic.c, 4.10+). Like crash: c_true for a set bit, else c_false unless it is
  // ' ', '-' or 'G' (the "not tainted" letters).
  const symbols::Symbol* flags = k.symbols().find("taint_flags");
  auto entry = k.types().size_of_name("taint_flag");
  auto c_true = k.offset_of("taint_flag", "c_true");
  auto c_false = k.offset_of("taint_flag", "c_false");
  if (!flags || !entry || !*entry || !c_true || !c_false) return t;
  uint64_t base = k.symbols().address(*flags);
  uint64_t n = std::min<uint64_t>(flags->size / *entry, 64);
  for (uint64_t bit = 0; bit < n; ++bit) {
    uint64_t e = base + bit * *entry;
    if (t.mask >> bit & 1) {
      t.letters += static_cast<char>(TRY(k.read_as<uint8_t>(e + *c_true)));
    } else {
      char c = static_cast<char>(TRY(k.read_as<uint8_t>(e + *c_false)));
      if (c != ' ' && c != '-' && c != 'G') t.letters += c;
    }
  }
  return t;
}

Result<std::string> decode_ikconfig(std::span<const uint8_t> blob) {
  static constexpr std::string_view kStart = "IKCFG_ST";
  std::string_view text(reinterpret_cast<const char*>(blob.data()), blob.size());
  size_t at = text.find(kStart);
  if (at == std::string_view::npos) return Error::make(Errc::bad_data, "kernel_config_data: no IKCFG_ST marker");
  at += kStart.size();
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Error::make(Errc::bad_data, "kernel_config_data: zlib init failed");
  z.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(blob.data() + at));
  z.avail_in = static_cast<uInt>(blob.size() - at);
  constexpr size_t kMaxConfig = 64u << 20;
  std::string out;
  int rc = Z_OK;
  while (rc == Z_OK) {
    char chunk[65536];
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - z.avail_out);
    if (out.size() > kMaxConfig) rc = Z_MEM_ERROR;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END)
    return Error::make(Errc::bad_data, "kernel_config_data: the gzip stream is damaged or truncated (zlib status {})", rc);
  return out;
}

std::vector<std::string> ikconfig_lines(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = pos;
    while (end < text.size() && text[end] != '\n' && end - pos < 511) ++end;
    if (end == pos) break;  // sscanf's %[^\n] matched nothing: crash stops
    out.emplace_back(text.substr(pos, end - pos));
    pos = end;
    while (pos < text.size() && space(text[pos])) ++pos;
  }
  return out;
}

Result<std::string> kernel_config(Kernel& k) {
  const symbols::Symbol* s = k.symbols().find("kernel_config_data");
  if (!s) return Error::make(Errc::not_found, "kernel_config_data does not exist in this kernel");
  uint64_t size = s->size;
  if (!size) {
    if (auto end = k.symbols().address_of("kernel_config_data_end")) size = *end - k.symbols().address(*s);
  }
  if (!size || size > (16u << 20)) return Error::make(Errc::bad_data, "kernel_config_data: implausible size {}", size);
  std::vector<uint8_t> bytes(size);
  TRY(k.read(k.symbols().address(*s), bytes));
  return decode_ikconfig(bytes);
}

Result<DmiInfo> dmi_info(Kernel& k) {
  const symbols::Symbol* s = k.symbols().find("dmi_ident");
  if (!s) return Error::make(Errc::not_found, "dmi_ident does not exist in this kernel");
  uint64_t base = k.symbols().address(*s);
  uint64_t slots = std::min<uint64_t>(s->size / 8, 256);
  // The enumerator names come from the type's definition text ("  DMI_BIOS_VENDOR = 1,").
  auto& types = k.types();
  symbols::TypeRef t = TRY(types.find("enum dmi_field"));
  std::string def = TRY(types.definition(t, false, {}));
  DmiInfo info;
  std::vector<std::pair<int64_t, std::string>> names;
  size_t pos = 0;
  while (pos < def.size()) {
    size_t nl = def.find('\n', pos);
    std::string_view line(def.data() + pos, (nl == std::string::npos ? def.size() : nl) - pos);
    pos = nl == std::string::npos ? def.size() : nl + 1;
    size_t b = line.find_first_not_of(' ');
    if (b == std::string_view::npos || line.find('{') != std::string_view::npos || line[b] == '}') continue;
    std::string_view name = line.substr(b);
    name = name.substr(0, name.find_first_of(" ,="));
    if (name.empty()) continue;
    auto v = types.enumerator(name);
    if (!v) continue;
    // crash stops at the first enumerator past dmi_ident[] (DMI_STRING_MAX).
    if (*v < 0 || static_cast<uint64_t>(*v) >= slots) break;
    info.name_width = std::max(info.name_width, name.size());
    names.emplace_back(*v, std::string(name));
  }
  for (const auto& [v, name] : names) {
    uint64_t p = TRY(k.read_u64(base + 8 * static_cast<uint64_t>(v)));
    if (!p) continue;
    auto str = k.read_cstring(p, 1499);
    info.strings.push_back({name, str ? *str : std::string()});
  }
  return info;
}

namespace {

// __START_KERNEL_map: where x86_64 maps the kernel image (arch/x86/include/asm/page_64_types.h;
// Documentation/arch/x86/x86_64/mm.rst), the same on every x86_64 kernel.
constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;
// KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE (1 GiB), for kernels whose VMCOREINFO
// predates NUMBER(KERNEL_IMAGE_SIZE).
constexpr uint64_t kDefaultKernelImageSize = 1ull << 30;

Result<uint64_t> read_variable(Kernel& k, std::string_view name) { return k.read_u64(TRY(k.symbol(name))); }

// The per-CPU address of a member of a per-CPU variable that moved into struct pcpu_hot in
// 6.2 ("x86/percpu: Move irq_stack variables next to current_task").
Result<uint64_t> per_cpu_hot(Kernel& k, std::string_view var, int cpu) {
  if (k.symbols().find(var)) return k.per_cpu(var, cpu);
  return TRY(k.per_cpu("pcpu_hot", cpu)) + TRY(k.offset_of("pcpu_hot", var));
}

}  // namespace

Result<MachineInfo> machine_info(Kernel& k, int cpus) {
  MachineInfo m;
  // crash's hypervisor_init(): pv_info.name, else x86_hyper->name (before 4.15's x86_hyper_type).
  if (auto pv = k.symbols().address_of("pv_info"); pv && k.types().has_member("pv_info", "name")) {
    auto name = k.read_u64(*pv + TRY(k.offset_of("pv_info", "name")));
    if (name) {
      if (auto s = k.read_cstring(*name, 128)) m.hypervisor = *s;
    }
  } else if (auto xh = k.symbols().address_of("x86_hyper")) {
    auto hyper = k.read_u64(*xh);
    if (hyper && !*hyper) m.hypervisor = "bare hardware";
    else if (hyper && k.types().has_member("hypervisor_x86", "name"))
      if (auto name = k.read_u64(*hyper + TRY(k.offset_of("hypervisor_x86", "name"))))
        if (auto s = k.read_cstring(*name, 128)) m.hypervisor = *s;
  }
  if (k.symbols().find("page_offset_base")) m.kernel_virtual_base = TRY(read_variable(k, "page_offset_base"));
  else if (auto p = k.arch().ptov(0)) m.kernel_virtual_base = *p;
  m.vmalloc_base = TRY(read_variable(k, "vmalloc_base"));
  if (k.symbols().find("vmemmap_base")) m.vmemmap_base = TRY(read_variable(k, "vmemmap_base"));
  m.start_kernel_map = kStartKernelMap;
  auto image_size = k.vmcoreinfo().number("KERNEL_IMAGE_SIZE");
  m.modules_base = kStartKernelMap + (image_size ? static_cast<uint64_t>(*image_size) : kDefaultKernelImageSize);
  // THREAD_SIZE: union thread_union when the type data has it, else the init task's stack,
  // which the linker script sizes to THREAD_SIZE (init_stack .. __end_init_task, 4.19+;
  // renamed __end_init_stack later: the 6.1 fixture has __end_init_task, the 6.12 one the other).
  if (auto tu = k.types().size_of_name("thread_union")) {
    m.stack_size = *tu;
  } else {
    auto start = k.symbols().address_of("init_stack");
    auto end = k.symbols().address_of("__end_init_stack");
    if (!end) end = k.symbols().address_of("__end_init_task");
    if (!start || !end || *end <= *start) return tu.error();
    m.stack_size = *end - *start;
  }
  // IRQ stacks (4.20+ "x86/irq/64: Split the IRQ stack into its own pages"): hardirq_stack_ptr
  // holds the top of the stack less 8 (5.8+).
  m.irq_stack_size = TRY(k.types().size_of_name("irq_stack"));
  for (int c = 0; c < cpus; ++c) {
    uint64_t top = TRY(k.read_u64(TRY(per_cpu_hot(k, "hardirq_stack_ptr", c))));
    m.irq_stacks.push_back(top ? top + 8 - m.irq_stack_size : 0);
  }
  // Exception stacks: the TSS's interrupt stack table points at each stack's top (IST index
  // order = enum exception_stack_ordering). crash names a stack after the exception whose
  // handler this kernel has (5.8+ names), and gives a stack it cannot name size 0.
  struct Known {
    const char* name;
    const char* handler;
    const char* member;
  };
  static const Known kKnown[] = {{"DOUBLEFAULT", "exc_double_fault", "DF_stack"},
                                 {"NMI", "exc_nmi", "NMI_stack"},
                                 {"DEBUG", "exc_debug", "DB_stack"},
                                 {"MCE", "exc_machine_check", "MCE_stack"},
                                 {"VC", "asm_exc_vmm_communication", "VC_stack"}};
  uint64_t ist_off = TRY(k.offset_of("tss_struct", "x86_tss.ist"));
  uint64_t n_ist = 7;
  if (auto t = k.types().find("x86_hw_tss"))
    if (auto mi = k.types().member(*t, "ist"))
      if (auto a = k.types().array(mi->type)) n_ist = std::min<uint64_t>(a->second, 16);
  auto cea = k.types().find("cea_exception_stacks");
  for (uint64_t i = 0; i < n_ist; ++i) {
    StackArea area;
    area.name = "(unknown)";
    if (i < std::size(kKnown) && k.symbols().find(kKnown[i].handler)) {
      area.name = kKnown[i].name;
      if (cea)
        if (auto mi = k.types().member(*cea, kKnown[i].member)) area.size = TRY(k.types().size_of(mi->type));
    }
    for (int c = 0; c < cpus; ++c) {
      uint64_t ist = TRY(k.read_u64(TRY(k.per_cpu("cpu_tss_rw", c)) + ist_off + 8 * i));
      uint64_t base = ist ? ist - area.size : 0;
      area.base.push_back(base);
      uint8_t probe[8];
      area.available.push_back(base && k.read(base, probe).ok());
    }
    if (area.base.empty() || area.base[0] == 0) break;
    m.exception_stacks.push_back(std::move(area));
  }
  return m;
}

Result<std::vector<E820Entry>> e820_map(Kernel& k) {
  uint64_t table = 0;
  std::string_view type = "e820_table";
  if (k.symbols().find("e820_table")) {
    table = TRY(read_variable(k, "e820_table"));  // struct e820_table * (4.12+)
  } else if (k.symbols().find("e820")) {
    table = TRY(k.symbol("e820"));  // struct e820map (before 4.12)
    type = "e820map";
  } else {
    return Error::make(Errc::not_found, "neither e820 or e820_table symbols exist");
  }
  bool old = type == "e820map";
  uint64_t nr = TRY(k.read_u32(table + TRY(k.offset_of(type, old ? "nr_map" : "nr_entries"))));
  uint64_t entries = table + TRY(k.offset_of(type, old ? "map" : "entries"));
  std::string_view entry_type = old ? "e820entry" : "e820_entry";
  uint64_t esize = TRY(k.types().size_of_name(entry_type));
  uint64_t addr_off = TRY(k.offset_of(entry_type, "addr"));
  uint64_t size_off = TRY(k.offset_of(entry_type, "size"));
  uint64_t type_off = TRY(k.offset_of(entry_type, "type"));
  if (nr > 4096) return Error::make(Errc::bad_data, "e820 table at {:#x}: {} entries", table, nr);
  std::vector<E820Entry> out;
  for (uint64_t i = 0; i < nr; ++i) {
    uint64_t e = entries + i * esize;
    E820Entry x;
    x.start = TRY(k.read_u64(e + addr_off));
    x.end = x.start + TRY(k.read_u64(e + size_off));
    x.type = TRY(k.read_u32(e + type_off));
    out.push_back(x);
  }
  return out;
}

}  // namespace coroner::kernel
