#include "shell/completion.h"

#include <bpf/btf.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "kernel/kernel.h"
#include "shell/shell.h"
#include "symbols/dwarf_info.h"
#include "symbols/vmlinux.h"

namespace coroner::shell {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Skips typedefs, const, volatile, restrict and type tags down to the type that has members.
const struct btf_type* strip(const struct btf* b, uint32_t& id) {
  for (int guard = 0; guard < 32; ++guard) {
    const struct btf_type* t = btf__type_by_id(b, id);
    if (!t) return nullptr;
    switch (btf_kind(t)) {
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_CONST:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        id = t->type;
        continue;
      default:
        return t;
    }
  }
  return nullptr;
}

// Member names of a struct/union, anonymous members' own members inline (C lets you name them
// directly, and crash's `struct T.m` accepts them).
void collect_members(const struct btf* b, uint32_t id, std::vector<std::pair<std::string, uint32_t>>& out, int depth) {
  if (depth > 8) return;
  const struct btf_type* t = strip(b, id);
  if (!t || !(btf_is_struct(t) || btf_is_union(t))) return;
  const struct btf_member* m = btf_members(t);
  for (uint16_t i = 0; i < btf_vlen(t); ++i) {
    const char* name = btf__name_by_offset(b, m[i].name_off);
    if (name && *name) out.emplace_back(name, m[i].type);
    else collect_members(b, m[i].type, out, depth + 1);
  }
}

bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Where the member name being typed starts: after the identifier characters at the end.
size_t partial_start(std::string_view text) {
  size_t start = text.size();
  while (start > 0 && is_identifier_char(text[start - 1])) --start;
  return start;
}

// The expression whose members follow "EXPR." or "EXPR->" (and a partial name), or nothing.
std::optional<std::string_view> accessor_base(std::string_view text) {
  std::string_view before = text.substr(0, partial_start(text));
  while (!before.empty() && std::isspace(static_cast<unsigned char>(before.back()))) before.remove_suffix(1);
  if (before.size() >= 2 && before.substr(before.size() - 2) == "->") before.remove_suffix(2);
  else if (!before.empty() && before.back() == '.') before.remove_suffix(1);
  else return std::nullopt;
  while (!before.empty() && std::isspace(static_cast<unsigned char>(before.back()))) before.remove_suffix(1);
  while (!before.empty() && std::isspace(static_cast<unsigned char>(before.front()))) before.remove_prefix(1);
  if (before.empty()) return std::nullopt;
  return before;
}

// An Env whose memory reads all answer zeros: evaluating through it gives an expression's
// type without touching the dump (a pointer on the way reads as NULL, and member offsets from
// NULL are still just arithmetic).
class ZeroMemoryEnv final : public commands::expr::Env {
 public:
  explicit ZeroMemoryEnv(commands::expr::Env& inner) : inner_(inner) {}
  symbols::Types& types() override { return inner_.types(); }
  Result<std::pair<uint64_t, symbols::TypeRef>> variable(std::string_view name) override {
    return inner_.variable(name);
  }
  Result<void> read(uint64_t, std::span<uint8_t> out) override {
    std::fill(out.begin(), out.end(), uint8_t{0});
    return ok();
  }
  std::optional<std::pair<int64_t, symbols::TypeRef>> enumerator(std::string_view name) override {
    return inner_.enumerator(name);
  }
  Result<commands::expr::Value> history(uint64_t n) override { return inner_.history(n); }

 private:
  commands::expr::Env& inner_;
};

// The kernel's global variables (their types from DWARF, as `p` finds them) and BTF types.
class KernelTypesEnv final : public commands::expr::Env {
 public:
  explicit KernelTypesEnv(kernel::Kernel& k) : k_(k) {}
  symbols::Types& types() override { return k_.types(); }
  Result<std::pair<uint64_t, symbols::TypeRef>> variable(std::string_view name) override {
    const symbols::Symbol* sym = k_.symbols().find(name);
    if (!sym) return Error::make(Errc::not_found, "No symbol \"{}\" in current context.", name);
    symbols::TypeRef t = TRY(k_.dwarf().variable_type(name, k_.types()));
    return std::make_pair(k_.symbols().address(*sym), t);
  }
  Result<void> read(uint64_t, std::span<uint8_t> out) override {
    std::fill(out.begin(), out.end(), uint8_t{0});
    return ok();
  }

