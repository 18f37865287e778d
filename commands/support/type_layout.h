// crash's layout of a struct/union definition, which it makes by rewriting gdb's ptype text
// (as printed by symbols::Types::definition): with -o the offset column is as wide as
// "[SIZE]" plus two, in the output radix ("   [0x0] int users;" in a struct of 0x38 bytes,
// "     [0] ..." in one of 9728); given an address (`struct -o NAME ADDR`) each member's
// address replaces its offset ("  [ffffffff91375de0] int users;"); "SIZE: N" in the radix.
//
//   std::string def = TRY(types.definition(t, true, {}));
//   out.write(crash_layout(def, TRY(types.size_of(t)), 16, std::nullopt));
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace coroner::commands {

// `radix` is 10 or 16; `base`, when given, is the structure's address.
std::string crash_layout(const std::string& definition, uint64_t size, int radix, std::optional<uint64_t> base);

}  // namespace coroner::commands
