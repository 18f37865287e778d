// System facts that `sys` (and crash's start-up banner) shows, gathered from a dump, plus
// what `sys -t/-i/config` and `mach` show: taints, DMI strings, the in-kernel .config, the
// x86_64 memory layout and stacks, the e820 map. For the banner each field is gathered on
// its own; a field that cannot be read holds an error message instead of stopping the others.
//
//   SysInfo si = gather_sysinfo(k);
//   if (si.uptime_seconds) ...
//   MachineInfo m = TRY(machine_info(k, *si.cpus));   // mach
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct UtsName {
  std::string sysname, nodename, release, version, machine, domainname;
};

template <typename T>
using Field = Result<T>;

struct SysInfo {
  Field<int> cpus = Error{Errc::not_found, "unknown", {}};
  int offline_cpus = 0;
  Field<int64_t> date = Error{Errc::not_found, "unknown", {}};            // seconds since the epoch
  Field<uint64_t> uptime_seconds = Error{Errc::not_found, "unknown", {}};
  Field<std::vector<uint64_t>> avenrun = Error{Errc::not_found, "unknown", {}};  // fixed point, FSHIFT 11
  Field<uint64_t> tasks = Error{Errc::not_found, "unknown", {}};
  Field<UtsName> uts = Error{Errc::not_found, "unknown", {}};
  Field<uint64_t> cpu_mhz = Error{Errc::not_found, "unknown", {}};
  Field<uint64_t> memory_bytes = Error{Errc::not_found, "unknown", {}};
  Field<std::string> panic = Error{Errc::not_found, "unknown", {}};
};

SysInfo gather_sysinfo(Kernel& k);

// The kernel's HZ: from CONFIG_HZ in VMCOREINFO/IKCONFIG when present, else derived from
// tick_nsec ((NSEC_PER_SEC + HZ/2) / HZ).
Result<uint64_t> kernel_hz(Kernel& k);
// Physical memory in pages as crash counts it (every node's present pages, else spanned);
// read once per Kernel. `sys` MEMORY and ps's %MEM both use it.
Result<uint64_t> memory_pages(Kernel& k);

// crash's memory size text: rounded up to the next GiB when within 64 MiB of it, one
// decimal, ".0" dropped ("768 MB", "1 GB", "767.5 MB"). `sys` MEMORY and `mach` use it.
std::string memory_size_text(uint64_t bytes);

// --- sys -t, sys config, sys -i ---

// tainted_mask and crash's letters for it, from the kernel's own taint_flags[] table
// (struct taint_flag, 4.10+), lowest bit first: c_true of each set bit, c_false of a clear
// one unless that is ' ', '-' or 'G'.
struct Taints {
  uint64_t mask = 0;
  std::string letters;
};
Result<Taints> kernel_taints(Kernel& k);
// tainted_mask alone: what sys's banner needs for its [TAINTED] mark, without the letters.
Result<uint64_t> tainted_mask(Kernel& k);

// The in-kernel .config (CONFIG_IKCONFIG): kernel_config_data holds "IKCFG_ST", a gzip
// stream, then "IKCFG_ED". Fails with not_found when the kernel was built without it.
Result<std::string> kernel_config(Kernel& k);
// The decompression on its own, over the bytes of kernel_config_data.
Result<std::string> decode_ikconfig(std::span<const uint8_t> blob);
// The lines crash prints for the config: it reads them with sscanf("%511[^\n]\n"), so blank
// lines and leading white space go, and a line longer than 511 characters is split.
std::vector<std::string> ikconfig_lines(std::string_view text);

// The DMI strings the kernel identified (dmi_ident[], indexed by enum dmi_field), with the
// enumerator names; only those set.
struct DmiString {
  std::string field;  // "DMI_BIOS_VENDOR"
  std::string value;
};
struct DmiInfo {
  size_t name_width = 0;  // the longest enum dmi_field name below DMI_STRING_MAX
  std::vector<DmiString> strings;
};
Result<DmiInfo> dmi_info(Kernel& k);

// --- mach (x86_64) ---

struct StackArea {
  std::string name;          // crash's name ("DOUBLEFAULT", "NMI", ...) or "(unknown)"
  uint64_t size = 0;
  std::vector<uint64_t> base;      // per CPU
  std::vector<bool> available;     // per CPU: the stack's first page is in the dump
};
struct MachineInfo {
  // pv_info.name (paravirt kernels), else the x86_hyper/x86_hyper_type name: "KVM", "Xen
  // HVM"... or "bare hardware"; empty when undetermined.
  std::string hypervisor;
  uint64_t kernel_virtual_base = 0;  // the direct map (page_offset_base, 4.8+)
  uint64_t vmalloc_base = 0;
  std::optional<uint64_t> vmemmap_base;
  uint64_t start_kernel_map = 0;     // __START_KERNEL_map
  uint64_t modules_base = 0;         // __START_KERNEL_map + KERNEL_IMAGE_SIZE
  uint64_t stack_size = 0;           // THREAD_SIZE
  uint64_t irq_stack_size = 0;
  std::vector<uint64_t> irq_stacks;  // per CPU
  std::vector<StackArea> exception_stacks;  // in IST order, up to the first unused one
};
Result<MachineInfo> machine_info(Kernel& k, int cpus);

// The firmware memory map (e820_table, 4.12+; `e820` before): [start, end) and type.
struct E820Entry {
  uint64_t start = 0, end = 0;
  uint32_t type = 0;
};
Result<std::vector<E820Entry>> e820_map(Kernel& k);

}  // namespace coroner::kernel
