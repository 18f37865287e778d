#include "symbols/btf_types.h"

#include <bpf/btf.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <cwctype>
#include <unordered_set>

namespace coroner::symbols {
namespace {
// A name from the BTF string section; "" (never NULL) when the offset lies outside it, which
// the loader reports as bad data before anything else looks.
const char* name_at(const struct btf* b, uint32_t off) {
  const char* n = btf__name_by_offset(b, off);
  return n ? n : "";
}
}  // namespace

Result<uint64_t> Types::offset_of(std::string_view type, std::string_view path) {
  std::string key = fmt::format("{}.{}", type, path);
  if (auto it = offset_cache_.find(key); it != offset_cache_.end()) return it->second;
  Result<uint64_t> r = [&]() -> Result<uint64_t> {
    TypeRef t = TRY(find(type));
    MemberInfo m = TRY(member(t, path));
    return m.offset();
  }();
  offset_cache_.emplace(std::move(key), r);
  return r;
}

Result<uint64_t> Types::size_of_name(std::string_view type) {
  TypeRef t = TRY(find(type));
  return size_of(t);
}

BtfTypes::~BtfTypes() {
  if (btf_) btf__free(btf_);
}

Result<std::unique_ptr<BtfTypes>> BtfTypes::from_vmlinux(const Vmlinux& vm) {
  auto data = vm.section_bytes(".BTF");
  if (data.empty())
    return Error::make(Errc::no_debug_info, "{}: no .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF)", vm.path());
  return from_bytes(data, vm.path() + " .BTF");
}

Result<std::unique_ptr<BtfTypes>> BtfTypes::from_bytes(std::span<const uint8_t> data, std::string_view source) {
  std::unique_ptr<BtfTypes> t(new BtfTypes());
  t->source_ = std::string(source);
  // libbpf copies the bytes and reads the type records in place at hdr_len + type_off
  // without checking that this keeps them 4-byte aligned: refuse such a header here
  // (a 25-byte header made every record a misaligned read; found by fuzz_btf).
  struct btf_header hdr {};
  if (data.size() >= sizeof(hdr)) {
    std::memcpy(&hdr, data.data(), sizeof(hdr));
    if (hdr.magic == BTF_MAGIC && (hdr.hdr_len % 4 != 0 || hdr.type_off % 4 != 0))
      return Error::make(Errc::bad_data, "{}: invalid BTF data: type section at {:#x}+{:#x} is not 4-byte aligned", source,
                         hdr.hdr_len, hdr.type_off);
  }
  t->btf_ = btf__new(data.data(), static_cast<uint32_t>(data.size()));
  if (!t->btf_) return Error::make(Errc::bad_data, "{}: invalid BTF data: {}", source, std::strerror(errno));
  return indexed(std::move(t));
}

Result<std::unique_ptr<BtfTypes>> BtfTypes::from_split_elf(const std::string& path, const BtfTypes& base) {
  std::unique_ptr<BtfTypes> t(new BtfTypes());
  t->source_ = path + " .BTF";
  // libbpf 1.1 (Debian 12) has no btf__new_split over bytes; it reads the ELF section itself.
  t->btf_ = btf__parse_elf_split(path.c_str(), base.btf_);
  if (!t->btf_) return Error::make(Errc::bad_data, "{}: no usable split BTF: {}", t->source_, std::strerror(errno));
  return indexed(std::move(t));
}

Result<std::unique_ptr<BtfTypes>> BtfTypes::indexed(std::unique_ptr<BtfTypes> t) {
  uint32_t n = btf__type_cnt(t->btf_);
  t->by_name_.reserve(n / 2);
  for (uint32_t id = 1; id < n; ++id) {
    const struct btf_type* bt = btf__type_by_id(t->btf_, id);
    if (!bt) continue;
    int k = btf_kind(bt);
    if (!btf__name_by_offset(t->btf_, bt->name_off))
      return Error::make(Errc::bad_data, ".BTF: type {} names string offset {:#x}, outside the string section", id, bt->name_off);
    if (k == BTF_KIND_ENUM || k == BTF_KIND_ENUM64)
      for (int i = 0; i < btf_vlen(bt); ++i) {
        uint32_t off = k == BTF_KIND_ENUM ? btf_enum(bt)[i].name_off : btf_enum64(bt)[i].name_off;
        if (!btf__name_by_offset(t->btf_, off))
          return Error::make(Errc::bad_data, ".BTF: enum type {} value {} names string offset {:#x}, outside the string section",
                             id, i, off);
      }
    if (k == BTF_KIND_ENUM) {
      const struct btf_enum* e = btf_enum(bt);
      for (int i = 0; i < btf_vlen(bt); ++i) {
        t->enumerators_.emplace(name_at(t->btf_, e[i].name_off), e[i].val);
        t->enumerator_types_.emplace(name_at(t->btf_, e[i].name_off), id);
      }
    } else if (k == BTF_KIND_ENUM64) {
      const struct btf_enum64* e = btf_enum64(bt);
      for (int i = 0; i < btf_vlen(bt); ++i) {
        t->enumerators_.emplace(name_at(t->btf_, e[i].name_off), static_cast<int64_t>(btf_enum64_value(&e[i])));
        t->enumerator_types_.emplace(name_at(t->btf_, e[i].name_off), id);
      }
    }
    if (!bt->name_off) continue;
    if (k == BTF_KIND_STRUCT || k == BTF_KIND_UNION || k == BTF_KIND_ENUM || k == BTF_KIND_ENUM64 ||
        k == BTF_KIND_TYPEDEF || k == BTF_KIND_INT || k == BTF_KIND_FLOAT)
      t->by_name_.emplace(name_at(t->btf_, bt->name_off), id);
  }
  return t;
}

Result<TypeRef> BtfTypes::find(std::string_view name) {
  int want = -1;
  auto strip = [&](std::string_view prefix, int kind) {
    if (name.substr(0, prefix.size()) == prefix) {
      name.remove_prefix(prefix.size());
      want = kind;
    }
  };
  strip("struct ", BTF_KIND_STRUCT);
  strip("union ", BTF_KIND_UNION);
  strip("enum ", BTF_KIND_ENUM);
  auto [b, e] = by_name_.equal_range(name);
  uint32_t best = 0;
  int best_rank = 100;
  for (auto it = b; it != e; ++it) {
    const struct btf_type* bt = btf__type_by_id(btf_, it->second);
    int k = btf_kind(bt);
    if (want >= 0 && k != want && !(want == BTF_KIND_ENUM && k == BTF_KIND_ENUM64)) continue;
    // Prefer complete definitions: struct, union, enum, typedef, then base types.
    int rank = k == BTF_KIND_STRUCT ? 0 : k == BTF_KIND_UNION ? 1 : (k == BTF_KIND_ENUM || k == BTF_KIND_ENUM64) ? 2 : k == BTF_KIND_TYPEDEF ? 3 : 4;
    if (rank < best_rank) best = it->second, best_rank = rank;
  }
  if (!best) return Error::make(Errc::no_debug_info, "no type named \"{}\" in {}", name, source_);
  return TypeRef{best};
}

Result<uint64_t> BtfTypes::size_of(TypeRef t) {
  long long s = btf__resolve_size(btf_, t.id);
  if (s < 0) return Error::make(Errc::no_debug_info, "{}: cannot size type {}", source_, name(t));
  return static_cast<uint64_t>(s);
}

TypeRef BtfTypes::resolve(TypeRef t) {
  int r = btf__resolve_type(btf_, t.id);
  return r < 0 ? t : TypeRef{static_cast<uint32_t>(r)};
}

TypeKind BtfTypes::kind(TypeRef t) {
  const struct btf_type* bt = btf__type_by_id(btf_, t.id);
  if (!bt) return TypeKind::unknown;
  switch (btf_kind(bt)) {
    case BTF_KIND_INT: return TypeKind::integer;
    case BTF_KIND_PTR: return TypeKind::pointer;
    case BTF_KIND_ARRAY: return TypeKind::array;
    case BTF_KIND_STRUCT: return TypeKind::structure;
    case BTF_KIND_UNION: return TypeKind::union_;
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64: return TypeKind::enumeration;
    case BTF_KIND_FUNC_PROTO: return TypeKind::function;
    case BTF_KIND_TYPEDEF: return TypeKind::typedef_;
    default: return TypeKind::other;
  }
}

std::string BtfTypes::name(TypeRef t) {
  const struct btf_type* bt = btf__type_by_id(btf_, t.id);
  if (!bt) return "?";
  const char* n = name_at(btf_, bt->name_off);
  switch (btf_kind(bt)) {
    case BTF_KIND_STRUCT: return fmt::format("struct {}", n);
    case BTF_KIND_UNION: return fmt::format("union {}", n);
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64: return fmt::format("enum {}", n);
    default: return n ? n : "";
  }
}

std::optional<std::pair<TypeRef, uint64_t>> BtfTypes::array(TypeRef t) {
  TypeRef r = resolve(t);
  const struct btf_type* bt = btf__type_by_id(btf_, r.id);
  if (!bt) return std::nullopt;
  if (btf_is_array(bt)) return std::make_pair(TypeRef{btf_array(bt)->type}, uint64_t{btf_array(bt)->nelems});
  if (btf_is_ptr(bt)) return std::make_pair(TypeRef{bt->type}, uint64_t{0});
  return std::nullopt;
}

std::optional<int64_t> BtfTypes::enumerator(std::string_view n) {
  auto it = enumerators_.find(n);
  if (it == enumerators_.end()) return std::nullopt;
  return it->second;
}

std::optional<TypeRef> BtfTypes::enumerator_type(std::string_view n) const {
  auto it = enumerator_types_.find(n);
  if (it == enumerator_types_.end()) return std::nullopt;
  return TypeRef{it->second};
}

bool BtfTypes::find_member(uint32_t type_id, std::string_view name, uint64_t& bit_off, uint32_t& bit_size,
                           uint32_t& member_type, int depth) {
  if (depth > 16) return false;
  int rid = btf__resolve_type(btf_, type_id);
  if (rid < 0) return false;
  // Each composite is searched at most once per lookup: a type that did not hold `name` will
  // not hold it the next time. Without this, hostile BTF with many anonymous members of the
  // same type makes the search exponential (found by fuzz_btf as a timeout).
  thread_local std::unordered_set<int> searched;
  if (depth == 0) searched.clear();
  if (!searched.insert(rid).second) return false;
  const struct btf_type* bt = btf__type_by_id(btf_, rid);
  if (!bt || !btf_is_composite(bt)) return false;
  const struct btf_member* m = btf_members(bt);
  for (int i = 0; i < btf_vlen(bt); ++i) {
    const char* mn = name_at(btf_, m[i].name_off);
    uint64_t off = btf_member_bit_offset(bt, i);
    if (mn && *mn) {
      if (name == mn) {
        bit_off = off;
        bit_size = btf_member_bitfield_size(bt, i);
        member_type = m[i].type;
        return true;
      }
    } else {
      // Anonymous struct/union member: look inside it.
      uint64_t inner = 0;
      if (find_member(m[i].type, name, inner, bit_size, member_type, depth + 1)) {
        bit_off = off + inner;
        return true;
      }
    }
  }
  return false;
}

Result<MemberInfo> BtfTypes::member(TypeRef t, std::string_view path) {
  MemberInfo out;
  out.type = t;
  std::string_view rest = path;
  while (!rest.empty()) {
    size_t dot = rest.find('.');
    std::string_view comp = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    // Optional array subscripts: name[3][1]
    std::string_view base = comp.substr(0, comp.find('['));
    std::string_view subs = comp.substr(base.size());
    uint64_t off = 0;
    uint32_t bits = 0, mtype = 0;
    if (!find_member(out.type.id, base, off, bits, mtype, 0))
      return Error::make(Errc::no_debug_info, "{} has no member \"{}\"", name(resolve(out.type)), base);
    out.bit_offset += off;
    out.bit_size = bits;
    out.type = TypeRef{mtype};
    while (!subs.empty()) {
      size_t close = subs.find(']');
      if (subs[0] != '[' || close == std::string_view::npos)
        return Error::make(Errc::usage, "bad subscript in member path \"{}\"", path);
      uint64_t idx = 0;
      auto [p, ec] = std::from_chars(subs.data() + 1, subs.data() + close, idx);
      if (ec != std::errc() || p != subs.data() + close) return Error::make(Errc::usage, "bad subscript in member path \"{}\"", path);
      auto arr = array(out.type);
      if (!arr || arr->second == 0) return Error::make(Errc::usage, "\"{}\" is not an array", base);
      uint64_t esz = TRY(size_of(arr->first));
      out.bit_offset += idx * esz * 8;
      out.type = arr->first;
      subs.remove_prefix(close + 1);
    }
  }
  return out;
}

}  // namespace coroner::symbols

