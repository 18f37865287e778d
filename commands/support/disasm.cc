// Renders capstone's decoded x86-64 instructions in GNU libopcodes' AT&T text (gdb's).
// The rules follow what objdump/gdb print, checked instruction by instruction against crash 9
// (gdb 16) on Debian 6.1 and 6.12 kernels; see disasm.h.
#include "commands/support/disasm.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <vector>

namespace coroner::commands::disasm {
namespace {

csh as_csh(size_t h) { return static_cast<csh>(h); }

std::string hex(uint64_t v) { return fmt::format("{:#x}", v); }

// libopcodes prints a displacement signed: -0x8(%rbp), 0x0(%rax,%rax,1).
std::string signed_hex(int64_t v) {
  if (v < 0) return fmt::format("-{:#x}", static_cast<uint64_t>(0) - static_cast<uint64_t>(v));
  return hex(static_cast<uint64_t>(v));
}

uint64_t mask_to_size(uint64_t v, unsigned size) {
  if (size == 0 || size >= 8) return v;
  return v & ((uint64_t{1} << (size * 8)) - 1);
}

bool is_legacy_prefix(uint8_t b) {
  switch (b) {
    case 0xf0: case 0xf2: case 0xf3: case 0x2e: case 0x36: case 0x3e: case 0x26: case 0x64: case 0x65: case 0x66:
    case 0x67:
      return true;
    default:
      return false;
  }
}

bool is_rex(uint8_t b) { return (b & 0xf0) == 0x40; }

// libopcodes' name for a REX prefix it shows: "rex", "rex.W", "rex.WRB", ...
std::string rex_name(uint8_t b) {
  std::string bits;
  if (b & 8) bits += 'W';
  if (b & 4) bits += 'R';
  if (b & 2) bits += 'X';
  if (b & 1) bits += 'B';
  return bits.empty() ? "rex" : "rex." + bits;
}

// libopcodes' name for a legacy or REX prefix byte.
std::string prefix_name(uint8_t b) {
  switch (b) {
    case 0xf0: return "lock";
    case 0xf2: return "repnz";
    case 0xf3: return "repz";
    case 0x2e: return "cs";
    case 0x36: return "ss";
    case 0x3e: return "ds";
    case 0x26: return "es";
    case 0x64: return "fs";
    case 0x65: return "gs";
    case 0x66: return "data16";
    case 0x67: return "addr32";
    default: return rex_name(b);
  }
}

std::string joined_prefix_names(std::span<const uint8_t> bytes) {
  std::string s;
  for (uint8_t b : bytes) s += (s.empty() ? "" : " ") + prefix_name(b);
  return s;
}

// The 32-bit name of a 64-bit general register ("%rdi" -> "%edi", "%r8" -> "%r8d").
std::string reg32_of(std::string_view r64) {
  if (r64.size() == 4 && r64[1] == 'r' && !(r64[2] >= '0' && r64[2] <= '9')) return fmt::format("%e{}", r64.substr(2));
  if (r64.size() >= 3 && r64[1] == 'r') return fmt::format("{}d", r64);
  return std::string(r64);
}

// The 16-bit name of a 64-bit general register ("%rbx" -> "%bx", "%r8" -> "%r8w").
std::string reg16_of(std::string_view r64) {
  if (r64.size() == 4 && r64[1] == 'r' && !(r64[2] >= '0' && r64[2] <= '9')) return fmt::format("%{}", r64.substr(2));
  if (r64.size() >= 3 && r64[1] == 'r') return fmt::format("{}w", r64);
  return std::string(r64);
}

// x87 register forms (d8..df with mod 3) as libopcodes names them: which exist, and the
// operand order gdb prints ("fadd %st(3),%st", "fadd %st,%st(3)", "fld %st(3)").
enum class FpForm { bad, st_i_st, st_st_i, st_i, none, ax };
struct FpReg {
  const char* name;
  FpForm form;
};

FpReg x87_register_form(uint8_t opcode, uint8_t modrm) {
  unsigned reg = (modrm >> 3) & 7, rm = modrm & 7;
  auto group = [&](std::initializer_list<const char*> names) -> FpReg {
    const char* n = rm < names.size() ? names.begin()[rm] : nullptr;
    return n ? FpReg{n, FpForm::none} : FpReg{nullptr, FpForm::bad};
  };
  using F = FpForm;
  switch (opcode) {
    case 0xd8: {
      static constexpr std::array<FpReg, 8> t = {{{"fadd", F::st_i_st}, {"fmul", F::st_i_st}, {"fcom", F::st_i},
                                                  {"fcomp", F::st_i}, {"fsub", F::st_i_st}, {"fsubr", F::st_i_st},
                                                  {"fdiv", F::st_i_st}, {"fdivr", F::st_i_st}}};
      return t[reg];
    }
    case 0xd9:
      switch (reg) {
        case 0: return {"fld", F::st_i};
        case 1: return {"fxch", F::st_i};
        case 2: return group({"fnop"});
        case 4: return group({"fchs", "fabs", nullptr, nullptr, "ftst", "fxam"});
        case 5: return group({"fld1", "fldl2t", "fldl2e", "fldpi", "fldlg2", "fldln2", "fldz"});
        case 6: return group({"f2xm1", "fyl2x", "fptan", "fpatan", "fxtract", "fprem1", "fdecstp", "fincstp"});
        case 7: return group({"fprem", "fyl2xp1", "fsqrt", "fsincos", "frndint", "fscale", "fsin", "fcos"});
        default: return {nullptr, F::bad};
      }
    case 0xda: {
      static constexpr std::array<FpReg, 4> t = {
          {{"fcmovb", F::st_i_st}, {"fcmove", F::st_i_st}, {"fcmovbe", F::st_i_st}, {"fcmovu", F::st_i_st}}};
      if (reg < 4) return t[reg];
      if (reg == 5) return group({nullptr, "fucompp"});
      return {nullptr, F::bad};
    }
    case 0xdb: {
      static constexpr std::array<FpReg, 8> t = {{{"fcmovnb", F::st_i_st}, {"fcmovne", F::st_i_st},
                                                  {"fcmovnbe", F::st_i_st}, {"fcmovnu", F::st_i_st}, {nullptr, F::bad},
                                                  {"fucomi", F::st_i_st}, {"fcomi", F::st_i_st}, {nullptr, F::bad}}};
      if (reg == 4) return group({"fneni(8087 only)", "fndisi(8087 only)", "fnclex", "fninit", "fnsetpm(287 only)", "frstpm"});
      return t[reg];
    }
    case 0xdc: {
      // AT&T (SysV386) names: dc e0+i reads fsub, dc e8+i fsubr, the reverse of Intel's.
      static constexpr std::array<FpReg, 8> t = {{{"fadd", F::st_st_i}, {"fmul", F::st_st_i}, {nullptr, F::bad},
                                                  {nullptr, F::bad}, {"fsub", F::st_st_i}, {"fsubr", F::st_st_i},
                                                  {"fdiv", F::st_st_i}, {"fdivr", F::st_st_i}}};
      return t[reg];
    }
    case 0xdd: {
      static constexpr std::array<FpReg, 8> t = {{{"ffree", F::st_i}, {nullptr, F::bad}, {"fst", F::st_i},
                                                  {"fstp", F::st_i}, {"fucom", F::st_i}, {"fucomp", F::st_i},
                                                  {nullptr, F::bad}, {nullptr, F::bad}}};
      return t[reg];
    }
    case 0xde: {
      static constexpr std::array<FpReg, 8> t = {{{"faddp", F::st_st_i}, {"fmulp", F::st_st_i}, {nullptr, F::bad},
                                                  {nullptr, F::bad}, {"fsubp", F::st_st_i}, {"fsubrp", F::st_st_i},
                                                  {"fdivp", F::st_st_i}, {"fdivrp", F::st_st_i}}};
      if (reg == 3) return group({nullptr, "fcompp"});
      return t[reg];
    }
    default: {  // df
      if (reg == 0) return {"ffreep", F::st_i};
      if (reg == 4) return rm == 0 ? FpReg{"fnstsw", F::ax} : FpReg{nullptr, F::bad};
      if (reg == 5) return {"fucomip", F::st_i_st};
      if (reg == 6) return {"fcomip", F::st_i_st};
      return {nullptr, F::bad};
    }
  }
}

// libopcodes' register names (capstone's, except the debug registers).
std::string reg_name(csh h, x86_reg r) {
  const char* n = cs_reg_name(h, r);
  std::string s = n ? n : "?";
  if (s.size() == 3 && s[0] == 'd' && s[1] == 'r') s = "db" + s.substr(2);
  return "%" + s;
}

struct Shape {
  bool is_branch = false;      // call/jmp/jcc/loop/jrcxz: an immediate operand is a target
  bool indirect_capable = false;  // call/jmp: register or memory operands take `*`
  bool never_suffix = false;   // 64-bit default size: push/pop/call/jmp/ret
  bool is_shift = false;       // rol..sar: %cl is a count, d0/d1 print no count
};

Shape shape_of(unsigned id) {
  Shape s;
  switch (id) {
    case X86_INS_CALL: case X86_INS_JMP:
      s.is_branch = s.indirect_capable = s.never_suffix = true;
      break;
    case X86_INS_JAE: case X86_INS_JA: case X86_INS_JBE: case X86_INS_JB: case X86_INS_JCXZ: case X86_INS_JECXZ:
    case X86_INS_JE: case X86_INS_JGE: case X86_INS_JG: case X86_INS_JLE: case X86_INS_JL: case X86_INS_JNE:
    case X86_INS_JNO: case X86_INS_JNP: case X86_INS_JNS: case X86_INS_JO: case X86_INS_JP: case X86_INS_JRCXZ:
    case X86_INS_JS: case X86_INS_LOOP: case X86_INS_LOOPE: case X86_INS_LOOPNE:
      s.is_branch = true;
      break;
    case X86_INS_PUSH: case X86_INS_POP: case X86_INS_RET: case X86_INS_PUSHF: case X86_INS_POPF:
      s.never_suffix = true;
      break;
    case X86_INS_LCALL: case X86_INS_LJMP:  // far through memory: "lcall *(%rbx)"
      s.indirect_capable = s.never_suffix = true;
      break;
    case X86_INS_ROL: case X86_INS_ROR: case X86_INS_RCL: case X86_INS_RCR: case X86_INS_SHL: case X86_INS_SAL:
    case X86_INS_SHR: case X86_INS_SAR:
      s.is_shift = true;
      break;
    default:
      break;
  }
  return s;
}

// String instructions: libopcodes names the implicit operands (%ds:(%rsi), %es:(%rdi)).
struct StringOp {
  const char* mnemonic;  // as libopcodes prints it
  bool repz_repnz;       // cmps/scas: f3 is "repz", f2 "repnz"; others: f3 is "rep"
  int layout;            // 0: movs/cmps src,dst; 1: stos acc,dst; 2: lods src,acc; 3: scas dst,acc
};

std::optional<StringOp> string_op(unsigned id) {
  switch (id) {
    case X86_INS_MOVSB: return StringOp{"movsb", false, 0};
    case X86_INS_MOVSW: return StringOp{"movsw", false, 0};
    case X86_INS_MOVSD: return StringOp{"movsl", false, 0};
    case X86_INS_MOVSQ: return StringOp{"movsq", false, 0};
    case X86_INS_CMPSB: return StringOp{"cmpsb", true, 4};
    case X86_INS_CMPSW: return StringOp{"cmpsw", true, 4};
    case X86_INS_CMPSD: return StringOp{"cmpsl", true, 4};
    case X86_INS_CMPSQ: return StringOp{"cmpsq", true, 4};
    case X86_INS_STOSB: case X86_INS_STOSW: case X86_INS_STOSD: case X86_INS_STOSQ: return StringOp{"stos", false, 1};
    case X86_INS_LODSB: case X86_INS_LODSW: case X86_INS_LODSD: case X86_INS_LODSQ: return StringOp{"lods", false, 2};
    case X86_INS_SCASB: case X86_INS_SCASW: case X86_INS_SCASD: case X86_INS_SCASQ: return StringOp{"scas", true, 3};
    case X86_INS_INSB: return StringOp{"insb", false, 5};
    case X86_INS_INSW: return StringOp{"insw", false, 5};
    case X86_INS_INSD: return StringOp{"insl", false, 5};
    case X86_INS_OUTSB: return StringOp{"outsb", false, 6};
    case X86_INS_OUTSW: return StringOp{"outsw", false, 6};
    case X86_INS_OUTSD: return StringOp{"outsl", false, 6};
    default: return std::nullopt;
  }
}

const char* accumulator(unsigned id) {
  switch (id) {
    case X86_INS_STOSB: case X86_INS_LODSB: case X86_INS_SCASB: return "%al";
    case X86_INS_STOSW: case X86_INS_LODSW: case X86_INS_SCASW: return "%ax";
    case X86_INS_STOSD: case X86_INS_LODSD: case X86_INS_SCASD: return "%eax";
    default: return "%rax";
  }
}

// Instructions whose f3/f2 prefix is part of the opcode, not a repeat.
bool mandatory_rep(unsigned id) {
  switch (id) {
    case X86_INS_PAUSE: case X86_INS_ENDBR64: case X86_INS_ENDBR32: case X86_INS_POPCNT: case X86_INS_TZCNT:
    case X86_INS_LZCNT: case X86_INS_RDFSBASE: case X86_INS_RDGSBASE: case X86_INS_WRFSBASE: case X86_INS_WRGSBASE:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<X86Disassembler> X86Disassembler::create() {
  csh h = 0;
  if (cs_err e = cs_open(CS_ARCH_X86, CS_MODE_64, &h); e != CS_ERR_OK)
    return Error::make(Errc::unsupported, "capstone: cannot open an x86-64 disassembler: {}", cs_strerror(e));
  cs_option(h, CS_OPT_SYNTAX, CS_OPT_SYNTAX_ATT);
  cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
  return X86Disassembler(static_cast<size_t>(h));
}

X86Disassembler::~X86Disassembler() {
  if (handle_) {
    csh h = as_csh(handle_);
    cs_close(&h);
  }
}

std::optional<Instruction> X86Disassembler::decode_rex2(uint64_t address, std::span<const uint8_t> code, size_t at,
                                                        const Symbolizer& symbolize) const {
  uint8_t payload = code[at + 1], opcode = code[at + 2];
  bool map1 = payload & 0x80;
  unsigned row = opcode >> 4;
  // Opcode rows REX2 may not prefix: map 0's REX, Jcc, a0..af and e0..ef rows; map 1's
  // 0f 3x escapes and Jcc rel32. The prefix and opcode are read, then "(bad)".
  bool refused = map1 ? (row == 3 || row == 8) : (row == 4 || row == 7 || row == 0xa || row == 0xe);
  Instruction out;
  out.address = address;
  if (refused) {
    out.size = at + 3;
    out.text = at ? joined_prefix_names(code.first(at)) + " (bad)" : "(bad)";
    return out;
  }
  // Read as the REX form (REX.WRXB = the payload's low bits; map 1 as 0f): right when the
  // high register bits R4 X4 B4 select nothing (no general register in their field).
  std::vector<uint8_t> alt(code.begin(), code.begin() + static_cast<ptrdiff_t>(at));
  alt.push_back(static_cast<uint8_t>(0x40 | (payload & 0x0f)));
  if (map1) alt.push_back(0x0f);
  alt.insert(alt.end(), code.begin() + static_cast<ptrdiff_t>(at + 2),
             code.begin() + static_cast<ptrdiff_t>(std::min(code.size(), at + kMaxInstructionBytes)));
  size_t shift = map1 ? 0 : 1;  // the REX form is one byte shorter without a 0f
  csh h = as_csh(handle_);
  cs_insn* insn = nullptr;
  if (cs_disasm(h, alt.data(), alt.size(), address + shift, 1, &insn) != 1) {
    // No such instruction: the prefix (named with its payload) and the opcode are read.
    out.size = at + 3;
    out.text = fmt::format("{}{{rex2 {:#x}}} (bad)", at ? joined_prefix_names(code.first(at)) + " " : "", payload);
    return out;
  }
  // The short push/pop forms name their register with B only.
  bool short_form = !map1 && opcode >= 0x50 && opcode <= 0x5f;
  bool gpr_in_high_fields = false;
  const cs_x86& x = insn->detail->x86;
  for (int i = 0; i < x.op_count; ++i) {
    const cs_x86_op& o = x.operands[i];
    auto is_gpr = [&](x86_reg r) {
      const char* n = cs_reg_name(h, r);
      return n && (n[0] == 'r' || n[0] == 'e' || std::strlen(n) <= 3) && n[0] != 's' && std::string_view(n) != "rip" &&
             std::string_view(n).find("mm") == std::string_view::npos && std::string_view(n).find("st") != 0;
    };
    if (o.type == X86_OP_REG && is_gpr(o.reg) && (payload & (short_form ? 0x10 : 0x50))) gpr_in_high_fields = true;
    if (o.type == X86_OP_MEM && (((payload & 0x10) && o.mem.base != X86_REG_INVALID && o.mem.base != X86_REG_RIP) ||
                                 ((payload & 0x20) && o.mem.index != X86_REG_INVALID)))
      gpr_in_high_fields = true;
  }
  unsigned id = insn->id;
  cs_free(insn, 1);
  if (gpr_in_high_fields) return std::nullopt;
  Instruction r = decode(address + shift, alt, symbolize);
  r.address = address;
  r.size += shift;
  // push/pop with W are APX's pushp/popp (a balanced-pair hint).
  if ((id == X86_INS_PUSH || id == X86_INS_POP) && (payload & 0x08) && !map1 && opcode >= 0x50 && opcode <= 0x5f) {
    size_t rex_at = r.text.find("rex");
    if (rex_at != std::string::npos) r.text.erase(rex_at, r.text.find(' ', rex_at) + 1 - rex_at);
    size_t m = r.text.find(id == X86_INS_PUSH ? "push" : "pop");
    if (m != std::string::npos) {
      size_t end = r.text.find(' ', m);
      std::string ops = r.text.substr(r.text.find_first_not_of(' ', end));
      std::string head = r.text.substr(0, end) + "p";
      if (head.size() < 6) head.append(6 - head.size(), ' ');
      r.text = head + " " + ops;
    }
    return r;
  }
  // libopcodes names the prefix "{rex2}", with its payload when some bit of it is unused.
  size_t rex_at = r.text.find("rex");
  bool unused = (payload & 0x70) != 0 || rex_at != std::string::npos;
  std::string name = unused ? fmt::format("{{rex2 {:#x}}}", payload) : "{rex2}";
  if (payload == 0) name = "{rex2 0x0}";
  if (rex_at != std::string::npos) {
    r.text.replace(rex_at, r.text.find(' ', rex_at) - rex_at, name);
  } else {
    size_t end = r.text.find(' ');
    std::string mnemonic = r.text.substr(0, end);
    std::string rest = end == std::string::npos ? "" : r.text.substr(r.text.find_first_not_of(' ', end));
    r.text = name + " " + mnemonic + (rest.empty() ? "" : " " + rest);
  }
  return r;
}

Instruction X86Disassembler::decode(uint64_t address, std::span<const uint8_t> code, const Symbolizer& symbolize) const {
  csh h = as_csh(handle_);
  Instruction out;
  out.address = address;
  // ud1 (0f b9 /r, the kernel's UD1 traps): capstone 4 decodes it without its ModRM byte.
  if (code.size() >= 3 && code[0] == 0x0f && code[1] == 0xb9 && (code[2] >> 6) == 3) {
    static constexpr std::array<const char*, 8> r32 = {"%eax", "%ecx", "%edx", "%ebx", "%esp", "%ebp", "%esi", "%edi"};
    out.size = 3;
    out.text = fmt::format("ud1    {},{}", r32[code[2] & 7], r32[(code[2] >> 3) & 7]);
    return out;
  }
  // Prefixes as libopcodes' ckprefix reads them: a REX prefix followed by another prefix, or
  // prefixes followed by fwait, end the instruction, and the prefixes read so far print as one
  // ("rex.WX", "lock rex.W", "data16").
  size_t npre = 0;
  bool saw_rex = false;
  while (npre < code.size() && npre < kMaxInstructionBytes) {
    uint8_t b = code[npre];
    if (b == 0x9b && npre == 0) break;
    // d5 is APX's REX2 prefix, which libopcodes (gdb 16) reads as one too.
    if ((b == 0x9b || is_legacy_prefix(b) || is_rex(b) || (b == 0xd5 && saw_rex)) && (saw_rex || b == 0x9b)) {
      out.size = npre;
      out.text = joined_prefix_names(code.first(npre));
      return out;
    }
    if (!is_legacy_prefix(b) && !is_rex(b)) break;
    saw_rex = is_rex(b);
    ++npre;
  }
  const size_t op_at = npre;  // the opcode byte
  auto with_prefixes = [&](std::string body, size_t size) {
    out.size = size;
    out.text = npre ? joined_prefix_names(code.first(npre)) + " " + body : std::move(body);
    return out;
  };
  auto pad = [](std::string head, std::string_view operands) {
    if (head.size() < 6) head.append(6 - head.size(), ' ');
    return head + " " + std::string(operands);
  };

  // x87 register forms: libopcodes' own table says which exist and how their operands read.
  // No prefix applies to them, so each one present is named.
  if (op_at + 1 < code.size() && code[op_at] >= 0xd8 && code[op_at] <= 0xdf && (code[op_at + 1] >> 6) == 3) {
    FpReg f = x87_register_form(code[op_at], code[op_at + 1]);
    unsigned i = code[op_at + 1] & 7;
    std::string operands;
    switch (f.form) {
      case FpForm::bad: case FpForm::none: break;
      case FpForm::ax: operands = "%ax"; break;
      case FpForm::st_i: operands = fmt::format("%st({})", i); break;
      case FpForm::st_i_st: operands = fmt::format("%st({}),%st", i); break;
      case FpForm::st_st_i: operands = fmt::format("%st,%st({})", i); break;
    }
    with_prefixes(f.name ? f.name : "(bad)", op_at + 2);
    if (!operands.empty()) out.text = pad(out.text, operands);
    return out;
  }
  // Forms no instruction has, which libopcodes still reads through their ModRM byte and prints
  // with the operand it decoded: an x87 memory form without a name (d9 /1, dd /5) is "(bad)
  // MEM", a register operand of lea is "(bad)", segment registers 6 and 7 are "%?".
  if (op_at + 1 < code.size()) {
    uint8_t op = code[op_at], modrm = code[op_at + 1];
    unsigned reg = (modrm >> 3) & 7;
    auto redecode = [&](uint8_t new_modrm, std::string_view from, std::string_view to,
                        bool last = false) -> std::optional<Instruction> {
      std::vector<uint8_t> alt(code.begin(), code.begin() + static_cast<ptrdiff_t>(std::min(code.size(), op_at + kMaxInstructionBytes)));
      alt[op_at + 1] = new_modrm;
      Instruction r = decode(address, alt, symbolize);
      size_t at = last ? r.text.rfind(from) : r.text.find(from);
      if (at == std::string::npos || r.text.rfind("(bad)", 0) == 0) return std::nullopt;
      size_t len = from.size();
      if (to == "(bad) ")  // a mnemonic: it and the padding after it
        while (at + len < r.text.size() && r.text[at + len] == ' ') ++len;
      r.text.replace(at, len, to);
      return r;
    };
    bool x87_unnamed = (op == 0xd9 && reg == 1) || (op == 0xdb && (reg == 4 || reg == 6)) || (op == 0xdd && reg == 5);
    if (x87_unnamed && (modrm >> 6) != 3) {
      // Read as the /0 form of the same escape (fld/fild), then renamed.
      const char* as = op == 0xd9 ? "flds" : op == 0xdb ? "fildl" : "fldl";
      if (auto r = redecode(static_cast<uint8_t>(modrm & 0xc7), as, "(bad) ")) return *r;
    }
    if ((op == 0x8c || op == 0x8e) && reg >= 6) {
      // The segment register is the source of 8c, the destination of 8e.
      if (auto r = redecode(static_cast<uint8_t>(modrm & 0xc7), "%es", "%?", op == 0x8e)) return *r;
    }
    // 0f 19..0f 1f: hint space libopcodes reads as nop with an operand; capstone refuses the
    // register forms (and some memory forms, read here as the 0f 1f one).
    if (op == 0x0f && op_at + 2 < code.size() && code[op_at + 1] >= 0x19 && code[op_at + 1] <= 0x1f) {
      cs_insn* probe = nullptr;
      size_t ok = cs_disasm(h, code.data(), code.size(), address, 1, &probe);
      if (ok) cs_free(probe, ok);
      uint8_t m = code[op_at + 2];
      if (!ok && (m >> 6) == 3) {
        static constexpr std::array<const char*, 16> r32 = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
                                                           "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
        static constexpr std::array<const char*, 16> r64 = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                                           "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
        uint8_t rex = saw_rex ? code[op_at - 1] : 0;
        unsigned r = (m & 7) | ((rex & 1) ? 8 : 0);
        bool has66 = std::find(code.begin(), code.begin() + static_cast<ptrdiff_t>(op_at), 0x66) !=
                     code.begin() + static_cast<ptrdiff_t>(op_at);
        std::string name = (rex & 8) ? r64[r] : has66 ? reg16_of(fmt::format("%{}", r64[r])).substr(1) : r32[r];
        out.size = op_at + 3;
        // Prefixes other than the size ones are named.
        std::string head;
        for (size_t i = 0; i < op_at; ++i) {
          uint8_t b = code[i];
          if (b == 0x66 && has66) continue;
          if (is_rex(b) && (b & 0x06) == 0 && b != 0x40) continue;  // named when R or X is set, or bare
          head += prefix_name(b) + " ";
        }
        out.text = pad(head + "nop", "%" + name);
        return out;
      }
      bool mpx = op_at == 0 && (code[1] == 0x1a || code[1] == 0x1b) && (m >> 6) != 3;
      if (!ok || mpx) {
        std::vector<uint8_t> alt(code.begin(), code.begin() + static_cast<ptrdiff_t>(std::min(code.size(), op_at + kMaxInstructionBytes)));
        alt[op_at + 1] = 0x1f;
        alt[op_at + 2] = static_cast<uint8_t>(m & 0xc7);
        Instruction r = decode(address, alt, symbolize);
        if (r.text.rfind("nopl   ", 0) == 0 && op_at == 0 && (code[1] == 0x1a || code[1] == 0x1b)) {
          // MPX without a prefix: bndldx MEM,%bndN and bndstx %bndN,MEM.
          std::string mem = r.text.substr(7);
          std::string bnd = fmt::format("%bnd{}", (m >> 3) & 7);
          r.text = code[1] == 0x1a ? "bndldx " + mem + "," + bnd : "bndstx " + bnd + "," + mem;
          return r;
        }
        if (r.text.rfind("nop", 0) == 0 && code[op_at + 1] != 0x1a && code[op_at + 1] != 0x1b) return r;
      }
    }
    if (op == 0xff && (reg == 3 || reg == 5) && (modrm >> 6) == 3) {
      // A far call or jump through a register: the ModRM byte is read again.
      with_prefixes(reg == 3 ? "lcall" : "ljmp", op_at + 1);
      out.text = pad(out.text, "(bad)");
      return out;
    }
    if (op == 0x8d && (modrm >> 6) == 3) {
      // REX.B and REX.X name nothing here: such a REX prefix (or a bare 0x40) is named whole.
      uint8_t rex = saw_rex ? code[op_at - 1] : 0;
      std::vector<uint8_t> alt(code.begin(), code.begin() + static_cast<ptrdiff_t>(op_at + 2));
      if (saw_rex) alt[op_at - 1] = static_cast<uint8_t>(rex & ~3);
      alt[op_at + 1] = static_cast<uint8_t>(modrm & 0x38);
      Instruction r = decode(address, alt, symbolize);
      size_t at = r.text.find("(%rax)");
      if (at != std::string::npos) {
        r.text.replace(at, 6, "(bad)");
        if (saw_rex && ((rex & 3) || rex == 0x40) && r.text.rfind("rex", 0) != 0) r.text = rex_name(rex) + " " + r.text;
        r.size = op_at + 1;  // the ModRM byte is read again as the next instruction
        return r;
      }
    }
  }

  // APX's REX2 prefix (d5 PAYLOAD, payload M0 R4 X4 B4 W R3 X3 B3), which gdb 16 decodes.
  if (op_at + 2 < code.size() && code[op_at] == 0xd5) {
    if (auto r = decode_rex2(address, code, op_at, symbolize)) return *r;
  }

  cs_insn* insn = nullptr;
  size_t n = code.empty() ? 0 : cs_disasm(h, code.data(), code.size(), address, 1, &insn);
  // A lock prefix on an instruction that cannot take one: capstone refuses the whole, libopcodes
  // names the prefix where it stands and decodes the rest ("repnz lock rex.WRX imul ...").
  size_t nlock = 0;
  if (n == 0) {
    std::vector<uint8_t> rest;
    for (size_t i = 0; i < code.size(); ++i) {
      if (i < op_at && code[i] == 0xf0) ++nlock;
      else rest.push_back(code[i]);
    }
    if (nlock) n = cs_disasm(h, rest.data(), rest.size(), address + nlock, 1, &insn);
  }
  if (n == 0) {
    if (op_at >= code.size()) return with_prefixes("(bad)", code.size());
    uint8_t op = code[op_at];
    uint8_t next = op_at + 1 < code.size() ? code[op_at + 1] : 0;
    // VEX (c4, c5), XOP (8f with a ModRM reg field other than 0) and EVEX (62): libopcodes
    // reads the prefix, and a map it does not know ends the instruction at the first byte (the
    // prefixes in front named); otherwise the opcode is read too and the whole is "(bad)", the
    // prefixes in front unnamed.
    auto vex_bad = [&](size_t prefix_len, bool map_known) {
      if (!map_known) return with_prefixes("(bad)", op_at + 1);
      out.size = std::min(code.size(), op_at + prefix_len + 1);
      out.text = "(bad)";
      return out;
    };
    if (op == 0xc5) return vex_bad(2, true);
    if (op == 0xc4) return vex_bad(3, (next & 0x1f) >= 1 && (next & 0x1f) <= 3);
    if (op == 0x8f && ((next >> 3) & 7) != 0) return vex_bad(3, (next & 0x1f) >= 8 && (next & 0x1f) <= 10);
    if (op == 0x62) return vex_bad(4, (next & 7) != 0);
    // An opcode no instruction has: libopcodes consumes it (with the escape bytes of its map)
    // and names each prefix in front.
    size_t len = 1;
    if (op == 0x0f && op_at + 1 < code.size())
      len = (code[op_at + 1] == 0x38 || code[op_at + 1] == 0x3a) && op_at + 2 < code.size() ? 3 : 2;
    return with_prefixes("(bad)", std::min(code.size(), op_at + len));
  }
  struct Free {
    cs_insn* p;
    ~Free() { cs_free(p, 1); }
  } free_insn{insn};

  const cs_x86& x = insn->detail->x86;
  const uint8_t* bytes = insn->bytes;
  out.size = insn->size + nlock;
  unsigned id = insn->id;
  Shape shape = shape_of(id);

  // Legacy prefixes in byte order; the ones the instruction uses are dropped below.
  size_t npfx = 0;
  while (npfx < insn->size && is_legacy_prefix(bytes[npfx])) ++npfx;
  std::vector<uint8_t> prefixes(bytes, bytes + npfx);
  if (nlock) prefixes.assign(code.begin(), code.begin() + static_cast<ptrdiff_t>(npfx + nlock));

  // gdb prints `66 90` as the operand-size form of xchg; capstone calls it nop.
  if (id == X86_INS_NOP && insn->size == 2 && bytes[0] == 0x66 && bytes[1] == 0x90) {
    out.text = "xchg   %ax,%ax";
    return out;
  }
  out.is_ftrace_nop_form = insn->size == 5 && bytes[0] == 0x0f && bytes[1] == 0x1f && bytes[2] == 0x44 &&
                           bytes[3] == 0x00 && bytes[4] == 0x00;

  std::vector<std::string> ops;
  std::string comment;
  std::string mnemonic;

  // Which prefixes the instruction consumed.
  bool seg_used = false, addr_used = false, f3_is_rep = false;
  auto seg_name = [](uint8_t b) -> const char* {
    switch (b) {
      case 0x2e: return "cs";
      case 0x36: return "ss";
      case 0x3e: return "ds";
      case 0x26: return "es";
      case 0x64: return "fs";
      case 0x65: return "gs";
      default: return nullptr;
    }
  };
  uint8_t branch_hint = 0;  // the cs/ds prefix read as a branch hint
  bool has66 = std::find(prefixes.begin(), prefixes.end(), 0x66) != prefixes.end();
  bool size_prefix_used = false;  // set where the renderer itself gives 66 its meaning
  uint8_t seg_prefix = 0;
  for (uint8_t b : prefixes)
    if (seg_name(b)) seg_prefix = b;

  auto render_mem = [&](const x86_op_mem& m, bool with_segment) {
    std::string s;
    bool fs_gs = m.segment == X86_REG_FS || m.segment == X86_REG_GS;
    if (with_segment && m.segment != X86_REG_INVALID && fs_gs) {
      s += reg_name(h, static_cast<x86_reg>(m.segment)) + ":";
      seg_used = true;
    }
    bool has_base = m.base != X86_REG_INVALID;
    bool has_index = m.index != X86_REG_INVALID;
    bool rip = m.base == X86_REG_RIP || m.base == X86_REG_EIP;
    if (rip) {
      s += signed_hex(m.disp) + "(" + reg_name(h, static_cast<x86_reg>(m.base)) + ")";
      uint64_t target = address + insn->size + static_cast<uint64_t>(m.disp);
      if (m.base == X86_REG_EIP) target &= 0xffffffffu;
      comment = "        # " + hex(target);
      if (auto sym = symbolize(target)) comment += " <" + *sym + ">";
      return s;
    }
    // A SIB byte whose index field says "none" with a non-zero scale: libopcodes writes the
    // pseudo-register %riz (%eiz) with the scale, capstone drops both.
    int riz_scale = 0;
    if (!has_index && x.encoding.modrm_offset != 0 && x.encoding.modrm_offset + 1u < insn->size) {
      uint8_t modrm = bytes[x.encoding.modrm_offset];
      if ((modrm >> 6) != 3 && (modrm & 7) == 4) {
        uint8_t sib = bytes[x.encoding.modrm_offset + 1];
        // The pseudo-index shows when the SIB byte scales it, and after any base but %rsp/%r12
        // (whose encoding needs a SIB byte anyway).
        bool sib_base_is_sp = (sib & 7) == 4;
        if (((sib >> 3) & 7) == 4 && !(x.rex & 2) && ((sib >> 6) != 0 || (has_base && !sib_base_is_sp)))
          riz_scale = 1 << (sib >> 6);
      }
    }
    std::string riz = riz_scale ? fmt::format(",{},{}", x.addr_size == 4 ? "%eiz" : "%riz", riz_scale) : "";
    if (!has_base && !has_index && riz.empty()) {
      s += hex(static_cast<uint64_t>(m.disp));
      return s;
    }
    if (x.encoding.disp_offset != 0) s += signed_hex(m.disp);
    s += "(";
    if (has_base) s += reg_name(h, static_cast<x86_reg>(m.base));
    if (has_index) s += "," + reg_name(h, static_cast<x86_reg>(m.index)) + fmt::format(",{}", m.scale);
    s += riz;
    s += ")";
    return s;
  };
  // 67 is used by an instruction that addresses memory; the last of several is the one read.
  if (x.addr_size == 4) {
    for (int i = 0; i < x.op_count; ++i) addr_used |= x.operands[i].type == X86_OP_MEM;
    addr_used |= string_op(id).has_value() || id == X86_INS_XLATB || id == X86_INS_JECXZ || id == X86_INS_LOOP ||
                 id == X86_INS_LOOPE || id == X86_INS_LOOPNE;
  }

  // The %ds:(%rsi) source of a string instruction (and xlat's %ds:(%rbx)) takes a segment
  // prefix: fs and gs show, the others are ignored in 64-bit mode and read %ds.
  auto source_operand = [&](const char* base) {
    bool reads_source = true;
    if (auto so = string_op(id)) reads_source = so->layout == 0 || so->layout == 2 || so->layout == 4 || so->layout == 6;
    if (seg_prefix && reads_source) seg_used = true;
    const char* seg = seg_prefix == 0x64 ? "%fs:" : seg_prefix == 0x65 ? "%gs:" : "%ds:";
    return std::string(seg) + base;
  };
  if (auto so = string_op(id)) {
    mnemonic = so->mnemonic;
    std::string rsi = source_operand(x.addr_size == 4 ? "(%esi)" : "(%rsi)");
    std::string rdi = x.addr_size == 4 ? "%es:(%edi)" : "%es:(%rdi)";
    switch (so->layout) {
      case 0: ops = {rsi, rdi}; break;
      case 1: ops = {accumulator(id), rdi}; break;
      case 2: ops = {rsi, accumulator(id)}; break;
      case 3: ops = {rdi, accumulator(id)}; break;
      case 5: ops = {"(%dx)", rdi}; break;
      case 6: ops = {rsi, "(%dx)"}; break;
      default: ops = {rdi, rsi}; break;
    }
    // f3 reads "rep" on movs/stos/lods/ins/outs, "repz" on cmps/scas.
    f3_is_rep = !so->repz_repnz;
  } else {
    // Capstone's AT&T mnemonic carries a size suffix (and repeat/lock prefixes); libopcodes
    // prints the suffix only when no register operand gives the size.
    std::string cs_mnem = insn->mnemonic;
    for (std::string_view p : {"lock ", "rep ", "repne ", "repe ", "repz ", "repnz ", "notrack ", "bnd ", "xacquire ",
                               "xrelease "}) {
      while (cs_mnem.rfind(p, 0) == 0) cs_mnem.erase(0, p.size());
    }
    const char* base_name = cs_insn_name(h, id);
    std::string base = base_name ? base_name : cs_mnem;
    bool has_suffix = cs_mnem.size() == base.size() + 1 && cs_mnem.compare(0, base.size(), base) == 0 &&
                      std::string_view("bwlq").find(cs_mnem.back()) != std::string_view::npos;
    bool has_reg = false, has_mem = false;
    for (int i = 0; i < x.op_count; ++i) {
      const cs_x86_op& o = x.operands[i];
      if (o.type == X86_OP_REG && !(shape.is_shift && o.reg == X86_REG_CL)) has_reg = true;
      if (o.type == X86_OP_MEM) has_mem = true;
    }
    mnemonic = cs_mnem;
    if (has_suffix && (shape.never_suffix || has_reg || !has_mem)) mnemonic = base;
    // 64-bit defaults libopcodes leaves unsuffixed; a far return's default is 32-bit.
    if (mnemonic == "pushfq") mnemonic = "pushf";
    if (mnemonic == "wait") mnemonic = "fwait";  // 9b on its own
    if (mnemonic == "popfq") mnemonic = "popf";
    if (mnemonic == "lretl") mnemonic = "lret";
    if (mnemonic == "iretl") mnemonic = "iret";
    // libopcodes calls both encodings of the left shift shl.
    if (mnemonic.rfind("sal", 0) == 0) mnemonic.replace(0, 3, "shl");

    uint8_t opcode = x.opcode[0];
    bool shift_by_one = shape.is_shift && (opcode == 0xd0 || opcode == 0xd1);
    bool shift_by_cl = shape.is_shift && (opcode == 0xd2 || opcode == 0xd3);
    bool saw_cl = false;
    for (int i = 0; i < x.op_count; ++i) {
      const cs_x86_op& o = x.operands[i];
      switch (o.type) {
        case X86_OP_REG: {
          if (o.reg == X86_REG_CL) saw_cl = true;
          std::string r = reg_name(h, o.reg);
          // The port register of in/out is written as an address.
          if ((id == X86_INS_IN || id == X86_INS_OUT) && o.reg == X86_REG_DX) r = "(%dx)";
          ops.push_back(shape.indirect_capable ? "*" + r : r);
          break;
        }
        case X86_OP_IMM: {
          if (shift_by_one) {
            ops.push_back("$1");  // libopcodes names the implicit count of d0/d1
            break;
          }
          if (shape.is_branch) {
            uint64_t target = static_cast<uint64_t>(o.imm);
            std::string t = hex(target);
            if (auto sym = symbolize(target)) t += " <" + *sym + ">";
            ops.push_back(t);
          } else {
            // Immediates show in the operand's width: $0xffffffff for a 32-bit -1.
            unsigned size = o.size;
            for (int j = 0; j < x.op_count; ++j)
              if (j != i && x.operands[j].type != X86_OP_IMM && x.operands[j].size) size = x.operands[j].size;
            if (id == X86_INS_PUSH || id == X86_INS_RET || id == X86_INS_INT || id == X86_INS_ENTER) size = o.size;
            if (id == X86_INS_PUSH) size = has66 ? 2 : 8;  // sign-extended to the stack width
            if (shape.is_shift) size = 1;
            if (id == X86_INS_ENTER) size = i == 0 ? 2 : 1;
            if (id == X86_INS_RET || id == X86_INS_RETF || id == X86_INS_RETFQ) size = 2;  // imm16
            if (id == X86_INS_IN || id == X86_INS_OUT) size = 1;
            ops.push_back("$" + hex(mask_to_size(static_cast<uint64_t>(o.imm), size)));
          }
          break;
        }
        case X86_OP_MEM: {
          std::string m = render_mem(o.mem, true);
          ops.push_back(shape.indirect_capable ? "*" + m : m);
          break;
        }
        default:
          break;
      }
    }
    if (shift_by_cl && !saw_cl) ops.insert(ops.begin(), "%cl");
    // The short xchg forms (90+r): libopcodes puts the accumulator first.
    if (id == X86_INS_XCHG && opcode >= 0x90 && opcode <= 0x97 && ops.size() == 2) std::swap(ops[0], ops[1]);
    // 63 /r without REX.W: libopcodes' movsxd into a 32-bit register (capstone reads movslq).
    if (id == X86_INS_MOVSXD && !(x.rex & 8) && !ops.empty()) {
      mnemonic = "movsxd";
      ops.back() = has66 ? reg16_of(ops.back()) : reg32_of(ops.back());
      size_prefix_used = has66;
    }
    // A 66 prefix on leave makes the 16-bit form.
    if (id == X86_INS_LEAVE && has66) {
      mnemonic = "leavew";
      size_prefix_used = true;
    }
    // xlat names its implicit operand.
    if (id == X86_INS_XLATB) {
      mnemonic = "xlat";
      ops = {source_operand(x.addr_size == 4 ? "(%ebx)" : "(%rbx)")};
    }
    // A cs/ds prefix on a conditional branch is a static prediction hint: "jne,pn", "loope,pt".
    if (shape.is_branch && !shape.indirect_capable) {
      bool cs = std::find(prefixes.begin(), prefixes.end(), 0x2e) != prefixes.end();
      bool ds = std::find(prefixes.begin(), prefixes.end(), 0x3e) != prefixes.end();
      if (cs != ds) {
        mnemonic += ds ? ",pt" : ",pn";
        branch_hint = ds ? 0x3e : 0x2e;
      }
    }
  }

  // Whether the instruction reads the same without its operand-size prefixes.
  auto same_without_66 = [&]() {
    std::vector<uint8_t> alt(bytes + npfx, bytes + insn->size);
    for (size_t i = npfx; i-- > 0;)
      if (bytes[i] != 0x66) alt.insert(alt.begin(), bytes[i]);
    size_t dropped = insn->size - alt.size();
    cs_insn* other = nullptr;
    size_t got = cs_disasm(h, alt.data(), alt.size(), address + dropped, 1, &other);
    bool same = got == 1 && other->size == alt.size() && std::strcmp(other->mnemonic, insn->mnemonic) == 0 &&
                std::strcmp(other->op_str, insn->op_str) == 0;
    if (got) cs_free(other, got);
    return same;
  };
  std::vector<std::string> names;
  int last66 = -1;
  int last67 = -1;
  for (size_t i = 0; i < prefixes.size(); ++i) {
    if (prefixes[i] == 0x66) last66 = static_cast<int>(i);
    if (prefixes[i] == 0x67) last67 = static_cast<int>(i);
  }
  for (size_t i = 0; i < prefixes.size(); ++i) {
    uint8_t p = prefixes[i];
    switch (p) {
      case 0xf0: names.push_back("lock"); break;
      case 0xf3:
        if (mandatory_rep(id)) break;
        names.push_back(f3_is_rep ? "rep" : "repz");
        break;
      case 0xf2:
        names.push_back(shape.is_branch || id == X86_INS_RET ? "bnd" : "repnz");
        break;
      case 0x66:
        // The last 66 is the operand-size (or mandatory SSE) prefix, unless the instruction
        // decodes the same without it (a byte operation, hlt, a short branch).
        if (static_cast<int>(i) == last66 && (size_prefix_used || !(nlock == 0 && same_without_66()))) break;
        names.push_back("data16");
        break;
      case 0x67:
        if (addr_used && static_cast<int>(i) == last67) break;
        names.push_back("addr32");
        break;
      default:
        if (p == seg_prefix && seg_used) break;
        if (p == branch_hint) break;
        if (p == 0x3e && shape.indirect_capable && x.op_count == 1 && x.operands[0].type != X86_OP_IMM) {
          names.push_back("notrack");
          break;
        }
        if (const char* s = seg_name(p)) names.push_back(s);
        break;
    }
  }

  // A REX prefix some of whose bits change nothing: libopcodes names the whole prefix
  // ("rex.WRB mov $0x8f,%r13b", "rex nop"). A bit changes nothing when the instruction decodes
  // the same with it cleared (a bare 0x40: without it).
  if (npfx < insn->size && is_rex(bytes[npfx]) && npfx + 1 < insn->size) {
    uint8_t rex = bytes[npfx];
    auto same_without = [&](int bit) {
      std::vector<uint8_t> alt(bytes, bytes + insn->size);
      if (bit) alt[npfx] = static_cast<uint8_t>(rex & ~bit);
      else alt.erase(alt.begin() + static_cast<ptrdiff_t>(npfx));
      cs_insn* other = nullptr;
      size_t got = cs_disasm(h, alt.data(), alt.size(), address + (bit ? 0 : 1), 1, &other);
      bool same = got == 1 && other->size == alt.size() && std::strcmp(other->mnemonic, insn->mnemonic) == 0 &&
                  std::strcmp(other->op_str, insn->op_str) == 0;
      if (got) cs_free(other, got);
      return same;
    };
    bool unused = false;
    if ((rex & 0x0f) == 0) unused = same_without(0);  // (decoded one byte on, so branch targets match)
    for (int bit : {8, 4, 2, 1}) {
      // capstone names 63 /r movslq with or without REX.W; W is what makes it one.
      if (bit == 8 && id == X86_INS_MOVSXD) continue;
      if ((rex & bit) && !unused) unused = same_without(bit);
    }
    if (unused) names.push_back(rex_name(rex));
  }

  std::string head;
  for (const auto& p : names) head += p + " ";
  head += mnemonic;
  std::string text = head;
  if (!ops.empty()) {
    if (text.size() < 6) text.append(6 - text.size(), ' ');
    text += ' ';
    for (size_t i = 0; i < ops.size(); ++i) {
      if (i) text += ',';
      text += ops[i];
    }
  }
  text += comment;
  out.text = std::move(text);
  return out;
}

}  // namespace coroner::commands::disasm
