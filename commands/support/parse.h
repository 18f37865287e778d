// Numbers in command arguments, as crash reads them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace coroner::commands {

// A 64-bit hexadecimal number, with or without 0x; nothing when malformed or longer than 16 digits.
std::optional<uint64_t> parse_hex(std::string_view s);

}  // namespace coroner::commands
