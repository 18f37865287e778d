// help's page for one command, in crash's sections (NAME, SYNOPSIS, DESCRIPTION with each
// option, EXAMPLES), made from its CommandSpec; `help CMD` prints it, tests check it.
//
//   std::string page = help_page(find_command("sym")->spec, "coroner");
#pragma once

#include <string>
#include <string_view>

#include "commands/command.h"

namespace coroner::commands {

std::string help_page(const CommandSpec& spec, std::string_view program);

}  // namespace coroner::commands