 private:
  kernel::Kernel& k_;
};

// What follows `p` and its options on the line: the expression typed so far.
std::string_view p_expression(std::string_view line) {
  size_t at = 0;
  auto skip_space = [&] {
    while (at < line.size() && std::isspace(static_cast<unsigned char>(line[at]))) ++at;
  };
  auto skip_word = [&] {
    while (at < line.size() && !std::isspace(static_cast<unsigned char>(line[at]))) ++at;
  };
  skip_space();
  skip_word();  // the command (or an alias of it: px, pd)
  for (;;) {
    skip_space();
    if (at + 1 < line.size() && line[at] == '-' && std::isalpha(static_cast<unsigned char>(line[at + 1])))
      skip_word();
    else
      break;
  }
  return line.substr(at);
}

}  // namespace

std::vector<std::string> expression_members(commands::expr::Env& env, const struct btf* b, std::string_view text,
                                            size_t max_matches) {
  std::vector<std::string> out;
  auto base = accessor_base(text);
  if (!b || !base) return out;
  std::string_view partial = text.substr(partial_start(text));
  ZeroMemoryEnv zeros(env);
  symbols::Types& types = env.types();
  auto is_type_name = [&](std::string_view name) {
    if (zeros.variable(name)) return false;
    auto t = types.find(name);
    if (!t) return false;
    auto kind = types.kind(*t);
    return kind == symbols::TypeKind::typedef_ || kind == symbols::TypeKind::integer;
  };
  auto tree = commands::expr::parse(*base, is_type_name);
  if (!tree) return out;
  auto value = commands::expr::evaluate(**tree, zeros);
  if (!value || value->type.builtin() || value->type.pointers > 1) return out;
  // gdb takes `.` through a pointer and `->` on a struct alike: one level of pointer is looked
  // through either way.
  symbols::TypeRef t = types.resolve(value->type.btf);
  if (value->type.pointers == 0 && types.kind(t) == symbols::TypeKind::pointer) {
    auto target = types.array(t);
    if (!target) return out;
    t = types.resolve(target->first);
  }
  auto kind = types.kind(t);
  if (kind != symbols::TypeKind::structure && kind != symbols::TypeKind::union_) return out;
  std::vector<std::pair<std::string, uint32_t>> members;
  collect_members(b, t.id, members, 0);
  for (auto& [name, id] : members)
    if (starts_with(name, partial) && out.size() < max_matches) out.push_back(name);
  return out;
}

Completer::~Completer() {
  if (btf_) btf__free(btf_);
}

const struct btf* Completer::btf_data() {
  if (!btf_tried_) {
    btf_tried_ = true;
    auto bytes = session_.kernel.vmlinux().section_bytes(".BTF");
    if (!bytes.empty()) btf_ = btf__new(bytes.data(), static_cast<uint32_t>(bytes.size()));
  }
  return btf_;
}

std::vector<std::string> Completer::command_names(const std::string& prefix) const {
  std::set<std::string> names;
  for (const commands::Command* c : commands::every_command()) {
    if (starts_with(c->spec.name, prefix)) names.insert(c->spec.name);
    for (auto& a : c->spec.aliases)
      if (starts_with(a, prefix)) names.insert(a);
  }
  for (auto& a : session_.aliases)
    if (starts_with(a.name, prefix)) names.insert(a.name);
  for (const char* builtin : {"q", "exit"})
    if (starts_with(builtin, prefix)) names.insert(builtin);
  return {names.begin(), names.end()};
}

std::vector<std::string> Completer::option_names(const std::string& command, const std::string& prefix) const {
  std::vector<std::string> out;
  const commands::Command* c = commands::find_command(command);
  if (!c) return out;
  for (auto& o : c->spec.options) {
    std::string opt = std::string("-") + o.flag;
    if (starts_with(opt, prefix)) out.push_back(opt);
  }
  return out;
}

