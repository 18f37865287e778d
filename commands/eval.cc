// eval: crash's calculator for addresses. One value, or two values and an operator
// (+ - & | ^ * / % << >> and # for a power), each a number (hexadecimal with 0x or hex
// letters, else decimal; k/m/g suffixes multiply by 1024, 1M, 1G; ~ complements) or a kernel
// symbol (its address). Printed in hexadecimal, decimal, octal and binary as crash prints it:
//
//   coroner> eval 128m
//   hexadecimal: 8000000  (128MB)
//       decimal: 134217728
//         octal: 1000000000
//        binary: 0000000000000000000000000000000000001000000000000000000000000000
//
// Like crash, only "(x op y)" is understood: a parenthesized first argument is evaluated alone
// and the rest of the line ignored.
#include <optional>

#include "commands/builtin.h"
#include "kernel/kernel.h"

namespace coroner::commands {
namespace {

std::string trim_blanks(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

bool all_of(std::string_view s, std::string_view allowed) {
  return !s.empty() && s.find_first_not_of(allowed) == std::string_view::npos;
}

// crash's number rules: "0x" or any hex letter means hexadecimal, digits alone decimal.
std::optional<uint64_t> parse_number(std::string_view s) {
  bool hex = false;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    hex = true;
  }
  if (!hex && all_of(s, "0123456789")) {
    uint64_t v = 0;
    for (char c : s) v = v * 10 + static_cast<uint64_t>(c - '0');
    return v;
  }
  if (!all_of(s, "0123456789abcdefABCDEF")) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

std::optional<uint64_t> symbol_value(Session& s, std::string_view name) {
  if (name.empty()) return std::nullopt;
  return s.kernel.symbols().address_of(name);
}

// One operand: [~](symbol | number[k|m|g]).
std::optional<uint64_t> operand(Session& s, std::string_view text) {
  if (auto v = symbol_value(s, text)) return v;
  bool complement = !text.empty() && text[0] == '~';
  if (complement) text.remove_prefix(1);
  std::optional<uint64_t> v = symbol_value(s, text);
  if (!v) {
    uint64_t factor = 1;
    if (!text.empty()) {
      switch (text.back()) {
        case 'k': case 'K': factor = 1ull << 10; break;
        case 'm': case 'M': factor = 1ull << 20; break;
        case 'g': case 'G': factor = 1ull << 30; break;
        default: break;
      }
    }
    if (factor != 1) text.remove_suffix(1);
    v = parse_number(text);
    if (!v) return std::nullopt;
    *v *= factor;
  }
  return complement ? ~*v : *v;
}

uint64_t power(uint64_t base, uint64_t exp) {
  uint64_t r = 1;
  while (exp) {
    if (exp & 1) r *= base;
    base *= base;
    exp >>= 1;
  }
  return r;
}

// "(x op y)" or "(x)" or "x op y" -> the value; nullopt when malformed.
using Value = std::optional<uint64_t>;

Result<Value> evaluate(Session& s, const std::string& expr) {
  std::string work = expr;
  if (work.find_first_of("()") != std::string::npos) {
    if (work.front() != '(' || work.back() != ')' || work.find(')') != work.size() - 1) return Value();
    work = work.substr(1, work.size() - 2);
    if (work.find_first_of("()") != std::string::npos) return Value();
  }
  if (!work.empty() && work[0] == '-') work.insert(0, "0");  // "-1" is "0 - 1"
  size_t op = work.find_first_of("#><+-&|*/%^");
  if (op == std::string::npos) return Value(operand(s, work));
  char code = work[op];
  size_t rhs = op + 1;
  if (code == '<' || code == '>') {
    if (op + 1 >= work.size() || work[op + 1] != code) return Value();
    rhs = op + 2;
  }
  std::string left = trim_blanks(std::string_view(work).substr(0, op));
  std::string right = trim_blanks(std::string_view(work).substr(rhs));
  if (left.empty() || right.empty()) return Value();
  auto a = operand(s, left);
  auto b = operand(s, right);
  if (!a || !b) return Value();
  switch (code) {
    case '+': return Value(*a + *b);
    case '-': return Value(*a - *b);
    case '&': return Value(*a & *b);
    case '|': return Value(*a | *b);
    case '^': return Value(*a ^ *b);
    case '*': return Value(*a * *b);
    case '#': return Value(power(*a, *b));
    case '<': return Value(*a << (*b & 63));  // x86-64 shifts use the count's low six bits
    case '>': return Value(*a >> (*b & 63));
    case '/':
    case '%':
      if (*b == 0) return Error::make(Errc::usage, "division by zero: {}", expr);
      return Value(code == '/' ? *a / *b : *a % *b);
    default: return Value();
  }
}

void print_number(Output& out, uint64_t v, bool bits) {
  std::string unit;
  if (v >= 1024) {
    if (v % (1ull << 30) == 0) unit = fmt::format("({}GB)", v >> 30);
    else if (v % (1ull << 20) == 0) unit = fmt::format("({}MB)", v >> 20);
    else if (v % (1ull << 10) == 0) unit = fmt::format("({}KB)", v >> 10);
  }
  out.print("hexadecimal: {:x}  {}\n", v, unit);
  auto sv = static_cast<int64_t>(v);
  if (sv < 0) out.print("    decimal: {}  ({})\n", v, sv);
  else out.print("    decimal: {}  \n", v);
  out.print("      octal: {:o}\n", v);
  out.print("     binary: {:064b}\n", v);
  if (!bits) return;
  const std::string header = "   bits set: ";
  std::string line = header;
  size_t column = header.size();
  for (int i = 63; i >= 0; --i) {
    if (!(v >> i & 1)) continue;
    std::string item = fmt::format("{} ", i);
    line += item;
    column += item.size();
    if (column >= 77) {  // crash wraps the list under its header
      line += "\n" + std::string(header.size(), ' ');
      column = header.size();
    }
  }
  out.print("{}\n", line);
}

Result<void> run_eval(Session& s, const Args& args, Output& out) {
  if (args.positional.empty()) {
    out.print("Usage:\n  eval [-b][-l] (expression) | value\nEnter \"help eval\" for details.\n");
    return Error::make(Errc::usage, "");  // already said
  }
  std::string joined;
  for (auto& p : args.positional) joined += (joined.empty() ? "" : " ") + p;
  std::string expr;
  if (args.positional[0][0] == '(') {
    // crash reads a parenthesized expression as one argument and ignores what follows it.
    size_t close = joined.find(')');
    expr = close == std::string::npos ? joined : joined.substr(0, close + 1);
  } else {
    expr = "(" + trim_blanks(joined) + ")";
  }
  auto v = TRY(evaluate(s, expr));
  if (!v) return Error::make(Errc::usage, "invalid expression: {}", expr);
  print_number(out, *v, args.has('b'));
  return ok();
}

}  // namespace

std::vector<Command> eval_commands() {
  Command eval{CommandSpec{"eval",
                              {},
                              "evaluate",
                              "[-b][-l] (expression) | value",
                              {{'b', false, "show which bit positions of the result are set"},
                               {'l', false, "64-bit operands and result (always so on 64-bit kernels)"}},
                              {"eval 128m", "eval 128 * 1m", "eval (1 << 27)", "eval -b 41dc065",
                               "eval jiffies_64 - jiffies", "eval (init_task + 0x10)"}},
               run_eval};
  // crash's eval takes -b/-l only before the expression, and a word with any other letter
  // starts the expression: `eval 5 -l` and `eval -Z` are "invalid expression: (5 -l)", "(-Z)".
  eval.spec.options_before_operands = true;
  eval.spec.unknown_option_is_operand = true;
  return {eval};
}

}  // namespace coroner::commands
