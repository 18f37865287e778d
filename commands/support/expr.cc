// The expression parser and evaluator of expr.h. gdb's rules followed here: C's integer
// literal types and usual arithmetic conversions, pointer arithmetic scaled by the target's
// size, arrays decaying to pointers, and gdb's error texts.
#include "commands/support/expr.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace coroner::commands::expr {
namespace {

// Deeper nesting than this is refused rather than recursed into.
constexpr int kMaxDepth = 200;

enum class Tok { end, number, character, string, ident, punct };

struct Token {
  Tok kind = Tok::end;
  std::string text;
  uint64_t value = 0;
  uint8_t size = 4;
  bool is_signed = true;
  size_t pos = 0;
};

Error syntax_error(std::string_view src, size_t pos) {
  return Error::make(Errc::usage, "A syntax error in expression, near `{}'.", src.substr(std::min(pos, src.size())));
}

// C's type for an unsuffixed (or u/l-suffixed) literal on LP64: decimal int, long; hex or
// octal int, unsigned int, long, unsigned long.
void literal_type(Token& t, bool decimal, bool u_suffix, bool l_suffix) {
  uint64_t v = t.value;
  if (!l_suffix && !u_suffix && v <= 0x7fffffffu) t.size = 4, t.is_signed = true;
  else if (!l_suffix && (u_suffix || !decimal) && v <= 0xffffffffu) t.size = 4, t.is_signed = false;
  else if (!u_suffix && v <= 0x7fffffffffffffffull) t.size = 8, t.is_signed = true;
  else t.size = 8, t.is_signed = false;
}

Result<std::vector<Token>> lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      int base = 10;
      if (c == '0' && j + 1 < s.size() && (s[j + 1] == 'x' || s[j + 1] == 'X')) base = 16, j += 2;
      else if (c == '0') base = 8;
      size_t digits = j;
      while (j < s.size() && std::isxdigit(static_cast<unsigned char>(s[j]))) ++j;
      std::string_view d = s.substr(digits, j - digits);
      bool u = false, l = false;
      while (j < s.size() && (s[j] == 'u' || s[j] == 'U' || s[j] == 'l' || s[j] == 'L')) {
        (s[j] == 'u' || s[j] == 'U' ? u : l) = true;
        ++j;
      }
      if (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_' || s[j] == '.'))
        return Error::make(Errc::usage, "Invalid number \"{}\".", s.substr(i, j + 1 - i));
      uint64_t v = 0;
      bool overflow = false;
      if (d.empty() && base == 16) return Error::make(Errc::usage, "Invalid number \"{}\".", s.substr(i, j - i));
      for (char ch : d) {
        int dv = std::isdigit(static_cast<unsigned char>(ch)) ? ch - '0' : std::tolower(ch) - 'a' + 10;
        if (dv >= base) return Error::make(Errc::usage, "Invalid number \"{}\".", s.substr(i, j - i));
        if (v > (UINT64_MAX - static_cast<uint64_t>(dv)) / static_cast<uint64_t>(base)) overflow = true;
        v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(dv);
      }
      if (overflow) return Error::make(Errc::usage, "Numeric constant too large.");
      t.kind = Tok::number;
      t.value = v;
      t.text = std::string(s.substr(i, j - i));
      literal_type(t, base == 10, u, l);
      out.push_back(t);
      i = j;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$') {
      size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      t.kind = Tok::ident;
      t.text = std::string(s.substr(i, j - i));
      out.push_back(t);
      i = j;
      continue;
    }
    if (c == '\'' || c == '"') {
      size_t j = i + 1;
      std::string val;
      while (j < s.size() && s[j] != c) {
        char ch = s[j++];
        if (ch == '\\' && j < s.size()) {
          char e = s[j++];
          switch (e) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case '0': ch = '\0'; break;
            case 'a': ch = '\a'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'v': ch = '\v'; break;
            case 'e': ch = '\033'; break;
            default: ch = e; break;
          }
        }
        val += ch;
      }
      if (j >= s.size()) return Error::make(Errc::usage, "Unmatched single quote.");
      if (c == '\'' && val.size() != 1) return syntax_error(s, i);
      t.kind = c == '\'' ? Tok::character : Tok::string;
      t.text = val;
      t.value = c == '\'' ? static_cast<uint64_t>(static_cast<int64_t>(static_cast<signed char>(val[0]))) : 0;
      out.push_back(t);
      i = j + 1;
      continue;
    }
    static const char* const kPuncts[] = {"->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "(", ")", "[", "]", ".",
                                          "&",  "*",  "+",  "-",  "~",  "!",  "/",  "%",  "<",  ">",  "^", "|", "?", ":", ","};
    bool matched = false;
    for (const char* p : kPuncts) {
      size_t n = std::strlen(p);
      if (s.substr(i, n) == p) {
        t.kind = Tok::punct;
        t.text = p;
        out.push_back(t);
        i += n;
        matched = true;
        break;
      }
    }
    if (!matched) return Error::make(Errc::usage, "Invalid character '{}' in expression.", c);
  }
  Token end;
  end.pos = s.size();
  out.push_back(end);
  return out;
}

bool is_base_type_word(std::string_view w) {
  return w == "unsigned" || w == "signed" || w == "int" || w == "long" || w == "short" || w == "char" || w == "void" ||
         w == "_Bool" || w == "const" || w == "volatile";
}

class Parser {
 public:
  Parser(std::string_view src, std::vector<Token> toks, const TypeNameTest& is_type)
      : src_(src), toks_(std::move(toks)), is_type_(is_type) {}

