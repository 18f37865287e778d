// coroner --dmesg DUMP [DUMP...] [VMLINUX] [-o FILE|-]: the kernel log, nothing else opened.
//
// Without a vmlinux the layout comes from the dump's VMCOREINFO alone (kernel/printk.h), and
// this file links only the dump formats, the page-table walk and the printk readers: the
// small `coroner` launcher runs it in its own process, so "just get me dmesg" stays as light as
// makedumpfile. With a VMLINUX (kernels before 5.10 need it) the caller's `with_vmlinux`
// reads the log through the full Kernel (the launcher hands the job to coroner-shell).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "kernel/printk.h"

namespace coroner::shell {

using LogWithVmlinux = Result<std::vector<kernel::LogRecord>> (*)(const std::string& vmlinux,
                                                                   const std::vector<std::string>& dumps);

// Returns the exit status: 0, 1 (a file or the log could not be read), 2 (usage).
int dmesg_main(int argc, char** argv, LogWithVmlinux with_vmlinux);

extern const char* const kDmesgUsage;

}  // namespace coroner::shell
