// find_vmlinux: `coroner DUMP` without a kernel image finds the vmlinux matching the dump by
// the BUILD-ID and OSRELEASE in its VMCOREINFO, in the usual debug-info locations:
//
//   ROOT/usr/lib/debug/.build-id/xx/rest.debug   (build ID "xxrest...")
//   ROOT/usr/lib/debug/boot/vmlinux-RELEASE
//   ROOT/usr/lib/debug/lib/modules/RELEASE/vmlinux
//   ROOT/boot/vmlinux-RELEASE
//   ROOT/lib/modules/RELEASE/build/vmlinux
//
// ROOT is "/" unless CORONER_DEBUG_ROOT names other roots (colon-separated), which tests use.
// A candidate whose build ID differs from the dump's is skipped. When nothing matches the
// error lists every place looked at.
//
//   std::string vmlinux = TRY(find_vmlinux({"vmcore"}));
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace coroner::shell {

// The places looked at for a dump with this release and build ID (build_id may be empty).
std::vector<std::string> vmlinux_candidates(const std::string& release, const std::string& build_id);
Result<std::string> find_vmlinux(const std::vector<std::string>& dumps);

}  // namespace coroner::shell