  Result<NodePtr> whole() {
    NodePtr n = TRY(expression());
    if (peek().kind != Tok::end) return syntax_error(src_, peek().pos);
    return n;
  }

 private:
  const Token& peek(size_t ahead = 0) const { return toks_[std::min(i_ + ahead, toks_.size() - 1)]; }
  bool is(std::string_view p, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.kind == Tok::punct && t.text == p;
  }
  bool accept(std::string_view p) {
    if (!is(p)) return false;
    ++i_;
    return true;
  }
  Result<void> expect(std::string_view p) {
    if (!accept(p)) return syntax_error(src_, peek().pos);
    return ok();
  }

  NodePtr make(Op op, size_t pos) {
    auto n = std::make_unique<Node>();
    n->op = op;
    n->pos = pos;
    return n;
  }

  // Is a type name at the current token (after a '(' or `sizeof (`)?
  bool type_starts(size_t ahead = 0) const {
    const Token& t = peek(ahead);
    if (t.kind != Tok::ident) return false;
    if (t.text == "struct" || t.text == "union" || t.text == "enum" || is_base_type_word(t.text)) return true;
    return is_type_ && is_type_(t.text);
  }

  Result<TypeName> type_name() {
    TypeName tn;
    const Token& first = peek();
    if (first.text == "struct" || first.text == "union" || first.text == "enum") {
      ++i_;
      if (peek().kind != Tok::ident) return syntax_error(src_, peek().pos);
      tn.base = first.text + " " + peek().text;
      ++i_;
    } else if (is_base_type_word(first.text)) {
      // Base type words in any order ("long unsigned int"), qualifiers dropped, then put in
      // DWARF's spelling: "unsigned long" -> "long unsigned int".
      int longs = 0;
      bool is_unsigned = false, is_signed = false, has_int = false, has_char = false, has_short = false, has_void = false,
           has_bool = false;
      while (peek().kind == Tok::ident && is_base_type_word(peek().text)) {
        const std::string& w = peek().text;
        if (w == "long") ++longs;
        else if (w == "unsigned") is_unsigned = true;
        else if (w == "signed") is_signed = true;
        else if (w == "int") has_int = true;
        else if (w == "char") has_char = true;
        else if (w == "short") has_short = true;
        else if (w == "void") has_void = true;
        else if (w == "_Bool") has_bool = true;
        ++i_;
      }
      (void)has_int;
      if (has_void) tn.base = "void";
      else if (has_bool) tn.base = "_Bool";
      else if (has_char) tn.base = is_unsigned ? "unsigned char" : is_signed ? "signed char" : "char";
      else if (has_short) tn.base = is_unsigned ? "short unsigned int" : "short int";
      else if (longs >= 2) tn.base = is_unsigned ? "long long unsigned int" : "long long int";
      else if (longs == 1) tn.base = is_unsigned ? "long unsigned int" : "long int";
      else tn.base = is_unsigned ? "unsigned int" : "int";
    } else {
      tn.base = first.text;
      ++i_;
    }
    while (peek().kind == Tok::ident && (peek().text == "const" || peek().text == "volatile")) ++i_;
    while (accept("*")) {
      ++tn.pointers;
      while (peek().kind == Tok::ident && (peek().text == "const" || peek().text == "volatile")) ++i_;
    }
    while (is("[")) {
      ++i_;
      if (peek().kind != Tok::number) return syntax_error(src_, peek().pos);
      tn.dims.push_back(peek().value);
      ++i_;
      TRY(expect("]"));
    }
    return tn;
  }

  Result<NodePtr> expression() {
    if (++depth_ > kMaxDepth) return Error::make(Errc::usage, "expression nested too deeply");
    auto n = conditional();
    --depth_;
    return n;
  }

  Result<NodePtr> conditional() {
    NodePtr c = TRY(binary(0));
    if (is("?")) return Error::make(Errc::unsupported, "the ?: operator is not supported");
    return c;
  }

  // Binary operators by C precedence, lowest first.
  static int precedence(std::string_view op) {
    static const std::pair<std::string_view, int> kOps[] = {
        {"||", 0}, {"&&", 1}, {"|", 2}, {"^", 3}, {"&", 4}, {"==", 5}, {"!=", 5}, {"<", 6}, {">", 6}, {"<=", 6},
        {">=", 6}, {"<<", 7}, {">>", 7}, {"+", 8}, {"-", 8}, {"*", 9}, {"/", 9}, {"%", 9}};
    for (auto& [o, p] : kOps)
      if (o == op) return p;
    return -1;
  }

  Result<NodePtr> binary(int min_prec) {
    NodePtr lhs = TRY(unary());
    while (peek().kind == Tok::punct) {
      int p = precedence(peek().text);
      if (p < 0 || p < min_prec) break;
      const Token& op = peek();
      ++i_;
      NodePtr rhs = TRY(binary(p + 1));
      NodePtr n = make(Op::binary, lhs->pos);
      n->text = op.text;
      n->lhs = std::move(lhs);
      n->rhs = std::move(rhs);
      lhs = std::move(n);
    }
    return lhs;
  }

  Result<NodePtr> unary() {
    if (++depth_ > kMaxDepth) return Error::make(Errc::usage, "expression nested too deeply");
    auto r = unary_inner();
    --depth_;
    return r;
  }

