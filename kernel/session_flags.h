// crash's per-command flags that outlive a command (pc->curcmd_flags, curcmd_private and the
// cleanup hook; crash 9.0.2 cmdline.c restore_sanity(), memory.c cmd_kmem/cmd_vm/vm_area_dump),
// kept in the Kernel for the session:
//
// - the page header is printed once (HEADER_PRINTED): dump_mem_map() prints it when the flag is
//   clear and sets it (vtop's page line, files -p, kmem -p, kmem ADDRESS); kmem clears it first;
// - `vm -M MM` (MM_STRUCT_FORCE) stays in force: every later vm (foreach vm too) and vtop of a
//   task without an mm_struct uses MM, and gives it to that task for good (tc->mm_struct: its MM
//   line shows it from then on);
// - restore_sanity() clears both and undoes the mm given to the last task (vm_cleanup: only the
//   last one, crash keeps the others). crash runs it before every command typed at the prompt or
//   read from a pipe, and after a command fails through error(FATAL) (its longjmp restart);
//   between the commands of an input file (`-i FILE`, `< FILE`) it does not. coroner's scripts
//   (standard input, -i FILE) are crash's input files; the shell calls restart_session_flags()
//   before each command typed at the prompt and after each command that fails, unless the
//   command's error is one crash reports with error(INFO) and goes on (error_is_info()).
//
//   if (kernel::take_page_header(k)) out.write(kernel::page_header());
#pragma once

#include <cstdint>
#include <optional>

#include "kernel/kernel.h"

namespace coroner::kernel {

bool take_page_header(Kernel& k);  // true when the header is due (and marks it printed)
void forget_page_header(Kernel& k);  // kmem's start
void restart_session_flags(Kernel& k);
// A command's error that crash reports without a restart (`files 99999`: "invalid task or pid
// value", an error(INFO)): after_command() then restarts nothing. The mark lasts until the
// after_command() that ends the command. info_error() marks and hands the error back:
//
//   if (!sel) return kernel::info_error(k, sel.error());
void error_is_info(Kernel& k);
Error info_error(Kernel& k, Error e);
// What the shell calls after every command: a failure restarts (unless error_is_info()).
void after_command(Kernel& k, bool failed);
// vm -M: the forced mm_struct (nullopt: none) ...
void force_mm(Kernel& k, uint64_t mm);
std::optional<uint64_t> forced_mm(Kernel& k);
// ... and the mm a task without one was given (0: none). The effective mm of a task (vm, vtop):
// its own, else the one it was given, else the forced one, which it is then given.
uint64_t given_mm(Kernel& k, uint64_t task);
uint64_t effective_mm(Kernel& k, uint64_t task, uint64_t own_mm);

}  // namespace coroner::kernel
