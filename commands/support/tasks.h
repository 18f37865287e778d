// Task presentation shared by ps, bt, set, task and foreach: crash's one-line task header
// and the task selectors commands accept (PID, task address, command name, 'regex').
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "kernel/tasks.h"

namespace coroner::commands {

// `PID: 1        TASK: ffff8de9c11fb000  CPU: 0    COMMAND: "init"`
std::string task_header(const kernel::Task& t);

// The tasks an argument names: a decimal PID (every task with it), a hex task_struct address,
// a command name (`\123` for a name made of digits), or a POSIX extended regex in single
// quotes matched against command names. An empty result is an error naming the argument.
Result<std::vector<const kernel::Task*>> select_tasks(const kernel::TaskTable& tt, const std::string& arg);

// The tasks of commands that take `[pid | taskp] ...` (vm, files): each argument a PID or a
// task address (no names, as crash); none: the context task (`current`, set by `set`), else
// the panic task, else the first task.
Result<std::vector<const kernel::Task*>> pid_or_task_args(const kernel::TaskTable& tt, const std::vector<std::string>& args,
                                                          std::optional<uint64_t> current);

}  // namespace coroner::commands
