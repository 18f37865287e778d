// The built-in commands, one factory per command file, collected by registry.cc.
#pragma once

#include "commands/command.h"

namespace coroner::commands {

Command help_command();
Command log_command();
Command sym_command();
Command sys_command();
Command p_command();
Command struct_command();
Command union_command();
Command whatis_command();

// The start-up banner (the same text as `sys`).
void print_sys_banner(Session& s, Output& out);

}  // namespace coroner::commands