namespace coroner::symbols {

std::string c_spelling(std::string_view n) {
  static const std::pair<std::string_view, std::string_view> kNames[] = {
      {"long unsigned int", "unsigned long"},      {"long int", "long"},
      {"short unsigned int", "unsigned short"},    {"short int", "short"},
      {"long long unsigned int", "unsigned long long"}, {"long long int", "long long"},
  };
  for (auto& [from, to] : kNames)
    if (n == from) return std::string(to);
  return std::string(n);
}

std::string escape_char(uint8_t c, char quote) {
  switch (c) {
    case '\n': return "\\n";
    case '\t': return "\\t";
    case '\r': return "\\r";
    case '\a': return "\\a";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\v': return "\\v";
    case 033: return "\\033";
    case '\\': return "\\\\";
    default: break;
  }
  if (c == static_cast<uint8_t>(quote)) return std::string("\\") + quote;
  if (c >= 0x20 && c < 0x7f) return std::string(1, static_cast<char>(c));
  return fmt::format("\\{:03o}", c);
}

// The name of a type with no declarator: "struct list_head", "u64", "unsigned long".
std::string BtfTypes::base_name(uint32_t id) {
  const struct btf_type* bt = btf__type_by_id(btf_, id);
  if (!bt) return "void";
  const char* n = name_at(btf_, bt->name_off);
  std::string name = n ? n : "";
  switch (btf_kind(bt)) {
    case BTF_KIND_STRUCT: return name.empty() ? "struct {...}" : "struct " + name;
    case BTF_KIND_UNION: return name.empty() ? "union {...}" : "union " + name;
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64: {
      if (!name.empty()) return "enum " + name;
      // gdb lists an anonymous enum's names inline, with "= value" where it breaks the count.
      std::string list;
      int64_t expect = 0;
      for (int i = 0; i < btf_vlen(bt); ++i) {
        bool e32 = btf_is_enum(bt);
        const char* en = name_at(btf_, e32 ? btf_enum(bt)[i].name_off : btf_enum64(bt)[i].name_off);
        int64_t v = e32 ? btf_enum(bt)[i].val : static_cast<int64_t>(btf_enum64_value(&btf_enum64(bt)[i]));
        list += fmt::format("{}{}", i ? ", " : "", en);
        if (v != expect) list += fmt::format(" = {}", v);
        expect = v + 1;
      }
      return "enum {" + list + "}";
    }
    case BTF_KIND_FWD: return (btf_kflag(bt) ? "union " : "struct ") + name;
    case BTF_KIND_INT:
    case BTF_KIND_FLOAT: return c_spelling(name);
    default: return name;
  }
}

// Builds a C declarator inside-out: pointers prefix "*", arrays and function parameter lists
// suffix, parenthesised where a pointer meets an array or function (gdb's layout).
std::string BtfTypes::declarator(uint32_t id, std::string inner, int depth, bool flexible) {
  if (depth > 64) return "? " + inner;
  const struct btf_type* bt = id ? btf__type_by_id(btf_, id) : nullptr;
  if (!bt) return inner.empty() ? "void" : "void " + inner;
  auto join = [](const std::string& base, const std::string& in) {
    if (in.empty()) return base;
    if (in[0] == '*' || in[0] == '(' || in[0] == '[') return base + " " + in;
    return base + " " + in;
  };
  switch (btf_kind(bt)) {
    case BTF_KIND_PTR: return declarator(bt->type, "*" + inner, depth + 1);
    case BTF_KIND_CONST:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_RESTRICT: {
      const char* q = btf_kind(bt) == BTF_KIND_CONST ? "const" : btf_kind(bt) == BTF_KIND_VOLATILE ? "volatile" : "restrict";
      const struct btf_type* target = btf__type_by_id(btf_, bt->type);
      // A qualifier on a pointer follows the star ("char * const p"); on anything else it
      // precedes the type ("const struct sched_class *").
      if (target && btf_kind(target) == BTF_KIND_PTR) return declarator(bt->type, std::string(" ") + q + (inner.empty() ? "" : " " + inner), depth + 1);
      std::string rest = declarator(bt->type, inner, depth + 1);
      return std::string(q) + " " + rest;
    }
    case BTF_KIND_ARRAY: {
      const struct btf_array* a = btf_array(bt);
      std::string in = (!inner.empty() && inner[0] == '*') ? "(" + inner + ")" : inner;
      // BTF records both "x[0]" and a flexible "x[]" as 0 elements; DWARF tells them apart,
      // and gdb prints what the source said. A flexible array can only be a struct's last
      // member, so anywhere else it was "[0]"; for a last member "[]" is the likelier.
      std::string n = a->nelems ? std::to_string(a->nelems) : (flexible ? "" : "0");
      return declarator(a->type, in + "[" + n + "]", depth + 1);
    }
    case BTF_KIND_FUNC_PROTO: {
      std::string params;
      const struct btf_param* p = btf_params(bt);
      int n = btf_vlen(bt);
      for (int i = 0; i < n; ++i) {
        if (i) params += ", ";
        if (p[i].type == 0) params += "...";
        else params += declarator(p[i].type, "", depth + 1);
      }
      if (n == 0) params = "void";
      std::string in = (!inner.empty() && inner[0] == '*') ? "(" + inner + ")" : inner;
      return declarator(bt->type, in + "(" + params + ")", depth + 1);
    }
    default: return join(base_name(id), inner);
  }
}

std::string BtfTypes::declare(TypeRef t, std::string_view name) {
  std::string d = declarator(t.id, std::string(name), 0);
  // "struct x *" for a nameless pointer declarator reads better without the trailing space.
  return d;
}

// Member lines, gdb's ptype layout. `mode`: 0 plain ("    "), 1 with offsets ("  [16] "),
// 2 inside a named member's anonymous type under -o (blank offset column: gdb shows no
// inner offsets there). `show` is gdb's expansion depth for named anonymous member types.
void BtfTypes::print_members(std::string& out, uint32_t id, uint64_t base_bits, int depth, int mode, int width,
                             const std::vector<std::string>* only, int show) {
  const struct btf_type* bt = btf__type_by_id(btf_, id);
  const struct btf_member* m = btf_members(bt);
  std::string pad(static_cast<size_t>(4 * (depth - 1)), ' ');
  std::string blank = mode ? std::string(static_cast<size_t>(width) + 1, ' ') : "    ";
  if (btf_vlen(bt) == 0) {
    out += blank + pad + "<no data fields>\n";
    return;
  }
  for (int i = 0; i < btf_vlen(bt); ++i) {
    const char* mn = name_at(btf_, m[i].name_off);
    std::string name = mn ? mn : "";
    if (only && std::find(only->begin(), only->end(), name) == only->end()) continue;
    uint64_t bits = base_bits + btf_member_bit_offset(bt, i);
    uint32_t bitsize = btf_member_bitfield_size(bt, i);
    std::string lead = mode == 1 ? fmt::format("{:>{}} ", fmt::format("[{}]", bits / 8), width) : blank;
    uint32_t tid = m[i].type;
    const struct btf_type* mt = btf__type_by_id(btf_, tid);
    bool anon_composite = mt && btf_is_composite(mt) && mt->name_off == 0;
    if (name.empty() && anon_composite) {
      // An anonymous struct/union member: its members belong to the parent, printed inline.
      out += blank + pad + (btf_is_union(mt) ? "union {\n" : "struct {\n");
      print_members(out, tid, bits, depth + 1, mode, width, nullptr, show);
      out += blank + pad + "};\n";
      continue;
    }
    if (anon_composite) {
      const char* kw = btf_is_union(mt) ? "union" : "struct";
      if (show <= 0) {
        out += lead + pad + fmt::format("{} {{...}} {};\n", kw, name);
        continue;
      }
      out += blank + pad + kw + " {\n";
      print_members(out, tid, bits, depth + 1, mode ? 2 : 0, width, nullptr, show - 1);
      out += lead + pad + "} " + name + ";\n";
      continue;
    }
    bool last_of_struct = !btf_is_union(bt) && i + 1 == btf_vlen(bt);
    std::string decl = declarator(tid, name, 0, last_of_struct);
    if (bitsize) decl += fmt::format(" : {}", bitsize);
    out += lead + pad + decl + ";\n";
  }
}

Result<std::string> BtfTypes::definition(TypeRef t, bool offsets, const std::vector<std::string>& only) {
  const struct btf_type* bt = btf__type_by_id(btf_, t.id);
  if (!bt) return Error::make(Errc::no_debug_info, "{}: no type {}", source_, t.id);
  std::string out;
  if (btf_is_enum(bt) || btf_is_enum64(bt)) {
    out = base_name(t.id) + " {\n";
    for (int i = 0; i < btf_vlen(bt); ++i) {
      const char* en = name_at(btf_, btf_is_enum(bt) ? btf_enum(bt)[i].name_off : btf_enum64(bt)[i].name_off);
      int64_t v = btf_is_enum(bt) ? btf_enum(bt)[i].val : static_cast<int64_t>(btf_enum64_value(&btf_enum64(bt)[i]));
      out += fmt::format("  {} = {}\n", en, v);
    }
    return out + "};\n";
  }
  if (btf_is_typedef(bt)) {
    // whatis TYPEDEF: the target expanded ("typedef struct {...} atomic_t;"), then its size.
    const char* tn = name_at(btf_, bt->name_off);
    // gdb resolves a chain of typedefs to the first real type (u64 -> __u64 -> unsigned long long).
    uint32_t target_id = bt->type;
    const struct btf_type* target = btf__type_by_id(btf_, target_id);
    for (int hops = 0; target && btf_is_typedef(target) && hops < 32; ++hops)
      target = btf__type_by_id(btf_, target_id = target->type);
    long long size = btf__resolve_size(btf_, t.id);
    std::string body;
    if (target && btf_is_composite(target)) {
      body = (btf_is_union(target) ? std::string("union") : std::string("struct")) +
             (target->name_off ? std::string(" ") + name_at(btf_, target->name_off) : std::string()) + " {\n";
      print_members(body, target_id, 0, 1, 0, 6, nullptr, 1);
      body += fmt::format("}} {}", tn);
    } else {
      body = declarator(target_id, tn ? tn : "", 0);
    }
    return fmt::format("typedef {};\nSIZE: {}\n", body, size < 0 ? 0 : size);
  }
  if (!btf_is_composite(bt)) return declare(t, "") + ";\n";
  // The offset column is as wide as the largest "[offset]" plus two, at least six.
  int width = 6;
  if (offsets || !only.empty()) {
    uint64_t max_off = 0;
    const struct btf_member* m = btf_members(bt);
    for (int i = 0; i < btf_vlen(bt); ++i) max_off = std::max<uint64_t>(max_off, btf_member_bit_offset(bt, i) / 8);
    width = std::max(6, static_cast<int>(fmt::format("[{}]", max_off).size()) + 2);
    (void)m;
  }
  out = base_name(t.id) + " {\n";
  print_members(out, t.id, 0, 1, (offsets || !only.empty()) ? 1 : 0, width, only.empty() ? nullptr : &only, 1);
  out += "}\n";
  if (only.empty()) out += fmt::format("SIZE: {}\n", bt->size);
  return out;
}

}  // namespace coroner::symbols

