// files: a task's root and working directories and its open files as crash shows them.
//
//   PID: 1        TASK: ffff8de9c11fb000  CPU: 0    COMMAND: "init"
//   ROOT: /    CWD: /
//    FD       FILE            DENTRY           INODE       TYPE PATH
//     0 ffff8de9c24bde00 ffff8de9c20d96c0 ffff8de9e434b4a0 CHR  /dev/console
#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/files.h"
#include "kernel/kernel.h"
#include "kernel/tasks.h"

namespace coroner::commands {
namespace {

using kernel::Task;

Result<void> show_files(kernel::Kernel& k, const Task& t, Output& out) {
  out.print("{}\n", task_header(t));
  if (auto dirs = TRY(kernel::task_dirs(k, t.addr))) out.print("ROOT: {}    CWD: {}\n", dirs->root, dirs->cwd);
  auto files = TRY(kernel::open_files(k, t.addr));
  if (!files || files->empty()) {
    out.print("No open files\n");
    return ok();
  }
  out.print(" FD       FILE            DENTRY           INODE       TYPE PATH\n");
  for (auto& f : *files) {
    std::string path = f.dentry ? TRY(kernel::path_of(k, f.mnt, f.dentry)) : "";
    out.print("{:>3} {:16x} {:16x} {:16x} {:<4} {}\n", f.fd, f.file, f.dentry, f.inode, TRY(kernel::inode_type(k, f.inode)),
              path);
  }
  return ok();
}

Result<void> run_files(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  auto targets = TRY(pid_or_task_args(tt, args.positional, s.current_task));
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i) out.print("\n");
    TRY(show_files(k, *targets[i], out));
  }
  return ok();
}

}  // namespace

std::vector<Command> files_commands() {
  return {Command{CommandSpec{"files",
                              {},
                              "open files",
                              "[pid | taskp] ...",
                              {},
                              {"files", "files 1", "foreach files"}},
                  run_files}};
}

}  // namespace coroner::commands