  Result<NodePtr> unary_inner() {
    const Token& t = peek();
    if (t.kind == Tok::punct) {
      static const std::pair<std::string_view, Op> kUnary[] = {{"-", Op::negate}, {"+", Op::plus},       {"~", Op::bit_not},
                                                              {"!", Op::logical_not}, {"*", Op::deref}, {"&", Op::address_of}};
      for (auto& [p, op] : kUnary)
        if (t.text == p) {
          size_t pos = t.pos;
          ++i_;
          NodePtr n = make(op, pos);
          n->lhs = TRY(unary());
          return n;
        }
      if (t.text == "(" && type_starts(1)) {
        size_t pos = t.pos;
        ++i_;
        TypeName tn = TRY(type_name());
        TRY(expect(")"));
        NodePtr n = make(Op::cast, pos);
        n->type = std::move(tn);
        n->lhs = TRY(unary());
        return n;
      }
    }
    if (t.kind == Tok::ident && t.text == "sizeof") {
      size_t pos = t.pos;
      ++i_;
      if (is("(") && type_starts(1)) {
        ++i_;
        NodePtr n = make(Op::sizeof_type, pos);
        n->type = TRY(type_name());
        TRY(expect(")"));
        return n;
      }
      NodePtr n = make(Op::sizeof_expr, pos);
      n->lhs = TRY(unary());
      return n;
    }
    return postfix();
  }

  Result<NodePtr> postfix() {
    NodePtr n = TRY(primary());
    for (;;) {
      if (is(".") || is("->")) {
        bool arrow = is("->");
        ++i_;
        if (peek().kind != Tok::ident) return syntax_error(src_, peek().pos);
        NodePtr m = make(arrow ? Op::arrow : Op::member, n->pos);
        m->text = peek().text;
        ++i_;
        m->lhs = std::move(n);
        n = std::move(m);
      } else if (is("[")) {
        ++i_;
        NodePtr m = make(Op::index, n->pos);
        m->rhs = TRY(expression());
        TRY(expect("]"));
        m->lhs = std::move(n);
        n = std::move(m);
      } else {
        return n;
      }
    }
  }

  Result<NodePtr> primary() {
    const Token& t = peek();
    switch (t.kind) {
      case Tok::number:
      case Tok::character: {
        NodePtr n = make(Op::number, t.pos);
        n->value = t.value;
        n->literal_size = t.kind == Tok::character ? 1 : t.size;
        n->literal_signed = t.is_signed;
        n->literal_char = t.kind == Tok::character;
        n->text = t.text;
        ++i_;
        return n;
      }
      case Tok::ident: {
        if (t.text[0] == '$') {
          NodePtr n = make(Op::history, t.pos);
          n->text = t.text;
          std::string_view digits = std::string_view(t.text).substr(1);
          if (!digits.empty()) {
            for (char c : digits)
              if (!std::isdigit(static_cast<unsigned char>(c)))
                return Error::make(Errc::unsupported, "convenience variables ({}) are not supported", t.text);
            // No history is this long; std::stoull would throw on it.
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n->value);
            if (ec != std::errc() || end != digits.data() + digits.size())
              return Error::make(Errc::usage, "History has not yet reached {}.", t.text);
          }
          ++i_;
          return n;
        }
        if (t.text == "struct" || t.text == "union" || t.text == "enum" || t.text == "sizeof" || is_base_type_word(t.text))
          return syntax_error(src_, t.pos);
        NodePtr n = make(Op::identifier, t.pos);
        n->text = t.text;
        ++i_;
        return n;
      }
      case Tok::punct:
        if (t.text == "(") {
          ++i_;
          NodePtr n = TRY(expression());
          TRY(expect(")"));
          return n;
        }
        return syntax_error(src_, t.pos);
      case Tok::string:
        return Error::make(Errc::unsupported, "string literals are not supported");
      case Tok::end:
        return syntax_error(src_, t.pos);
    }
    return syntax_error(src_, t.pos);
  }

  std::string_view src_;
  std::vector<Token> toks_;
  const TypeNameTest& is_type_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

std::string TypeName::spelling() const {
  std::string s = base;
  if (pointers) s += " " + std::string(static_cast<size_t>(pointers), '*');
  for (uint64_t d : dims) s += fmt::format("[{}]", d);
  return s;
}

Result<NodePtr> parse(std::string_view text, const TypeNameTest& is_type_name) {
  auto toks = TRY(lex(text));
  if (toks.size() == 1) return syntax_error(text, 0);
  Parser p(text, std::move(toks), is_type_name);
  return p.whole();
}

std::string to_string(const Node& n) {
  switch (n.op) {
    case Op::number: return n.literal_char ? fmt::format("'{}'", static_cast<char>(n.value)) : std::to_string(n.value);
    case Op::identifier: return n.text;
    case Op::history: return n.text;
    case Op::member: return fmt::format("({}).{}", to_string(*n.lhs), n.text);
    case Op::arrow: return fmt::format("({})->{}", to_string(*n.lhs), n.text);
    case Op::index: return fmt::format("({})[{}]", to_string(*n.lhs), to_string(*n.rhs));
    case Op::address_of: return fmt::format("(&{})", to_string(*n.lhs));
    case Op::deref: return fmt::format("(*{})", to_string(*n.lhs));
    case Op::negate: return fmt::format("(-{})", to_string(*n.lhs));
    case Op::plus: return fmt::format("(+{})", to_string(*n.lhs));
    case Op::bit_not: return fmt::format("(~{})", to_string(*n.lhs));
    case Op::logical_not: return fmt::format("(!{})", to_string(*n.lhs));
    case Op::cast: return fmt::format("(({}){})", n.type.spelling(), to_string(*n.lhs));
    case Op::sizeof_type: return fmt::format("sizeof({})", n.type.spelling());
    case Op::sizeof_expr: return fmt::format("sizeof({})", to_string(*n.lhs));
    case Op::binary: return fmt::format("({} {} {})", to_string(*n.lhs), n.text, to_string(*n.rhs));
  }
  return "?";
}

