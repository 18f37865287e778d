// The kernel's ORC unwind tables (.orc_unwind_ip + .orc_unwind in vmlinux): for any text
// address, how to find the caller's stack pointer, frame pointer and return address.
// The entry layout is read from the kernel's own `struct orc_entry` (BTF), so both encodings
// work: before 6.4 (type:2 CALL/REGS/REGS_PARTIAL plus an `end` bit) and after (type:3 with
// UNDEFINED/END_OF_STACK, plus `signal`).
//
//   auto orc = TRY(OrcTable::from_vmlinux(vm, types));
//   if (auto e = orc.lookup(link_ip)) ... e->sp_reg == OrcReg::sp ...
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/result.h"
#include "symbols/types.h"
#include "symbols/vmlinux.h"

namespace coroner::symbols {

enum class OrcReg : uint8_t { undefined = 0, prev_sp = 1, dx = 2, di = 3, bp = 4, sp = 5, r10 = 6, r13 = 7, bp_indirect = 8, sp_indirect = 9 };
enum class OrcType : uint8_t { undefined, end_of_stack, call, regs, regs_partial };

struct OrcEntry {
  int16_t sp_offset = 0;
  int16_t bp_offset = 0;
  OrcReg sp_reg = OrcReg::undefined;
  OrcReg bp_reg = OrcReg::undefined;
  OrcType type = OrcType::undefined;
  bool signal = false;
};

class OrcTable {
 public:
  // An empty table when vmlinux has no ORC sections (CONFIG_UNWINDER_ORC=n); an error when
  // they are malformed, naming the section and offset.
  static Result<OrcTable> from_vmlinux(const Vmlinux& vm, Types& types);
  // From raw section contents (also what the unit tests and module ORC use): `ips` are
  // int32 offsets relative to each entry's own address `ip_base + 4*i`.
  static Result<OrcTable> from_sections(uint64_t ip_base, std::span<const uint8_t> ips,
                                        std::span<const uint8_t> entries, Types& types);
  bool empty() const { return ips_.empty(); }
  size_t size() const { return ips_.size(); }
  // The entry covering a link-time text address: the last one at or below it.
  std::optional<OrcEntry> lookup(uint64_t link_ip) const;

 private:
  struct Layout {
    uint32_t sp_reg_bit, sp_reg_bits, bp_reg_bit, bp_reg_bits, type_bit, type_bits;
    std::optional<uint32_t> end_bit, signal_bit;
    uint32_t sp_offset_off, bp_offset_off, size;
  };
  static Result<Layout> layout(Types& types);
  std::vector<uint64_t> ips_;          // sorted link-time addresses
  std::vector<uint8_t> raw_;           // entries, `layout_.size` bytes each, same order
  std::vector<uint32_t> order_;        // index into raw_ for ips_[i]
  Layout layout_{};
};

}  // namespace coroner::symbols
