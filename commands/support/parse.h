// Numbers in command arguments, as crash reads them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace coroner::commands {

// A 64-bit hexadecimal number, with or without 0x; nothing when malformed or longer than 16 digits.
std::optional<uint64_t> parse_hex(std::string_view s);

// crash's CPU lists: "N", "N-M", comma-separated, every CPU below ncpus; in the order written,
// repeats kept. An error "invalid cpu specification: SPEC" otherwise. ("a"/"all" and an empty
// spec mean different things to different commands: callers handle them.)
Result<std::vector<int>> parse_cpu_ranges(std::string_view spec, int ncpus);

}  // namespace coroner::commands
