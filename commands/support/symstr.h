// Kernel addresses as crash names them in memory dumps (rd -s, bt -r): "name" or
// "name+offset" inside the kernel image, nothing elsewhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kernel/kernel.h"

namespace coroner::commands {

std::optional<std::string> value_to_symstr(kernel::Kernel& k, uint64_t v);

}  // namespace coroner::commands