std::vector<std::string> Completer::type_names(const std::string& prefix, bool structs, bool unions) {
  std::set<std::string> names;
  const struct btf* b = btf_data();
  if (!b) return {};
  uint32_t n = btf__type_cnt(b);
  for (uint32_t id = 1; id < n && names.size() < kMaxMatches; ++id) {
    const struct btf_type* t = btf__type_by_id(b, id);
    if (!t || !((structs && btf_is_struct(t)) || (unions && btf_is_union(t)))) continue;
    const char* name = btf__name_by_offset(b, t->name_off);
    if (name && *name && starts_with(name, prefix)) names.insert(name);
  }
  return {names.begin(), names.end()};
}

std::vector<std::string> Completer::member_paths(const std::string& path) {
  std::vector<std::string> out;
  const struct btf* b = btf_data();
  size_t dot = path.find('.');
  if (!b || dot == std::string::npos) return out;
  std::string type = path.substr(0, dot);
  int32_t found = btf__find_by_name_kind(b, type.c_str(), BTF_KIND_STRUCT);
  if (found < 0) found = btf__find_by_name_kind(b, type.c_str(), BTF_KIND_UNION);
  if (found < 0) found = btf__find_by_name_kind(b, type.c_str(), BTF_KIND_TYPEDEF);
  if (found < 0) return out;
  uint32_t id = static_cast<uint32_t>(found);
  // Walk every complete member name; the last component is the prefix being completed.
  size_t from = dot + 1;
  for (int depth = 0; depth < 16; ++depth) {
    size_t next = path.find('.', from);
    std::vector<std::pair<std::string, uint32_t>> members;
    collect_members(b, id, members, 0);
    if (next == std::string::npos) {
      std::string prefix = path.substr(from);
      for (auto& [name, mid] : members)
        if (starts_with(name, prefix) && out.size() < kMaxMatches) out.push_back(path.substr(0, from) + name);
      return out;
    }
    std::string component = path.substr(from, next - from);
    auto it = std::find_if(members.begin(), members.end(), [&](auto& m) { return m.first == component; });
    if (it == members.end()) return out;
    id = it->second;
    from = next + 1;
  }
  return out;
}

std::vector<std::string> Completer::symbol_names(const std::string& prefix) const {
  std::set<std::string> names;
  if (prefix.empty()) return {};
  for (const auto& s : session_.kernel.symbols().all()) {
    if (starts_with(s.name, prefix)) {
      names.emplace(s.name);
      if (names.size() >= kMaxMatches) break;
    }
  }
  return {names.begin(), names.end()};
}

std::vector<std::string> Completer::expression_member_words(const std::string& expression, const std::string& word) {
  KernelTypesEnv env(session_.kernel);
  std::vector<std::string> names = expression_members(env, btf_data(), expression, kMaxMatches);
  // The word readline completes may start anywhere in the expression ("init_task.pi", or
  // "pg" after "->", '>' breaking words); it ends with the partial member name either way.
  size_t partial = expression.size() - partial_start(expression);
  std::string prefix = word.size() >= partial ? word.substr(0, word.size() - partial) : "";
  for (auto& n : names) n = prefix + n;
  return names;
}

std::vector<std::string> Completer::complete(const std::string& line, const std::string& word) {
  offered_members_ = false;
  std::vector<std::string> before = split_words(line.substr(0, line.size() - word.size()));
  if (before.empty()) return command_names(word);
  std::string command = before[0];
  for (auto& a : session_.aliases)
    if (a.name == command) {
      auto w = split_words(a.command);
      if (!w.empty()) command = w[0];
    }
  if (!word.empty() && word[0] == '-') return option_names(command, word);
  if (command == "help" || command == "man" || command == "?") return command_names(word);
  if (command == "p") {
    std::string expression(p_expression(line));
    if (accessor_base(expression)) {
      offered_members_ = true;
      return expression_member_words(expression, word);
    }
  }
  bool type_command = command == "struct" || command == "union" || command == "whatis" || command == "*";
  if (type_command && word.find('.') != std::string::npos) {
    offered_members_ = true;
    return member_paths(word);
  }
  if (command == "struct" || command == "*") return type_names(word, true, command == "*");
  if (command == "union") return type_names(word, false, true);
  if (command == "whatis") {
    auto types = type_names(word, true, true);
    auto syms = symbol_names(word);
    types.insert(types.end(), syms.begin(), syms.end());
    return types;
  }
  return symbol_names(word);
}

}  // namespace coroner::shell