// ---- Evaluation ----
namespace {

using symbols::TypeKind;
using symbols::TypeRef;

Error gdb_error(std::string msg) { return Error{Errc::usage, std::move(msg), std::nullopt}; }

// What a type is, seen through typedefs and qualifiers.
struct Shape {
  TypeKind kind = TypeKind::unknown;
  uint64_t size = 0;
  bool is_signed = false;
  bool is_char = false;
  bool is_bool = false;
  TypeRef resolved;
};

Type of_btf(TypeRef id) {
  Type t;
  t.btf = id;
  return t;
}

Type builtin_int(uint8_t size, bool is_signed, bool is_char = false) {
  Type t;
  t.int_size = size;
  t.int_signed = is_signed;
  t.int_char = is_char;
  return t;
}

Result<Shape> shape(const Type& t, symbols::Types& T) {
  Shape s;
  if (t.builtin()) {
    s.kind = TypeKind::integer;
    s.size = t.int_size;
    s.is_signed = t.int_signed;
    s.is_char = t.int_char || t.int_size == 1;
    return s;
  }
  if (t.pointers > 0) {
    s.kind = TypeKind::pointer;
    s.size = 8;
    return s;
  }
  if (!t.function.empty()) {
    s.kind = TypeKind::function;
    s.size = 1;  // gdb's sizeof of a function
    return s;
  }
  s.resolved = T.resolve(t.btf);
  s.kind = T.kind(s.resolved);
  if (s.kind == TypeKind::function) return s;
  s.size = TRY(T.size_of(t.btf));
  if (s.kind == TypeKind::integer) {
    std::string n = T.name(s.resolved);
    s.is_bool = n == "_Bool";
    s.is_char = n.find("char") != std::string::npos;
    s.is_signed = n.find("unsigned") == std::string::npos && !s.is_bool;
  } else if (s.kind == TypeKind::enumeration) {
    s.is_signed = false;
  }
  return s;
}

bool is_integral(const Shape& s) { return s.kind == TypeKind::integer || s.kind == TypeKind::enumeration; }
bool is_pointerish(const Shape& s) { return s.kind == TypeKind::pointer; }

// The type a pointer (or array) points at.
Result<Type> target_of(const Type& t, symbols::Types& T) {
  if (t.pointers > 0) {
    Type r = t;
    --r.pointers;
    r.spelling.clear();
    return r;
  }
  if (!t.builtin())
    if (auto a = T.array(t.btf)) return of_btf(a->first);
  return gdb_error("Attempt to take contents of a non-pointer value.");
}

// The BTF type for a C integer type, by DWARF's name for it.
std::optional<TypeRef> btf_for_builtin(const Type& t, symbols::Types& T) {
  const char* name = nullptr;
  if (t.int_char) name = t.int_signed ? "char" : "unsigned char";
  else if (t.int_size == 8) name = t.int_signed ? "long int" : "long unsigned int";
  else if (t.int_size == 4) name = t.int_signed ? "int" : "unsigned int";
  else if (t.int_size == 2) name = t.int_signed ? "short int" : "short unsigned int";
  else if (t.int_size == 1) name = t.int_signed ? "signed char" : "unsigned char";
  if (!name) return std::nullopt;
  return T.base_type(name);
}

Type pointer_to(const Type& t, symbols::Types& T) {
  Type base = t;
  if (t.builtin())
    if (auto b = btf_for_builtin(t, T)) base = of_btf(*b);
  if (base.pointers == 0 && base.btf.id != 0)
    if (auto p = T.pointer_to(base.btf)) return of_btf(*p);
  Type r = base;
  ++r.pointers;
  return r;
}

uint64_t truncate(uint64_t v, uint64_t size, bool is_signed) {
  if (size >= 8 || size == 0) return v;
  uint64_t mask = (uint64_t{1} << (size * 8)) - 1;
  v &= mask;
  if (is_signed && (v >> (size * 8 - 1)) & 1) v |= ~mask;
  return v;
}

Value rvalue(Type t, uint64_t bits) {
  Value v;
  v.type = t;
  v.bits = bits;
  return v;
}

Result<Type> resolve_type_name(const TypeName& tn, symbols::Types& T) {
  Type t;
  static const std::pair<std::string_view, std::pair<uint8_t, bool>> kBuiltins[] = {
      {"int", {4, true}},         {"unsigned int", {4, false}},          {"long int", {8, true}},
      {"long unsigned int", {8, false}}, {"long long int", {8, true}},   {"long long unsigned int", {8, false}},
      {"short int", {2, true}},   {"short unsigned int", {2, false}},    {"signed char", {1, true}},
      {"unsigned char", {1, false}}, {"char", {1, true}}};
  bool found = false;
  for (auto& [n, info] : kBuiltins)
    if (tn.base == n) {
      // int_char marks the plain `char` and `unsigned char` spellings; `signed char` is a
      // one-byte int whose name must stay (`(signed char *) 0x... "..."`).
      t = builtin_int(info.first, info.second, n == "char" || n == "unsigned char");
      found = true;
    }
  if (!found && tn.base == "void") {
    if (tn.pointers == 0 && tn.dims.empty()) return gdb_error("Invalid cast.");
    found = true;  // btf id 0: void
  }
  if (!found) {
    auto r = T.find(tn.base);
    if (!r) {
      std::string_view b = tn.base;
      if (b.substr(0, 7) == "struct ") return gdb_error(fmt::format("No struct type named {}.", b.substr(7)));
      if (b.substr(0, 6) == "union ") return gdb_error(fmt::format("No union type named {}.", b.substr(6)));
      if (b.substr(0, 5) == "enum ") return gdb_error(fmt::format("No enum type named {}.", b.substr(5)));
      return gdb_error(fmt::format("No symbol \"{}\" in current context.", b));
    }
    t.btf = *r;
  }
  for (int i = 0; i < tn.pointers; ++i) {
    if (t.btf.id == 0 && !t.builtin()) ++t.pointers;
    else if (t.btf.id == 0 && t.pointers == 0 && t.int_size == 0) ++t.pointers;  // void *
    else t = pointer_to(t, T);
  }
  if (t.btf.id == 0 && t.pointers == 0 && t.int_size == 0 && tn.pointers > 0) t.pointers = tn.pointers;
  for (auto it = tn.dims.rbegin(); it != tn.dims.rend(); ++it) {
    Type elem = t;
    if (elem.builtin())
      if (auto b = btf_for_builtin(elem, T)) elem = of_btf(*b);
    if (elem.pointers != 0 || elem.btf.id == 0) return Error::make(Errc::unsupported, "an array of {} is not supported", tn.spelling());
    auto a = T.array_of(elem.btf, *it);
    if (!a) return Error::make(Errc::unsupported, "no array type {} in the kernel's types", tn.spelling());
    t = of_btf(*a);
  }
  return t;
}

uint64_t type_size(const Type& t, symbols::Types& T) {
  auto s = shape(t, T);
  return s ? s->size : 0;
}

class Evaluator {
 public:
  explicit Evaluator(Env& env) : env_(env), T_(env.types()) {}

