// x86-64 disassembly in gdb's AT&T text (what crash's `dis` prints), decoded by capstone.
//
// Capstone decodes; this module renders. Capstone's own AT&T printer follows LLVM (`pushq`,
// `callq`, `$1`, `, ` between operands), while gdb prints through GNU libopcodes (`push`,
// `call`, `$0x1`, `,`, `0x0(%rax,%rax,1)` when a zero displacement is encoded, branch targets
// and %rip-relative operands followed by the address and `<symbol+offset>`). The renderer
// builds gdb's text from capstone's detail data (operands, prefixes, encoding offsets).
//
// On bytes that are not code (data, freed init text) it follows libopcodes' reading, which
// capstone does not share: prefixes read as libopcodes' ckprefix does (a REX before another
// prefix ends the instruction), each prefix the instruction does not use is named in front
// ("fs (bad)", "lock gs (bad)", "data16 data16 hlt"), an undecodable opcode consumes its map's
// escape bytes, x87 register forms come from libopcodes' table, VEX/XOP/EVEX prefixes it
// rejects take the prefix and opcode, and APX's REX2 prefix (d5) is decoded as gdb 16 does.
//
//   X86Disassembler d = TRY(X86Disassembler::create());
//   auto insn = d.decode(0xffffffff81000000, bytes, [&](uint64_t a) { return symbolize(a); });
//   fmt::print("{}\n", insn.text);   // "call   0xffffffff81234567 <foo+12>"
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "base/result.h"

namespace coroner::commands::disasm {

// "sym+off" (crash's value_to_symstr) for an address gdb would annotate as `<...>`, or nullopt.
using Symbolizer = std::function<std::optional<std::string>(uint64_t addr)>;

struct Instruction {
  uint64_t address = 0;
  size_t size = 0;      // bytes consumed; at least 1 (an undecodable byte is "(bad)")
  std::string text;     // gdb's text after the tab, e.g. "mov    %rsp,%rbp"
  bool is_ftrace_nop_form = false;  // the 5-byte `nopl 0x0(%rax,%rax,1)` (0f 1f 44 00 00)
};

class X86Disassembler {
 public:
  static Result<X86Disassembler> create();
  X86Disassembler(X86Disassembler&& o) noexcept : handle_(o.handle_) { o.handle_ = 0; }
  X86Disassembler& operator=(X86Disassembler&&) = delete;
  X86Disassembler(const X86Disassembler&) = delete;
  ~X86Disassembler();

  // Decodes the instruction at the start of `code` (which sits at `address`).
  Instruction decode(uint64_t address, std::span<const uint8_t> code, const Symbolizer& symbolize) const;

 private:
  explicit X86Disassembler(size_t handle) : handle_(handle) {}
  // An instruction behind APX's REX2 prefix at `at`, or nullopt when it cannot be rendered.
  std::optional<Instruction> decode_rex2(uint64_t address, std::span<const uint8_t> code, size_t at,
                                         const Symbolizer& symbolize) const;
  size_t handle_ = 0;  // capstone's csh
};

// The longest x86 instruction.
inline constexpr size_t kMaxInstructionBytes = 15;

}  // namespace coroner::commands::disasm
