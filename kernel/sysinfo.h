// System facts that `sys` (and crash's start-up banner) shows, gathered from a dump.
// Each field is gathered on its own; a field that cannot be read holds an error message
// instead of stopping the others.
//
//   SysInfo si = gather_sysinfo(k);
//   if (si.uptime_jiffies) ...
#pragma once

#include <cstdint>
#include <optional>
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

}  // namespace coroner::kernel
