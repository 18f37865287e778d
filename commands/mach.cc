// mach: machine data as crash 9 prints it on x86_64 (`mach`), each CPU's cpuinfo_x86
// (`-c`, with `-x`/`-d` for the radix) and the firmware memory map (`-m`); on arm64 the
// machine data only (crash has no -c or -m there).
#include <iterator>

#include "commands/builtin.h"
#include "kernel/sysinfo.h"
#include "kernel/value_context.h"

namespace coroner::commands {
namespace {

Result<void> print_machine(Session& s, Output& out) {
  auto& k = s.kernel;
  kernel::SysInfo si = kernel::gather_sysinfo(k);
  int cpus = si.cpus ? *si.cpus : 1;
  auto m = TRY(kernel::machine_info(k, cpus));
  out.print("          MACHINE TYPE: {}\n", si.uts ? si.uts->machine : std::string());
  out.print("           MEMORY SIZE: {}\n", si.memory_bytes ? kernel::memory_size_text(*si.memory_bytes) : "(unknown)");
  out.print("                  CPUS: {}{}\n", cpus, si.offline_cpus ? fmt::format(" [OFFLINE: {}]", si.offline_cpus) : "");
  if (!m.hypervisor.empty() && m.hypervisor != "bare hardware") out.print("            HYPERVISOR: {}\n", m.hypervisor);
  out.print("       PROCESSOR SPEED: {}\n", si.cpu_mhz && *si.cpu_mhz ? fmt::format("{} Mhz", *si.cpu_mhz) : "(unknown)");
  auto hz = kernel::kernel_hz(k);
  out.print("                    HZ: {}\n", hz ? std::to_string(*hz) : "(unknown)");
  out.print("             PAGE SIZE: {}\n", k.dump().info().page_size);
  out.print("   KERNEL VIRTUAL BASE: {:x}\n", m.kernel_virtual_base);
  out.print("   KERNEL VMALLOC BASE: {:x}\n", m.vmalloc_base);
  if (m.vmemmap_base) out.print("   KERNEL VMEMMAP BASE: {:x}\n", *m.vmemmap_base);
  out.print("      KERNEL START MAP: {:x}\n", m.start_kernel_map);
  out.print("   KERNEL MODULES BASE: {:x}\n", m.modules_base);
  out.print("     KERNEL STACK SIZE: {}\n", m.stack_size);
  out.print("        IRQ STACK SIZE: {}\n", m.irq_stack_size);
  out.print("            IRQ STACKS:\n");
  for (size_t c = 0; c < m.irq_stacks.size(); ++c)
    out.print("{:>22}: {:016x}\n", fmt::format("CPU {}", c), m.irq_stacks[c]);
  for (const auto& e : m.exception_stacks) {
    out.print("{:>11} STACK SIZE: {}\n", e.name, e.size);
    out.print("{:>24}", e.name + " STACKS:\n");
    for (size_t c = 0; c < e.base.size() && e.base[c]; ++c)
      out.print("{:>22}: {:016x}{}\n", fmt::format("CPU {}", c), e.base[c], e.available[c] ? "" : " [unavailable]");
  }
  return ok();
}

Result<void> print_cpu_data(Session& s, Output& out, int radix) {
  auto& k = s.kernel;
  kernel::SysInfo si = kernel::gather_sysinfo(k);
  int cpus = si.cpus ? *si.cpus : 1;
  auto& types = k.types();
  symbols::TypeRef t = TRY(types.find("struct cpuinfo_x86"));
  uint64_t size = TRY(types.size_of(t));
  kernel::KernelValueContext ctx(k, radix);
  bool per_cpu = k.symbols().find("cpu_info") != nullptr;
  for (int c = 0; c < (per_cpu ? cpus : 1); ++c) {
    uint64_t addr = per_cpu ? TRY(k.per_cpu("cpu_info", c)) : TRY(k.symbol("boot_cpu_data"));
    std::vector<uint8_t> bytes(size);
    TRY(k.read(addr, bytes));
    if (per_cpu) out.print("{}CPU {}:\n", c ? "\n" : "", c);
    else out.print("BOOT CPU:\n");
    out.print("struct cpuinfo_x86 {}\n", TRY(types.format_value(t, bytes, ctx, 0, addr)));
  }
  return ok();
}

// crash's arm64_display_machine_stats(): the kernel's VA regions, the task stack size and
// each CPU's IRQ and overflow stacks.
Result<void> print_machine_arm64(Session& s, Output& out) {
  auto& k = s.kernel;
  const auto& vi = k.vmcoreinfo();
  kernel::SysInfo si = kernel::gather_sysinfo(k);
  int cpus = si.cpus ? *si.cpus : 1;
  out.print("       MACHINE TYPE: {}\n", si.uts ? si.uts->machine : std::string());
  out.print("        MEMORY SIZE: {}\n", si.memory_bytes ? kernel::memory_size_text(*si.memory_bytes) : "(unknown)");
  out.print("               CPUS: {}{}\n", cpus, si.offline_cpus ? fmt::format(" [OFFLINE: {}]", si.offline_cpus) : "");
  if (si.cpu_mhz && *si.cpu_mhz) out.print("    PROCESSOR SPEED: {} Mhz\n", *si.cpu_mhz);
  auto hz = kernel::kernel_hz(k);
  out.print("                 HZ: {}\n", hz ? std::to_string(*hz) : "(unknown)");
  out.print("          PAGE SIZE: {}\n", k.arch().page_size());
  // The regions: VMCOREINFO's NUMBER()s (6.1+: MODULES_VADDR, VMALLOC_START, VMEMMAP_START,
  // hexadecimal); the linear map starts at -(1 << VA_BITS) (5.4+).
  auto hex = [&](std::string_view name) -> uint64_t { return vi.number(fmt::format("NUMBER({})", name), 16).value_or(0); };
  uint64_t va_bits = vi.number("NUMBER(VA_BITS)").value_or(48);
  out.print("KERNEL VIRTUAL BASE: {:x}\n", va_bits < 64 ? ~0ull << va_bits : 0);
  out.print("KERNEL MODULES BASE: {:x}\n", hex("MODULES_VADDR"));
  out.print("KERNEL VMALLOC BASE: {:x}\n", hex("VMALLOC_START"));
  out.print("KERNEL VMEMMAP BASE: {:x}\n", hex("VMEMMAP_START"));
  // THREAD_SIZE: union thread_union's size; crash's default 16 KiB without it.
  uint64_t stack = 16384;
  if (auto t = k.types().find("union thread_union"))
    if (auto n = k.types().size_of(*t); n && *n) stack = *n;
  out.print("  KERNEL STACK SIZE: {}\n", stack);
  // IRQ stacks (4.14+ with VMAP_STACK: the per-CPU irq_stack_ptr), as large as a task's.
  if (k.symbols().find("irq_stack_ptr")) {
    out.print("     IRQ STACK SIZE: {}\n         IRQ STACKS:\n", stack);
    for (int c = 0; c < cpus; ++c)
      out.print("{:>19}: {:x}\n", fmt::format("CPU {}", c), TRY(k.read_u64(TRY(k.per_cpu("irq_stack_ptr", c)))));
  }
  // Overflow stacks (4.14+): the per-CPU overflow_stack array.
  if (const symbols::Symbol* ov = k.symbols().find("overflow_stack")) {
    out.print("OVERFLOW STACK SIZE: {}\n    OVERFLOW STACKS:\n", ov->size ? ov->size : 4096);
    for (int c = 0; c < cpus; ++c) out.print("{:>19}: {:x}\n", fmt::format("CPU {}", c), TRY(k.per_cpu("overflow_stack", c)));
  }
  return ok();
}

// crash's names for e820 types (arch/x86/include/asm/e820/types.h values).
std::string e820_type_name(uint32_t type) {
  static const char* const kNames[] = {"(invalid type)", "E820_RAM", "E820_RESERVED", "E820_ACPI", "E820_NVS",
                                       "E820_UNUSABLE"};
  if (type < std::size(kNames)) return kNames[type];
  if (type == 12) return "E820_PRAM";
  if (type == 128) return "E820_RESERVED_KERN";
  return fmt::format("type {}", type);
}

Result<void> print_memmap(Session& s, Output& out) {
  auto map = TRY(kernel::e820_map(s.kernel));
  out.print("      PHYSICAL ADDRESS RANGE         TYPE\n");
  for (const auto& e : map) out.print("{:016x} - {:016x}  {}\n", e.start, e.end, e820_type_name(e.type));
  return ok();
}

Result<void> run_mach(Session& s, const Args& a, Output& out) {
  if (!a.positional.empty()) return Error::make(Errc::usage, "invalid argument: {}", a.positional[0]);
  if (a.has('x') && a.has('d')) return Error::make(Errc::usage, "-d and -x are mutually exclusive");
  int radix = a.has('x') ? 16 : 10;
  if (s.kernel.arch().name() == "arm64") {
    for (char c : {'c', 'm'})
      if (a.has(c)) return Error::make(Errc::unsupported, "-{} option not supported on this architecture or kernel", c);
    return print_machine_arm64(s, out);
  }
  if (a.has('m')) TRY(print_memmap(s, out));
  if (a.has('c')) TRY(print_cpu_data(s, out, radix));
  if (!a.has('c') && !a.has('m')) TRY(print_machine(s, out));
  return ok();
}

}  // namespace

std::vector<Command> mach_commands() {
  return {Command{CommandSpec{"mach",
                              {},
                              "machine specific data",
                              "[-m | -c -[xd] | -o]",
                              {{'m', false, "the physical memory map (e820)"},
                               {'c', false, "each CPU's cpuinfo_x86 structure"},
                               {'x', false, "with -c: hexadecimal output"},
                               {'d', false, "with -c: decimal output"}},
                              {"mach", "mach -m", "mach -c"}},
                  run_mach}};
}

}  // namespace coroner::commands
