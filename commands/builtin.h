// What command files share beyond the registry (see commands/CMakeLists.txt for how a
// command file is found and registered).
#pragma once

#include "commands/command.h"
#include "commands/plugins.h"

namespace coroner::commands {

// The start-up banner (the same text as `sys`).
void print_sys_banner(Session& s, Output& out);

}  // namespace coroner::commands
