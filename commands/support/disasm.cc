// Renders capstone's decoded x86-64 instructions in GNU libopcodes' AT&T text (gdb's).
// The rules follow what objdump/gdb print, checked instruction by instruction against crash 9
// (gdb 16) on Debian 6.1 and 6.12 kernels; see disasm.h.
#include "commands/support/disasm.h"

#include <capstone/capstone.h>

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
  // A REX prefix is only one right before the opcode: libopcodes shows one followed by another
  // prefix as an instruction of its own ("rex.WX"), where capstone skips it.
  if (code.size() >= 2 && is_rex(code[0]) && (is_rex(code[1]) || is_legacy_prefix(code[1]))) {
    out.size = 1;
    out.text = rex_name(code[0]);
    return out;
  }
  cs_insn* insn = nullptr;
  size_t n = code.empty() ? 0 : cs_disasm(h, code.data(), code.size(), address, 1, &insn);
  if (n == 0 && code.size() > 1 && code[0] == 0xf0) {
    // A lock prefix on an instruction that cannot take one: capstone refuses the whole,
    // libopcodes prints "lock" and the instruction.
    Instruction rest = decode(address + 1, code.subspan(1), symbolize);
    if (rest.text.rfind("(bad)", 0) != 0 && rest.text.rfind("rex", 0) != 0) {
      size_t sp = rest.text.find(' ');
      std::string head = "lock " + rest.text.substr(0, sp);
      std::string ops = sp == std::string::npos ? "" : rest.text.substr(rest.text.find_first_not_of(' ', sp));
      if (!ops.empty()) head += (head.size() < 6 ? std::string(6 - head.size(), ' ') : "") + " " + ops;
      rest.address = address;
      rest.size += 1;
      rest.text = head;
      rest.is_ftrace_nop_form = false;
      return rest;
    }
  }
  if (n == 0) {
    // An x87 escape whose ModRM names no instruction (df fe): libopcodes reads through the
    // ModRM byte before giving up, and names a REX prefix in front ("rex.WRB (bad)").
    size_t at = !code.empty() && is_rex(code[0]) ? 1 : 0;
    if (code.size() > at + 1 && code[at] >= 0xd8 && code[at] <= 0xdf) {
      out.size = at + 2;
      out.text = at ? rex_name(code[0]) + " (bad)" : "(bad)";
      return out;
    }
    // Any other opcode no instruction has: libopcodes consumes it with a REX prefix before it.
    if (at && code.size() > 1) {
      out.size = 2;
      out.text = rex_name(code[0]) + " (bad)";
      return out;
    }
    out.size = 1;
    out.text = "(bad)";
    return out;
  }
  struct Free {
    cs_insn* p;
    ~Free() { cs_free(p, 1); }
  } free_insn{insn};

  const cs_x86& x = insn->detail->x86;
  const uint8_t* bytes = insn->bytes;
  out.size = insn->size;
  unsigned id = insn->id;
  Shape shape = shape_of(id);

  // Legacy prefixes in byte order; the ones the instruction uses are dropped below.
  size_t npfx = 0;
  while (npfx < insn->size && is_legacy_prefix(bytes[npfx])) ++npfx;
  std::vector<uint8_t> prefixes(bytes, bytes + npfx);

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
        if (((sib >> 3) & 7) == 4 && !(x.rex & 2) && (sib >> 6) != 0) riz_scale = 1 << (sib >> 6);
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
  if (x.addr_size == 4) addr_used = true;

  if (auto so = string_op(id)) {
    mnemonic = so->mnemonic;
    std::string rsi = x.addr_size == 4 ? "%ds:(%esi)" : "%ds:(%rsi)";
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
            if (shape.is_shift) size = 1;
            if (id == X86_INS_ENTER) size = i == 0 ? 2 : 1;
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
    if (id == X86_INS_XCHG && opcode >= 0x91 && opcode <= 0x97 && ops.size() == 2) std::swap(ops[0], ops[1]);
  }

  std::vector<std::string> names;
  int last66 = -1;
  for (size_t i = 0; i < prefixes.size(); ++i)
    if (prefixes[i] == 0x66) last66 = static_cast<int>(i);
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
        // The last 66 is the operand-size (or mandatory SSE) prefix the instruction decoded with.
        if (static_cast<int>(i) == last66) break;
        names.push_back("data16");
        break;
      case 0x67:
        if (addr_used) break;
        names.push_back("addr32");
        break;
      default:
        if (p == seg_prefix && seg_used) break;
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
      size_t got = cs_disasm(h, alt.data(), alt.size(), address, 1, &other);
      bool same = got == 1 && other->size == alt.size() && std::strcmp(other->mnemonic, insn->mnemonic) == 0 &&
                  std::strcmp(other->op_str, insn->op_str) == 0;
      if (got) cs_free(other, got);
      return same;
    };
    bool unused = false;
    if ((rex & 0x0f) == 0) unused = same_without(0);
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