  Result<Value> eval(const Node& n, int depth = 0) {
    if (depth > kMaxDepth) return Error::make(Errc::usage, "expression nested too deeply");
    switch (n.op) {
      case Op::number: return rvalue(builtin_int(n.literal_size, n.literal_char ? true : n.literal_signed, n.literal_char), n.value);
      case Op::history: return env_.history(n.text == "$" ? 0 : n.value);
      case Op::identifier: {
        auto var = env_.variable(n.text);
        if (var) {
          Value v;
          v.type.btf = var->second;
          v.address = var->first;
          return v;
        }
        if (var.error().code != Errc::not_found) return var.error();
        if (auto f = env_.function(n.text)) {
          Value v;
          v.type.function = f->second;
          v.address = f->first;
          return v;
        }
        if (auto e = env_.enumerator(n.text)) {
          if (e->second.id == 0) return rvalue(builtin_int(4, true), static_cast<uint64_t>(e->first));
          Type t;
          t.btf = e->second;
          return rvalue(t, static_cast<uint64_t>(e->first));
        }
        return gdb_error(fmt::format("No symbol \"{}\" in current context.", n.text));
      }
      case Op::member:
      case Op::arrow: {
        Value base = TRY(eval(*n.lhs, depth + 1));
        Shape s = TRY(shape(base.type, T_));
        // gdb looks through a pointer for `.` and accepts `->` on a structure.
        if (is_pointerish(s)) {
          base = TRY(deref(base));
          s = TRY(shape(base.type, T_));
        }
        if (s.kind != TypeKind::structure && s.kind != TypeKind::union_)
          return gdb_error(fmt::format("Attempt to extract a component of a value that is not a structure{}.",
                                       n.op == Op::arrow ? " pointer" : ""));
        if (!base.address) return gdb_error("Attempt to extract a component of a value not in memory.");
        auto m = T_.member(base.type.btf, n.text);
        if (!m) return gdb_error(fmt::format("There is no member named {}.", n.text));
        Value v;
        v.type.btf = m->type;
        uint64_t bits = uint64_t{base.bit_offset} + m->bit_offset;
        v.address = *base.address + bits / 8;
        if (m->bit_size) {
          v.bit_offset = static_cast<uint32_t>(bits % 8);
          v.bit_size = m->bit_size;
        }
        return v;
      }
      case Op::index: {
        Value base = TRY(eval(*n.lhs, depth + 1));
        Value idx = TRY(eval(*n.rhs, depth + 1));
        Shape is = TRY(shape(idx.type, T_));
        if (!is_integral(is)) return gdb_error("Argument to arithmetic operation not a number or boolean.");
        int64_t i = static_cast<int64_t>(truncate(TRY(scalar(idx, env_)), is.size, is.is_signed));
        Shape s = TRY(shape(base.type, T_));
        if (s.kind == TypeKind::array) {
          if (!base.address) return gdb_error("Attempt to take address of value not located in memory.");
          Type elem = TRY(target_of(base.type, T_));
          Value v;
          v.type = elem;
          v.address = *base.address + static_cast<uint64_t>(i) * type_size(elem, T_);
          return v;
        }
        if (is_pointerish(s)) {
          Type elem = TRY(target_of(base.type, T_));
          uint64_t p = TRY(scalar(base, env_));
          Value v;
          v.type = elem;
          v.address = p + static_cast<uint64_t>(i) * type_size(elem, T_);
          return v;
        }
        return gdb_error("cannot subscript something of type `" + type_name(base.type, T_) + "'");
      }
      case Op::address_of: {
        auto lhs = eval(*n.lhs, depth + 1);
        // &VAR of a type BTF cannot give (an anonymous struct): DWARF's spelling and the
        // symbol's address are all gdb prints.
        if (!lhs && lhs.error().code != Errc::not_found && n.lhs->op == Op::identifier)
          if (auto spelled = env_.address_type(n.lhs->text))
            if (auto at = env_.symbol_address(n.lhs->text)) {
              Type t;
              t.pointers = 1;
              t.spelling = *spelled;
              return rvalue(t, *at);
            }
        Value v = TRY(std::move(lhs));
        if (v.bit_size) return gdb_error("Attempt to take address of value not located in memory.");
        if (!v.address) return gdb_error("Attempt to take address of value not located in memory.");
        if (!v.type.function.empty()) {
          Type t = v.type;
          t.pointers = 1;
          return rvalue(t, *v.address);
        }
        Type t = pointer_to(v.type, T_);
        // &VAR: DWARF's declaration keeps the qualifiers BTF's types lose (gdb: `volatile unsigned long *`).
        if (n.lhs->op == Op::identifier)
          if (auto spelled = env_.address_type(n.lhs->text)) t.spelling = *spelled;
        return rvalue(t, *v.address);
      }
      case Op::deref: {
        Value v = TRY(eval(*n.lhs, depth + 1));
        return deref(v);
      }
      case Op::sizeof_type: {
        Type t = TRY(resolve_type_name(n.type, T_));
        if (t.btf.id == 0 && t.pointers == 0 && !t.builtin()) return rvalue(builtin_int(8, false), 1);
        return rvalue(builtin_int(8, false), TRY(size_checked(t)));
      }
      case Op::sizeof_expr: {
        Value v = TRY(eval(*n.lhs, depth + 1));
        return rvalue(builtin_int(8, false), TRY(size_checked(v.type)));
      }
      case Op::cast: {
        Type to = TRY(resolve_type_name(n.type, T_));
        Value v = TRY(eval(*n.lhs, depth + 1));
        return cast(v, to);
      }
      case Op::negate:
      case Op::plus:
      case Op::bit_not:
      case Op::logical_not: {
        Value v = TRY(eval(*n.lhs, depth + 1));
        Shape s = TRY(shape(v.type, T_));
        if (n.op == Op::logical_not) {
          if (!is_integral(s) && !is_pointerish(s)) return gdb_error("Argument to arithmetic operation not a number or boolean.");
          return rvalue(builtin_int(4, true), TRY(scalar(v, env_)) == 0 ? 1 : 0);
        }
        if (!is_integral(s)) return gdb_error("Argument to arithmetic operation not a number or boolean.");
        Type pt = promoted(s);
        uint64_t x = truncate(TRY(scalar(v, env_)), s.size, s.is_signed);
        uint64_t r = n.op == Op::negate ? 0 - x : n.op == Op::bit_not ? ~x : x;
        return rvalue(pt, truncate(r, pt.int_size, pt.int_signed));
      }
      case Op::binary: return binary(n, depth);
    }
    return Error::make(Errc::usage, "bad expression");
  }