namespace coroner::symbols {
namespace {

// The "print elements" limit crash gives gdb: strings behind pointers stop at 256
// characters, followed by "...".
constexpr size_t kMaxStringElements = 256;

// A string as gdb prints it, quotes included: under a multibyte locale (crash runs gdb with
// the user's, e.g. C.UTF-8) a valid, printable multibyte character is printed as it is, every
// other byte escaped; under the C locale every byte is escaped. gdb looks at no more than
// `limit` characters: behind a pointer it fetches `limit` bytes (val_print_string), in an
// array it prints `limit` characters (`by_bytes` false). When the bytes end inside a
// multibyte character, those bytes follow the closing quote as `, <incomplete sequence
// \333>` (generic_printstr: wchar_iterate_incomplete). "..." when more characters follow.
std::string quoted_string(std::span<const uint8_t> bytes, size_t limit, bool by_bytes) {
  std::string out;
  const bool multibyte = MB_CUR_MAX > 1;
  const size_t window = by_bytes ? std::min(bytes.size(), limit) : bytes.size();
  std::string incomplete;
  size_t i = 0, chars = 0;
  // Where the text of the last character that converted cleanly starts (npos: the last
  // byte was invalid). gdb converts one character per iconv call, and glibc reports the
  // incomplete tail before the full output buffer, so gdb loses the character converted
  // just before the tail: "...\257\325k\310" prints as `"...\257\325", <incomplete
  // sequence \310>` (seen in crash 9 on 6.12's freed init text).
  size_t last_valid = std::string::npos;
  while (i < window && chars < limit) {
    ++chars;
    if (multibyte && bytes[i] >= 0x80) {
      std::mbstate_t st{};
      wchar_t wc = 0;
      size_t len = std::mbrtowc(&wc, reinterpret_cast<const char*>(bytes.data() + i), window - i, &st);
      if (len == static_cast<size_t>(-2)) {
        if (last_valid != std::string::npos) out.resize(last_valid);
        for (; i < window; ++i) incomplete += fmt::format("\\{:03o}", bytes[i]);
        break;
      }
      if (len != static_cast<size_t>(-1) && len > 1 && std::iswprint(static_cast<wint_t>(wc))) {
        last_valid = out.size();
        out.append(reinterpret_cast<const char*>(bytes.data() + i), len);
        i += len;
        continue;
      }
      last_valid = std::string::npos;
    } else {
      last_valid = out.size();
    }
    out += escape_char(bytes[i], '"');
    ++i;
  }
  std::string text;
  if (!out.empty() || incomplete.empty()) text = "\"" + out + "\"";
  if (!incomplete.empty()) text += (text.empty() ? "" : ", ") + std::string("<incomplete sequence ") + incomplete + ">";
  if (by_bytes ? bytes.size() > limit : i < bytes.size()) text += "...";
  return text;
}

void append_string(std::string& out, const std::string& str) {
  out += " " + quoted_string({reinterpret_cast<const uint8_t*>(str.data()), str.size()}, kMaxStringElements, true);
}

uint64_t load_bits(std::span<const uint8_t> b, uint64_t bit_off, uint32_t bits) {
  uint64_t v = 0;
  uint64_t first = bit_off / 8;
  uint64_t nbytes = (bit_off % 8 + bits + 7) / 8;
  for (uint64_t i = 0; i < nbytes && i < 9 && first + i < b.size(); ++i) {
    if (i < 8) v |= static_cast<uint64_t>(b[first + i]) << (8 * i);
  }
  v >>= bit_off % 8;
  if (bits < 64) v &= (1ull << bits) - 1;
  return v;
}

}  // namespace

void BtfTypes::value(std::string& out, uint32_t id, std::span<const uint8_t> b, uint64_t bit_off, uint32_t bit_size,
                     ValueContext& ctx, int indent, int depth, uint64_t base_addr) {
  const struct btf_type* bt = btf__type_by_id(btf_, id);
  if (!bt || depth > 32) {
    out += "<unknown>";
    return;
  }
  std::string pad(static_cast<size_t>(2 * indent), ' ');
  switch (btf_kind(bt)) {
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_CONST:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_TYPE_TAG:
      value(out, bt->type, b, bit_off, bit_size, ctx, indent, depth + 1, base_addr);
      return;
    case BTF_KIND_INT: {
      uint32_t enc = btf_int_encoding(bt);
      uint32_t bits = bit_size ? bit_size : btf_int_bits(bt);
      uint64_t raw = load_bits(b, bit_off, bits);
      bool is_signed = enc & BTF_INT_SIGNED;
      int64_t sv = static_cast<int64_t>(raw);
      if (is_signed && bits < 64 && (raw >> (bits - 1)) & 1) sv = static_cast<int64_t>(raw | (~0ull << bits));
      if ((enc & BTF_INT_BOOL) && ctx.radix() == 16) {
        out += fmt::format("{:#x}", raw);
      } else if (enc & BTF_INT_BOOL) {
        out += raw ? "true" : "false";
      } else if ((enc & BTF_INT_CHAR) || btf_int_bits(bt) == 8) {
        // char, signed char, unsigned char (u8/__u8/s8): number and character, like gdb;
        // a bit-field of a char type too (`skc_reuse:4` prints `1 '\001'`), sign-extended
        // from its width.
        int64_t n = is_signed ? sv : static_cast<int64_t>(raw);
        if (ctx.radix() == 16)
          out += fmt::format("{:#x}", raw);  // gdb's /x drops the character
        else
          out += fmt::format("{} '{}'", n, escape_char(static_cast<uint8_t>(n), '\''));
      } else if (ctx.radix() == 16) {
        out += fmt::format("{:#x}", raw);  // gdb's /x: the bits, unsigned
      } else if (is_signed) {
        out += std::to_string(sv);
      } else {
        out += std::to_string(raw);
      }
      return;
    }
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64: {
      uint64_t raw = load_bits(b, bit_off, bit_size ? bit_size : bt->size * 8);
      for (int i = 0; i < btf_vlen(bt); ++i) {
        bool e32 = btf_is_enum(bt);
        uint64_t v = e32 ? static_cast<uint32_t>(btf_enum(bt)[i].val) : btf_enum64_value(&btf_enum64(bt)[i]);
        if (v == raw) {
          out += name_at(btf_, e32 ? btf_enum(bt)[i].name_off : btf_enum64(bt)[i].name_off);
          return;
        }
      }
      out += std::to_string(raw);
      return;
    }
    case BTF_KIND_PTR: {
      uint64_t p = load_bits(b, bit_off, 64);
      if (!p) {
        out += "0x0";
        return;
      }
      out += fmt::format("{:#x}", p);
      const struct btf_type* target = btf__type_by_id(btf_, bt->type);
      while (target && (btf_is_mod(target) || btf_is_typedef(target))) target = btf__type_by_id(btf_, target->type);
      // gdb names the symbol any pointer points into, void * included, by its own rule
      // (ValueContext::symbolize: `vm_private_data = 0x... <vdso_mapping>`, while a pointer to
      // an unsized data label such as init_stack stays bare). A char pointer also gets the
      // string it points to, after the symbol when there is one
      // (`0xffffffffc0427129 <.LC14+187> "virtio_blk"`).
      if (auto sym = ctx.symbolize(p)) out += " <" + *sym + ">";
      if (target && btf_is_int(target) && btf_int_bits(target) == 8) {
        if (auto str = ctx.read_string(p, kMaxStringElements + 1)) append_string(out, *str);
      }
      return;
    }
    case BTF_KIND_ARRAY: {
      const struct btf_array* a = btf_array(bt);
      const struct btf_type* elem = btf__type_by_id(btf_, a->type);
      uint32_t eid = a->type;
      while (elem && (btf_is_mod(elem) || btf_is_typedef(elem))) elem = btf__type_by_id(btf_, eid = elem->type);
      long long esz = btf__resolve_size(btf_, a->type);
      if (a->nelems == 0) {
        // A zero-length or flexible array prints as its address, like a pointer, and a char
        // one also as the string there.
        uint64_t addr = base_addr + bit_off / 8;
        out += fmt::format("{:#x}", addr);
        if (auto sym = ctx.symbolize(addr)) out += " <" + *sym + ">";
        if (elem && btf_is_int(elem) && btf_int_bits(elem) == 8) {
          // gdb's val_print_string: an unreadable string is an error, not "" (a filtered
          // dump without the page: `<error: Cannot access memory at address 0x...>`).
          auto str = ctx.read_string(addr, kMaxStringElements + 1);
          if (str) append_string(out, *str);
          else out += fmt::format(" <error: Cannot access memory at address {:#x}>", addr);
        }
        return;
      }
      if (esz <= 0) {
        out += "{}";
        return;
      }
      // The "print elements" limit crash gives gdb: 256, then "...".
      constexpr uint32_t kMaxElements = 256;
      if (elem && btf_is_int(elem) && btf_int_bits(elem) == 8 && a->nelems) {
        // char arrays print as one string, every NUL spelled out (crash turns repeats off).
        // gdb prints a char array as a string, every NUL spelled out (crash turns repeat
        // compression off) except one terminating NUL at the very end.
        uint32_t n = a->nelems;
        uint64_t last = bit_off / 8 + n - 1;
        if (last < b.size() && b[last] == 0) --n;
        std::vector<uint8_t> chars(n, 0);
        for (uint32_t i = 0; i < n; ++i) {
          uint64_t byte = bit_off / 8 + i;
          if (byte < b.size()) chars[i] = b[byte];
        }
        out += quoted_string(chars, kMaxElements, false);
        return;
      }
      bool composite = elem && (btf_is_composite(elem) || btf_is_array(elem));
      out += "{";
      for (uint32_t i = 0; i < std::min(a->nelems, kMaxElements); ++i) {
        if (i) out += ", ";
        // Structures inside an array are laid out one level deeper than the array.
        value(out, a->type, b, bit_off + static_cast<uint64_t>(i) * esz * 8, 0, ctx, composite ? indent + 1 : indent,
              depth + 1, base_addr);
      }
      out += a->nelems > kMaxElements ? "...}" : "}";
      return;
    }
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION: {
      if (btf_vlen(bt) == 0) {
        out += "{<No data fields>}";
        return;
      }
      out += "{\n";
      const struct btf_member* m = btf_members(bt);
      std::string inner(static_cast<size_t>(2 * (indent + 1)), ' ');
      for (int i = 0; i < btf_vlen(bt); ++i) {
        const char* mn = name_at(btf_, m[i].name_off);
        out += inner;
        if (mn && *mn) out += std::string(mn) + " = ";
        value(out, m[i].type, b, bit_off + btf_member_bit_offset(bt, i), btf_member_bitfield_size(bt, i), ctx, indent + 1,
              depth + 1, base_addr);
        out += i + 1 < btf_vlen(bt) ? ",\n" : "\n";
      }
      out += pad + "}";
      return;
    }
    default:
      out += "<unknown>";
      return;
  }
}

Result<std::string> BtfTypes::format_value(TypeRef t, std::span<const uint8_t> bytes, ValueContext& ctx, int indent,
                                           uint64_t address) {
  long long size = btf__resolve_size(btf_, t.id);
  if (size < 0 || static_cast<uint64_t>(size) > bytes.size())
    return Error::make(Errc::usage, "{}: {} bytes given for a {}-byte {}", source_, bytes.size(), size, name(t));
  std::string out;
  value(out, t.id, bytes, 0, 0, ctx, indent, 0, address);
  return out;
}

}  // namespace coroner::symbols

