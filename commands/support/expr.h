// C expressions as gdb reads them for crash's `p`: a small recursive-descent parser and an
// evaluator over kernel types and memory. What it covers: integer literals (decimal, 0x hex,
// octal, 'c' characters), variables, `.member`, `->member`, `[index]`, `&`, `*`, casts to
// `struct/union/enum NAME`, base types or typedefs with `*`s, `sizeof(TYPE)` and `sizeof EXPR`,
// unary - ~ !, and the binary operators * / % + - << >> < > <= >= == != & ^ | && ||, with C's
// integer promotions and pointer arithmetic. Errors carry gdb's text ("No symbol \"foo\" in
// current context.", "A syntax error in expression, near `...'.").
//
//   auto tree = TRY(expr::parse("&init_task.tasks", is_type_name));
//   expr::Value v = TRY(expr::evaluate(*tree, env));
//   std::string text = TRY(expr::format(v, env, ctx));  // "(struct list_head *) 0x... <init_task+2192>"
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "symbols/types.h"

namespace coroner::commands::expr {

// ---- Syntax ----

enum class Op {
  number,       // `value`, with literal_type
  identifier,   // text
  history,      // $ or $N: `value` is N, `text` is "$" for the last
  member,       // lhs.text
  arrow,        // lhs->text
  index,        // lhs[rhs]
  address_of,   // &lhs
  deref,        // *lhs
  negate,       // -lhs
  plus,         // +lhs
  bit_not,      // ~lhs
  logical_not,  // !lhs
  cast,         // (type) lhs
  sizeof_type,  // sizeof(type)
  sizeof_expr,  // sizeof lhs
  binary,       // lhs text rhs
};

// A C type name as written in a cast or sizeof: "struct list_head", "unsigned long", "u64",
// then pointer stars and array bounds ("char *", "int [4]").
struct TypeName {
  std::string base;
  int pointers = 0;
  std::vector<uint64_t> dims;
  std::string spelling() const;
};

struct Node {
  Op op = Op::number;
  std::string text;
  uint64_t value = 0;
  // A literal's C type: 4 or 8 bytes, signed or not (C's rules for unsuffixed literals).
  uint8_t literal_size = 4;
  bool literal_signed = true;
  bool literal_char = false;  // 'c': printed as gdb prints a char
  TypeName type;
  std::unique_ptr<Node> lhs, rhs;
  size_t pos = 0;  // where the node starts in the text
};
using NodePtr = std::unique_ptr<Node>;

// Whether an identifier names a type (a typedef such as u64): casts need to know, as in C.
using TypeNameTest = std::function<bool(std::string_view)>;

// Parses a whole expression. A syntax error reads as gdb's: "A syntax error in expression,
// near `REST'." where REST is the text from the offending token on.
Result<NodePtr> parse(std::string_view text, const TypeNameTest& is_type_name);

// The tree back as fully parenthesised text, for tests: "(&((init_task).tasks))".
std::string to_string(const Node& n);

// ---- Values ----

// A value's type: a BTF type with `pointers` extra levels of pointer on top (for pointer
// types BTF does not hold), or one of C's integer types when `btf` is unset and `pointers`
// is 0 (literals, arithmetic and sizeof results).
struct Type {
  symbols::TypeRef btf;  // id 0 with pointers > 0: void
  int pointers = 0;
  uint8_t int_size = 0;  // a C integer type when btf.id == 0 && pointers == 0
  bool int_signed = true;
  bool int_char = false;
  // gdb's spelling of this type when BTF cannot give it: DWARF's qualifiers for &VAR
  // ("volatile unsigned long *"). Empty: the type's name comes from BTF.
  std::string spelling;
  // A function's prototype as gdb prints it ("void (int)"): with `pointers` 0 the value is that
  // function (at its address), with 1 a pointer to it. Empty for everything else.
  std::string function;
  bool builtin() const { return btf.id == 0 && pointers == 0 && function.empty(); }
};

struct Value {
  Type type;
  // In memory (an lvalue): where it lives; bit fields also give their bit position and width
  // relative to `address`.
  std::optional<uint64_t> address;
  uint32_t bit_offset = 0;
  uint32_t bit_size = 0;
  // Not in memory: the integer or pointer value.
  uint64_t bits = 0;
};

// What evaluation needs from the kernel: types, global variables, memory.
class Env {
 public:
  virtual ~Env() = default;
  virtual symbols::Types& types() = 0;
  // A global variable's address and type; not_found when no symbol has this name.
  virtual Result<std::pair<uint64_t, symbols::TypeRef>> variable(std::string_view name) = 0;
  virtual Result<void> read(uint64_t addr, std::span<uint8_t> out) = 0;
  // An enumerator's value and enum type (type id 0 when only the value is known).
  virtual std::optional<std::pair<int64_t, symbols::TypeRef>> enumerator(std::string_view name) {
    auto v = types().enumerator(name);
    if (!v) return std::nullopt;
    return std::make_pair(*v, symbols::TypeRef{});
  }
  // A function's address and gdb's spelling of its type ("void (int)"); nullopt when `name`
  // is no function.
  virtual std::optional<std::pair<uint64_t, std::string>> function(std::string_view name) {
    (void)name;
    return std::nullopt;
  }
  // gdb's name for &VAR's type, qualifiers included ("volatile unsigned long *"); nullopt when
  // only BTF's name (no qualifiers) is known.
  virtual std::optional<std::string> address_type(std::string_view variable) {
    (void)variable;
    return std::nullopt;
  }
  // A symbol's address, for &VAR when VAR's type cannot be had from BTF (an anonymous
  // struct: gdb's `(struct {...} *)`); nullopt when there is no such symbol.
  virtual std::optional<uint64_t> symbol_address(std::string_view name) {
    (void)name;
    return std::nullopt;
  }
  // $N from the value history (N = 0: the last one).
  virtual Result<Value> history(uint64_t n) {
    (void)n;
    return Error::make(Errc::not_found, "History is empty.");
  }
};

Result<Value> evaluate(const Node& n, Env& env);

// The value in gdb's print layout (the part after "$N = "). `radix` 16 is gdb's /x.
Result<std::string> format(const Value& v, Env& env, symbols::ValueContext& ctx);

// Integer value of a scalar (integer, enum, pointer) after reading it from memory.
Result<uint64_t> scalar(const Value& v, Env& env);

// The C declaration of a value's type, as gdb shows it before a pointer: "struct list_head *".
std::string type_name(const Type& t, symbols::Types& types);

}  // namespace coroner::commands::expr