 private:
  Result<uint64_t> size_checked(const Type& t) {
    Shape s = TRY(shape(t, T_));
    if (s.kind == TypeKind::function) return uint64_t{1};
    return s.size;
  }

  Result<Value> deref(const Value& v) {
    Shape s = TRY(shape(v.type, T_));
    if (s.kind == TypeKind::array) {
      Value r;
      r.type = TRY(target_of(v.type, T_));
      r.address = v.address;
      return r;
    }
    if (s.kind == TypeKind::function) return v;  // *f is f, as in C
    if (!is_pointerish(s)) return gdb_error("Attempt to take contents of a non-pointer value.");
    Type t = TRY(target_of(v.type, T_));
    if (t.btf.id == 0 && t.pointers == 0 && !t.builtin() && t.function.empty())
      return gdb_error("Attempt to take contents of a non-pointer value.");
    Value r;
    r.type = t;
    r.address = TRY(scalar(v, env_));
    return r;
  }

  // C's integer promotion: anything narrower than int becomes int.
  static Type promoted(const Shape& s) {
    if (s.size < 4) return builtin_int(4, true);
    return builtin_int(static_cast<uint8_t>(s.size), s.is_signed && !(s.kind == TypeKind::enumeration));
  }

  Result<Value> cast(const Value& v, const Type& to) {
    Shape from = TRY(shape(v.type, T_));
    Shape ts = TRY(shape(to, T_));
    if (ts.kind == TypeKind::structure || ts.kind == TypeKind::union_ || ts.kind == TypeKind::array) {
      if (!v.address) return gdb_error("Invalid cast.");
      Value r = v;
      r.type = to;
      return r;
    }
    uint64_t x = 0;
    if (from.kind == TypeKind::array || from.kind == TypeKind::function) {
      if (!v.address) return gdb_error("Invalid cast.");
      x = *v.address;
    } else if (is_integral(from) || is_pointerish(from)) {
      x = truncate(TRY(scalar(v, env_)), from.size, from.is_signed);
    } else {
      return gdb_error("Invalid cast.");
    }
    return rvalue(to, truncate(x, ts.size, ts.is_signed));
  }