namespace coroner::symbols {

void BtfTypes::build_derived() {
  if (derived_built_) return;
  derived_built_ = true;
  uint32_t n = btf__type_cnt(btf_);
  for (uint32_t id = 1; id < n; ++id) {
    const struct btf_type* bt = btf__type_by_id(btf_, id);
    if (btf_is_ptr(bt)) pointers_.emplace(bt->type, id);
    else if (btf_is_array(bt)) arrays_.emplace((uint64_t{btf_array(bt)->type} << 32) | btf_array(bt)->nelems, id);
  }
}

std::optional<TypeRef> BtfTypes::pointer_to(TypeRef t) {
  build_derived();
  auto it = pointers_.find(t.id);
  if (it == pointers_.end()) return std::nullopt;
  return TypeRef{it->second};
}

std::optional<TypeRef> BtfTypes::array_of(TypeRef t, uint64_t n) {
  build_derived();
  if (n > UINT32_MAX) return std::nullopt;
  auto it = arrays_.find((uint64_t{t.id} << 32) | n);
  if (it == arrays_.end()) return std::nullopt;
  return TypeRef{it->second};
}

std::optional<TypeRef> BtfTypes::base_type(std::string_view name) {
  auto [b, e] = by_name_.equal_range(name);
  for (auto it = b; it != e; ++it) {
    const struct btf_type* bt = btf__type_by_id(btf_, it->second);
    if (btf_is_int(bt) || btf_is_float(bt)) return TypeRef{it->second};
  }
  return std::nullopt;
}

}  // namespace coroner::symbols
