// dis's renderer on synthesized bytes: each case is an instruction seen in a real kernel with
// the text gdb (through crash 9) prints for it, so formatting regressions show without a dump.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "commands/support/disasm.h"

namespace coroner::commands::disasm {
namespace {

constexpr uint64_t kAt = 0xffffffff81000000;

// A symbolizer for a fake kernel image at [kAt, kAt + 1 MiB): "fn" at kAt, "var" at kAt + 0x80000.
std::optional<std::string> fake_symbols(uint64_t a) {
  if (a < kAt || a >= kAt + 0x100000) return std::nullopt;
  if (a >= kAt + 0x80000) return a == kAt + 0x80000 ? std::string("var") : fmt::format("var+{}", a - kAt - 0x80000);
  return a == kAt ? std::string("fn") : fmt::format("fn+{}", a - kAt);
}

Instruction decode(std::vector<uint8_t> bytes, uint64_t at = kAt) {
  static auto d = X86Disassembler::create();
  EXPECT_TRUE(d.ok());
  return d->decode(at, bytes, fake_symbols);
}

struct Case {
  std::vector<uint8_t> bytes;
  const char* text;
};

TEST(Disasm, GdbTextForKernelInstructions) {
  const std::vector<Case> cases = {
      {{0x55}, "push   %rbp"},
      {{0x41, 0x54}, "push   %r12"},
      {{0x48, 0x89, 0xe5}, "mov    %rsp,%rbp"},
      {{0x65, 0x48, 0x8b, 0x1c, 0x25, 0x80, 0xfb, 0x01, 0x00}, "mov    %gs:0x1fb80,%rbx"},
      {{0x8b, 0x43, 0x18}, "mov    0x18(%rbx),%eax"},
      {{0x48, 0x8b, 0x7d, 0xf8}, "mov    -0x8(%rbp),%rdi"},
      {{0x48, 0xc7, 0xc7, 0xb9, 0x97, 0xb6, 0x90}, "mov    $0xffffffff90b697b9,%rdi"},
      {{0xbe, 0x01, 0x00, 0x00, 0x00}, "mov    $0x1,%esi"},
      {{0x83, 0xc8, 0xff}, "or     $0xffffffff,%eax"},
      {{0x48, 0x81, 0xe4, 0xff, 0xe7, 0xff, 0xff}, "and    $0xffffffffffffe7ff,%rsp"},
      {{0x6a, 0x2b}, "push   $0x2b"},
      {{0x6a, 0xda}, "push   $0xffffffffffffffda"},
      {{0x65, 0xff, 0x34, 0x25, 0x14, 0x60, 0x00, 0x00}, "push   %gs:0x6014"},
      {{0xf6, 0x40, 0x19, 0x10}, "testb  $0x10,0x19(%rax)"},
      {{0xa8, 0x30}, "test   $0x30,%al"},
      {{0x48, 0xd1, 0xeb}, "shr    $1,%rbx"},
      {{0x48, 0xc1, 0xe9, 0x03}, "shr    $0x3,%rcx"},
      {{0x48, 0xd3, 0xe0}, "shl    %cl,%rax"},
      {{0x40, 0x0f, 0xb6, 0xf6}, "movzbl %sil,%esi"},
      {{0x48, 0x63, 0xf6}, "movslq %esi,%rsi"},
      // REX prefixes some of whose bits change nothing, and SIB bytes without an index.
      {{0x40, 0x90}, "rex nop"},
      {{0x4d, 0xb5, 0x8f}, "rex.WRB mov $0x8f,%r13b"},
      {{0x28, 0x64, 0x65, 0x62}, "sub    %ah,0x62(%rbp,%riz,2)"},
      {{0x48, 0xb8, 1, 1, 1, 1, 1, 1, 1, 1}, "movabs $0x101010101010101,%rax"},
      {{0x48, 0x0f, 0x44, 0xc2}, "cmove  %rdx,%rax"},
      {{0x48, 0x98}, "cltq"},
      {{0x0f, 0x1f, 0x44, 0x00, 0x00}, "nopl   0x0(%rax,%rax,1)"},
      {{0x0f, 0x1f, 0x00}, "nopl   (%rax)"},
      {{0x66, 0x90}, "xchg   %ax,%ax"},
      {{0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, "data16 cs nopw 0x0(%rax,%rax,1)"},
      {{0xf0, 0x0f, 0xb1, 0x17}, "lock cmpxchg %edx,(%rdi)"},
      {{0xf3, 0x48, 0xab}, "rep stos %rax,%es:(%rdi)"},
      {{0xf3, 0xaa}, "rep stos %al,%es:(%rdi)"},
      {{0xf3, 0x48, 0xa5}, "rep movsq %ds:(%rsi),%es:(%rdi)"},
      {{0xc3}, "ret"},
      {{0xcc}, "int3"},
      {{0x0f, 0x0b}, "ud2"},
      {{0x0f, 0xb9, 0xcc}, "ud1    %esp,%ecx"},
      {{0xf3, 0x0f, 0x1e, 0xfa}, "endbr64"},
      {{0x9c}, "pushf"},
      {{0x0f, 0x01, 0xf8}, "swapgs"},
      {{0x0f, 0x20, 0xdc}, "mov    %cr3,%rsp"},
      {{0xf3, 0x48, 0x0f, 0xae, 0xc0}, "rdfsbase %rax"},
      {{0x66, 0x0f, 0x38, 0x82, 0x04, 0x24}, "invpcid (%rsp),%rax"},
      {{0xff, 0xe0}, "jmp    *%rax"},
      {{0x41, 0xff, 0xd3}, "call   *%r11"},
      {{0xec}, "in     (%dx),%al"},
      {{0xee}, "out    %al,(%dx)"},
  };
  for (const auto& c : cases) {
    Instruction i = decode(c.bytes);
    EXPECT_EQ(i.text, c.text) << "bytes " << fmt::format("{:02x}", fmt::join(c.bytes, " "));
    EXPECT_EQ(i.size, c.bytes.size()) << c.text;
  }
}

TEST(Disasm, BranchTargetsAndRipRelativeOperandsAreSymbolized) {
  // call rel32 to fn+0x100 from fn+0x10; a jump to a target outside the image has no name.
  EXPECT_EQ(decode({0xe8, 0xeb, 0x00, 0x00, 0x00}, kAt + 0x10).text, "call   0xffffffff81000100 <fn+256>");
  EXPECT_EQ(decode({0x74, 0x2c}, kAt).text, "je     0xffffffff8100002e <fn+46>");
  EXPECT_EQ(decode({0xe9, 0x00, 0x00, 0x00, 0x80}, kAt).text, "jmp    0xffffffff01000005");
  // mov 0x7fff9(%rip),%rax at fn: target var (fn + 7 + 0x7fff9).
  EXPECT_EQ(decode({0x48, 0x8b, 0x05, 0xf9, 0xff, 0x07, 0x00}, kAt).text,
            "mov    0x7fff9(%rip),%rax        # 0xffffffff81080000 <var>");
  EXPECT_EQ(decode({0xc6, 0x05, 0xf9, 0xff, 0x07, 0x00, 0x01}, kAt).text,
            "movb   $0x1,0x7fff9(%rip)        # 0xffffffff81080000 <var>");
  // A per-CPU offset through %gs: the 64-bit wrap-around gives a small, unnamed address.
  EXPECT_EQ(decode({0x65, 0xff, 0x05, 0x39, 0xfb, 0x01, 0x7f}, kAt).text, "incl   %gs:0x7f01fb39(%rip)        # 0x1fb40");
}

TEST(Disasm, RexPrefixBeforeAnotherPrefixIsAnInstruction) {
  // libopcodes shows a REX prefix that another prefix follows as "rex.WX" on its own.
  const std::vector<uint8_t> bytes = {0x4a, 0x48, 0xc7, 0x07, 0xb1, 0x14, 0x20, 0x7a};
  auto i = decode(bytes);
  EXPECT_EQ(i.size, 1u);
  EXPECT_EQ(i.text, "rex.WX");
}

TEST(Disasm, UndecodableX87FormReadsThroughItsModRm) {
  auto i = decode({0x4d, 0xdf, 0xfe, 0xff, 0x00});
  EXPECT_EQ(i.size, 3u);
  EXPECT_EQ(i.text, "rex.WRB (bad)");
}

TEST(Disasm, FtraceNopAndUndecodableBytes) {
  EXPECT_TRUE(decode({0x0f, 0x1f, 0x44, 0x00, 0x00}).is_ftrace_nop_form);
  EXPECT_FALSE(decode({0x0f, 0x1f, 0x40, 0x00}).is_ftrace_nop_form);
  Instruction bad = decode({0x06});  // push %es: invalid in 64-bit mode
  EXPECT_EQ(bad.text, "(bad)");
  EXPECT_EQ(bad.size, 1u);
  EXPECT_EQ(decode({}).text, "(bad)");
}

// Bytes that are not code (data, freed init text) as gdb 16's libopcodes reads them, each case
// seen in crash 9's `dis` of kernel data: the text and how many bytes the instruction takes.
struct NotCode {
  std::vector<uint8_t> bytes;
  size_t size;
  const char* text;
};

void expect_not_code(const std::vector<NotCode>& cases) {
  for (const auto& c : cases) {
    std::vector<uint8_t> padded = c.bytes;
    padded.resize(c.bytes.size() + 16, 0xc3);
    Instruction i = decode(padded);
    std::string b = fmt::format("{:02x}", fmt::join(c.bytes, " "));
    EXPECT_EQ(i.text, c.text) << "bytes " << b;
    EXPECT_EQ(i.size, c.size) << "bytes " << b;
  }
}

TEST(DisasmNotCode, PrefixesBeforeAnUndecodableOpcodeAreNamed) {
  expect_not_code({
      {{0x64, 0x2f}, 2, "fs (bad)"},
      {{0xf3, 0x07}, 2, "repz (bad)"},
      {{0xf0, 0x65, 0x61}, 3, "lock gs (bad)"},
      {{0x26, 0x36, 0x3f}, 3, "es ss (bad)"},
      {{0x67, 0x45, 0xea}, 3, "addr32 rex.RB (bad)"},
      {{0x4c, 0x3f}, 2, "rex.WR (bad)"},
      {{0x06}, 1, "(bad)"},
      {{0xd6}, 1, "(bad)"},
      {{0xff, 0xff}, 1, "(bad)"},  // ff /7: the ModRM byte is read again as the next instruction
      {{0x36, 0xff, 0xea}, 2, "ss ljmp (bad)"},  // ff /5 with a register: no far jump through one
      {{0x48, 0xd5}, 1, "rex.W"},  // d5 is APX's REX2 prefix: a REX before it stands alone
  });
}

TEST(DisasmNotCode, LockOnAnInstructionThatCannotTakeOneStaysWhereItStands) {
  expect_not_code({
      {{0xf0, 0x44, 0x81, 0xff, 0xff, 0xff, 0xff, 0x30}, 8, "lock rex.R cmp $0x30ffffff,%edi"},
      {{0xf2, 0xf0, 0x4e, 0x69, 0xe2, 0xa1, 0x65, 0xda, 0xf4}, 9,
       "repnz lock rex.WRX imul $0xfffffffff4da65a1,%rdx,%r12"},
      {{0xf0, 0xc2, 0xf7, 0x6e}, 4, "lock ret $0x6ef7"},
      {{0xf0, 0xab}, 2, "lock stos %eax,%es:(%rdi)"},
  });
}

TEST(DisasmNotCode, SizePrefixesTheInstructionDoesNotUseAreNamed) {
  expect_not_code({
      {{0x66, 0x66, 0xf4}, 3, "data16 data16 hlt"},
      {{0x66, 0x66, 0xaa}, 3, "data16 data16 stos %al,%es:(%rdi)"},
      {{0x67, 0x67, 0xa9, 0x56, 0x2b, 0x2b, 0x7d}, 7, "addr32 addr32 test $0x7d2b2b56,%eax"},
      {{0x67, 0x64, 0xf9}, 3, "addr32 fs stc"},
  });
}

TEST(DisasmNotCode, OperandFormsLibopcodesPrintsItsOwnWay) {
  expect_not_code({
      {{0x63, 0x7c, 0x77, 0x7b}, 4, "movsxd 0x7b(%rdi,%rsi,2),%edi"},
      {{0x63, 0xee}, 2, "movsxd %esi,%ebp"},
      {{0x01, 0xbc, 0x20, 0xd2, 0x98, 0x2a, 0x10}, 7, "add    %edi,0x102a98d2(%rax,%riz,1)"},
      {{0xdc, 0x7c, 0x21, 0xdf}, 4, "fdivrl -0x21(%rcx,%riz,1)"},
      {{0xd7}, 1, "xlat   %ds:(%rbx)"},
      {{0xf3, 0xd7}, 2, "repz xlat %ds:(%rbx)"},
      {{0x43, 0x90}, 2, "rex.XB xchg %eax,%r8d"},
      {{0xff, 0x6d, 0x74}, 3, "ljmp   *0x74(%rbp)"},
      {{0x4a, 0xca, 0x2a, 0xaa}, 4, "rex.WX lretq $0xaa2a"},
      {{0x46, 0xca, 0xc7, 0xee}, 4, "rex.RX lret $0xeec7"},
      {{0x8c, 0x73, 0x0a}, 3, "mov    %?,0xa(%rbx)"},
      {{0x8d, 0xff}, 1, "lea    (bad),%edi"},
      {{0x8e, 0xf4}, 2, "mov    %esp,%?"},
      {{0x66, 0x63, 0x1b}, 3, "movsxd (%rbx),%bx"},
      {{0x66, 0xc9}, 2, "leavew"},
      {{0x42, 0x68, 0xb2, 0x9d, 0x07, 0xb5}, 6, "rex.X push $0xffffffffb5079db2"},
      {{0x0f, 0x1d, 0xc0}, 3, "nop    %eax"},
      // A segment prefix on a string instruction's source: fs/gs show, the others read %ds.
      {{0x2e, 0x6e}, 2, "outsb  %ds:(%rsi),(%dx)"},
      {{0x2e, 0x43, 0xa6}, 3, "rex.XB cmpsb %es:(%rdi),%ds:(%rsi)"},
      {{0x64, 0xac}, 2, "lods   %fs:(%rsi),%al"},
      {{0x40, 0x8d, 0xdb}, 2, "rex lea (bad),%ebx"},
  });
  // A cs/ds prefix on a conditional branch is a hint.
  EXPECT_EQ(decode({0x3e, 0x42, 0x71, 0xb5}).text, "rex.X jno,pt 0xffffffff80ffffb9");
  EXPECT_EQ(decode({0x3e, 0xe1, 0xb7}).text, "loope,pt 0xffffffff80ffffba");
}

TEST(DisasmNotCode, X87RegisterFormsAndUnnamedForms) {
  expect_not_code({
      {{0xdc, 0xce}, 2, "fmul   %st,%st(6)"},
      {{0xdb, 0xec}, 2, "fucomi %st(4),%st"},
      {{0xd8, 0xef}, 2, "fsubr  %st(7),%st"},
      {{0xde, 0xe9}, 2, "fsubrp %st,%st(1)"},
      {{0x4d, 0xdf, 0xfe}, 3, "rex.WRB (bad)"},
      {{0xdd, 0x6d, 0x51}, 3, "(bad) 0x51(%rbp)"},
      {{0xd9, 0x8a, 0xcc, 0xdb, 0xb2, 0x78}, 6, "(bad) 0x78b2dbcc(%rdx)"},
      {{0x4a, 0xdd, 0x69, 0x2c}, 4, "rex.WX (bad) 0x2c(%rcx)"},
      {{0xdb, 0x27}, 2, "(bad) (%rdi)"},
  });
}

TEST(DisasmNotCode, VexXopAndEvexPrefixesLibopcodesRejects) {
  expect_not_code({
      {{0xc4, 0x40, 0x04}, 1, "(bad)"},         // VEX map 0: only the c4 byte
      {{0x44, 0xc4, 0x24, 0xa4}, 2, "rex.R (bad)"},
      {{0xc5, 0x2a, 0xcb}, 3, "(bad)"},         // a known map, no such opcode: prefix and opcode
      {{0x8f, 0xf4, 0x6a}, 1, "(bad)"},         // XOP map 0x14
      {{0x8f, 0xca, 0xca, 0x45}, 4, "(bad)"},
      {{0x65, 0x8f, 0x69, 0xae, 0x62}, 5, "(bad)"},
      {{0x62, 0xf3, 0x6b, 0x8b, 0xfc}, 5, "(bad)"},
      {{0x62, 0x70, 0xf0, 0xab}, 1, "(bad)"},             // EVEX map 0
      {{0x41, 0x62, 0x68, 0x5f, 0x77}, 2, "rex.B (bad)"},
      {{0x4c, 0x62, 0x54, 0x78, 0x3e, 0x89}, 6, "(bad)"},  // a REX before a known map is unnamed
      {{0x45, 0x8f, 0xca, 0xca, 0x9d}, 5, "(bad)"},
  });
}

TEST(DisasmNotCode, ApxRex2Prefix) {
  expect_not_code({
      {{0xd5, 0x00, 0x00, 0x00}, 4, "{rex2 0x0} add %al,(%rax)"},
      {{0xd5, 0x87, 0x2f, 0xcd}, 4, "{rex2 0x87} comiss %xmm13,%xmm9"},
      {{0xd5, 0xa8, 0x18, 0x88, 0xb4, 0x74, 0x75, 0x12}, 8, "{rex2 0xa8} prefetcht0 0x127574b4(%rax)"},
      {{0xd5, 0x6d, 0x50}, 3, "pushp  %r8"},
      {{0xd5, 0xe7, 0x71, 0xcb}, 3, "{rex2 0xe7} (bad)"},  // 0f 71 /1: no such form
      {{0xd5, 0xef, 0x89}, 3, "(bad)"},                   // Jcc rel32 takes no REX2
      {{0xd5, 0x2d, 0xa9}, 3, "(bad)"},                   // nor map 0's a0..af row
  });
}

TEST(DisasmNotCode, MpxAndHintNops) {
  expect_not_code({
      {{0x0f, 0x1b, 0x4d, 0x53}, 4, "bndstx %bnd1,0x53(%rbp)"},
      {{0x40, 0xe2, 0x69}, 3, "rex loop 0xffffffff8100006c <fn+108>"},
  });
}

}  // namespace
}  // namespace coroner::commands::disasm