  Result<Value> binary(const Node& n, int depth) {
    const std::string& op = n.text;
    Value a = TRY(eval(*n.lhs, depth + 1));
    Value b = TRY(eval(*n.rhs, depth + 1));
    Shape sa = TRY(shape(a.type, T_));
    Shape sb = TRY(shape(b.type, T_));
    // Arrays decay to pointers to their first element.
    auto decay = [&](Value& v, Shape& s) -> Result<void> {
      if (s.kind != TypeKind::array) return ok();
      if (!v.address) return gdb_error("Attempt to take address of value not located in memory.");
      v = rvalue(pointer_to(TRY(target_of(v.type, T_)), T_), *v.address);
      s = TRY(shape(v.type, T_));
      return ok();
    };
    TRY(decay(a, sa));
    TRY(decay(b, sb));
    bool pa = is_pointerish(sa), pb = is_pointerish(sb);
    if ((!is_integral(sa) && !pa) || (!is_integral(sb) && !pb))
      return gdb_error("Argument to arithmetic operation not a number or boolean.");
    uint64_t x = truncate(TRY(scalar(a, env_)), sa.size, sa.is_signed);
    uint64_t y = truncate(TRY(scalar(b, env_)), sb.size, sb.is_signed);
    if (op == "&&") return rvalue(builtin_int(4, true), (x && y) ? 1 : 0);
    if (op == "||") return rvalue(builtin_int(4, true), (x || y) ? 1 : 0);
    if (pa || pb) {
      if (op == "==" || op == "!=" || op == "<" || op == ">" || op == "<=" || op == ">=") return compare(op, x, y, false);
      if (pa && pb && op == "-") {
        uint64_t esz = type_size(TRY(target_of(a.type, T_)), T_);
        if (esz == 0) esz = 1;
        return rvalue(builtin_int(8, true), static_cast<uint64_t>(static_cast<int64_t>(x - y) / static_cast<int64_t>(esz)));
      }
      if (pa && !pb && (op == "+" || op == "-")) {
        uint64_t esz = type_size(TRY(target_of(a.type, T_)), T_);
        if (esz == 0) esz = 1;
        return rvalue(a.type, op == "+" ? x + y * esz : x - y * esz);
      }
      if (pb && !pa && op == "+") {
        uint64_t esz = type_size(TRY(target_of(b.type, T_)), T_);
        if (esz == 0) esz = 1;
        return rvalue(b.type, y + x * esz);
      }
      return gdb_error("Argument to arithmetic operation not a number or boolean.");
    }
    // The usual arithmetic conversions (LP64): the wider type, unsigned when equal widths disagree.
    Type ta = promoted(sa), tb = promoted(sb);
    Type t = ta.int_size != tb.int_size ? (ta.int_size > tb.int_size ? ta : tb)
                                        : builtin_int(ta.int_size, ta.int_signed && tb.int_signed);
    if (op == "<<" || op == ">>") t = ta;  // a shift has its left operand's type
    bool sg = t.int_signed;
    x = truncate(x, t.int_size, sg);
    if (op != "<<" && op != ">>") y = truncate(y, t.int_size, sg);
    if (op == "==" || op == "!=" || op == "<" || op == ">" || op == "<=" || op == ">=") return compare(op, x, y, sg);
    uint64_t r = 0;
    if (op == "+") r = x + y;
    else if (op == "-") r = x - y;
    else if (op == "*") r = x * y;
    else if (op == "/" || op == "%") {
      if (y == 0) return gdb_error("Division by zero");
      if (sg) {
        int64_t sx = static_cast<int64_t>(x), sy = static_cast<int64_t>(y);
        if (sy == -1) r = op == "/" ? 0 - x : 0;
        else r = static_cast<uint64_t>(op == "/" ? sx / sy : sx % sy);
      } else {
        r = op == "/" ? x / y : x % y;
      }
    } else if (op == "<<") r = y >= 64 ? 0 : x << y;
    else if (op == ">>") r = y >= 64 ? (sg && static_cast<int64_t>(x) < 0 ? ~uint64_t{0} : 0)
                                      : (sg ? static_cast<uint64_t>(static_cast<int64_t>(x) >> y) : x >> y);
    else if (op == "&") r = x & y;
    else if (op == "|") r = x | y;
    else if (op == "^") r = x ^ y;
    else return Error::make(Errc::usage, "unknown operator {}", op);
    return rvalue(t, truncate(r, t.int_size, sg));
  }

  static Value compare(const std::string& op, uint64_t x, uint64_t y, bool sg) {
    auto lt = [&](uint64_t p, uint64_t q) { return sg ? static_cast<int64_t>(p) < static_cast<int64_t>(q) : p < q; };
    bool r = op == "==" ? x == y : op == "!=" ? x != y : op == "<" ? lt(x, y) : op == ">" ? lt(y, x) : op == "<=" ? !lt(y, x) : !lt(x, y);
    return rvalue(builtin_int(4, true), r ? 1 : 0);
  }

  Env& env_;
  symbols::Types& T_;
};

}  // namespace

Result<Value> evaluate(const Node& n, Env& env) {
  Evaluator e(env);
  return e.eval(n);
}

Result<uint64_t> scalar(const Value& v, Env& env) {
  if (!v.address) return v.bits;
  Shape s = TRY(shape(v.type, env.types()));
  if (s.kind != TypeKind::integer && s.kind != TypeKind::enumeration && s.kind != TypeKind::pointer)
    return gdb_error("Argument to arithmetic operation not a number or boolean.");
  if (v.bit_size) {
    uint64_t nbytes = (uint64_t{v.bit_offset} + v.bit_size + 7) / 8;
    if (nbytes > 8) return Error::make(Errc::unsupported, "a bit field across {} bytes", nbytes);
    uint8_t buf[8] = {};
    TRY(env.read(*v.address, std::span<uint8_t>(buf, nbytes)));
    uint64_t raw = 0;
    std::memcpy(&raw, buf, 8);
    raw >>= v.bit_offset;
    if (v.bit_size < 64) raw &= (uint64_t{1} << v.bit_size) - 1;
    if (s.is_signed && v.bit_size < 64 && (raw >> (v.bit_size - 1)) & 1) raw |= ~uint64_t{0} << v.bit_size;
    return raw;
  }
  if (s.size == 0 || s.size > 8) return Error::make(Errc::unsupported, "a {}-byte scalar", s.size);
  uint8_t buf[8] = {};
  TRY(env.read(*v.address, std::span<uint8_t>(buf, s.size)));
  uint64_t raw = 0;
  std::memcpy(&raw, buf, 8);
  return truncate(raw, s.size, s.is_signed);
}

// A pointer to a function of prototype `proto`: "(*)" before the parameter list, which is the
// parenthesised group that ends the prototype ("void (int)" -> "void (*)(int)").
std::string function_pointer_name(const std::string& proto, int pointers) {
  // A symbol without DWARF: gdb's "<text variable, no debug info> *".
  if (!proto.empty() && proto[0] == '<') return proto + " " + std::string(static_cast<size_t>(pointers), '*');
  size_t open = proto.size();
  int depth = 0;
  for (size_t i = proto.size(); i-- > 0;) {
    if (proto[i] == ')') ++depth;
    else if (proto[i] == '(' && --depth == 0) {
      open = i;
      break;
    }
  }
  return proto.substr(0, open) + "(" + std::string(static_cast<size_t>(pointers), '*') + ")" + proto.substr(open);
}

std::string type_name(const Type& t, symbols::Types& T) {
  if (!t.spelling.empty()) return t.spelling;
  if (!t.function.empty()) return t.pointers ? function_pointer_name(t.function, t.pointers) : t.function;
  if (t.builtin()) {
    if (t.int_char) return t.int_signed ? "char" : "unsigned char";
    switch (t.int_size) {
      case 8: return t.int_signed ? "long" : "unsigned long";
      case 2: return t.int_signed ? "short" : "unsigned short";
      case 1: return t.int_signed ? "signed char" : "unsigned char";
      default: return t.int_signed ? "int" : "unsigned int";
    }
  }
  std::string stars(static_cast<size_t>(t.pointers), '*');
  if (t.btf.id == 0) return "void " + stars;
  return T.declare(t.btf, stars);
}

Result<std::string> format(const Value& v, Env& env, symbols::ValueContext& ctx) {
  symbols::Types& T = env.types();
  Shape s = TRY(shape(v.type, T));
  bool hex = ctx.radix() == 16;
  if (s.kind == TypeKind::function) {
    // gdb: {PROTOTYPE} ADDRESS <SYMBOL>
    if (!v.address) return Error::make(Errc::unsupported, "a function not in memory");
    std::string text = fmt::format("{{{}}} {:#x}", v.type.function.empty() ? type_name(v.type, T) : v.type.function, *v.address);
    if (auto sym = ctx.symbolize(*v.address)) text += " <" + *sym + ">";
    return text;
  }
  if (s.kind == TypeKind::pointer) {
    // gdb's /x leaves a pointer printed on its own as it is.
    uint64_t p = TRY(scalar(v, env));
    Type target = TRY(target_of(v.type, T));
    Shape ts;
    bool void_target = target.btf.id == 0 && !target.builtin() && target.function.empty();
    bool function_target = !target.function.empty() && target.pointers == 0;
    if (!void_target) ts = TRY(shape(target, T));
    std::string text = fmt::format("{:#x}", p);
    if (p)
      if (auto sym = ctx.symbolize(p)) text += " <" + *sym + ">";
    // A pointer to a one-byte integer prints the string it points to (c_textual_element_type).
    // gdb leaves out the pointer's type only when it is an unnamed pointer to `char` itself,
    // qualified or not (c_value_print: `(unsigned char *) 0x... <init_task> ""`).
    if (!void_target && !function_target && ts.kind == TypeKind::integer && ts.size == 1) {
      std::string target_name = type_name(target, T);
      for (std::string_view q : {"const ", "volatile "})
        if (target_name.starts_with(q)) target_name.erase(0, q.size());
      bool named_pointer = v.type.pointers == 0 && v.type.btf.id && T.kind(v.type.btf) == TypeKind::typedef_;
      if (target_name != "char" || named_pointer) text = fmt::format("({}) {}", type_name(v.type, T), text);
      if (p) {
        auto str = ctx.read_string(p, 257);
        if (!str) return text + fmt::format(" <error: Cannot access memory at address {:#x}>", p);
        std::string q = " \"";
        for (size_t i = 0; i < str->size() && i < 256; ++i) {
          uint8_t c = static_cast<uint8_t>((*str)[i]);
          q += symbols::escape_char(c, '"');
        }
        q += str->size() > 256 ? "\"..." : "\"";
        text += q;
      }
      return text;
    }
    return fmt::format("({}) {}", type_name(v.type, T), text);
  }
  if (v.type.builtin() || !v.address || v.bit_size) {
    uint64_t x = truncate(TRY(scalar(v, env)), s.size, s.is_signed);
    if (v.type.builtin()) {
      if (hex) return fmt::format("{:#x}", truncate(x, s.size, false));
      if (s.is_char) return fmt::format("{} '{}'", static_cast<int64_t>(x), symbols::escape_char(static_cast<uint8_t>(x), '\''));
      return s.is_signed ? std::to_string(static_cast<int64_t>(x)) : std::to_string(x);
    }
    // A BTF-typed scalar not in memory (a cast result, a bit field): its bytes through the
    // type printer, so enums and bools print by name.
    std::vector<uint8_t> bytes(s.size);
    for (size_t i = 0; i < bytes.size() && i < 8; ++i) bytes[i] = static_cast<uint8_t>(x >> (8 * i));
    return T.format_value(v.type.btf, bytes, ctx, 0, 0);
  }
  if (s.size > (64u << 20)) return Error::make(Errc::out_of_bounds, "{} is {} bytes", type_name(v.type, T), s.size);
  std::vector<uint8_t> bytes(s.size);
  TRY(env.read(*v.address, bytes));
  return T.format_value(v.type.btf, bytes, ctx, 0, *v.address);
}

}  // namespace coroner::commands::expr
