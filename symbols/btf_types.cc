#include "symbols/btf_types.h"

#include <bpf/btf.h>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace coroner::symbols {

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
  t->btf_ = btf__new(data.data(), static_cast<uint32_t>(data.size()));
  if (!t->btf_) return Error::make(Errc::bad_data, "{}: invalid BTF data: {}", source, std::strerror(errno));
  uint32_t n = btf__type_cnt(t->btf_);
  t->by_name_.reserve(n / 2);
  for (uint32_t id = 1; id < n; ++id) {
    const struct btf_type* bt = btf__type_by_id(t->btf_, id);
    if (!bt) continue;
    int k = btf_kind(bt);
    if (k == BTF_KIND_ENUM) {
      const struct btf_enum* e = btf_enum(bt);
      for (int i = 0; i < btf_vlen(bt); ++i) t->enumerators_.emplace(btf__name_by_offset(t->btf_, e[i].name_off), e[i].val);
    } else if (k == BTF_KIND_ENUM64) {
      const struct btf_enum64* e = btf_enum64(bt);
      for (int i = 0; i < btf_vlen(bt); ++i)
        t->enumerators_.emplace(btf__name_by_offset(t->btf_, e[i].name_off), static_cast<int64_t>(btf_enum64_value(&e[i])));
    }
    if (!bt->name_off) continue;
    if (k == BTF_KIND_STRUCT || k == BTF_KIND_UNION || k == BTF_KIND_ENUM || k == BTF_KIND_ENUM64 ||
        k == BTF_KIND_TYPEDEF || k == BTF_KIND_INT || k == BTF_KIND_FLOAT)
      t->by_name_.emplace(btf__name_by_offset(t->btf_, bt->name_off), id);
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
  const char* n = btf__name_by_offset(btf_, bt->name_off);
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

bool BtfTypes::find_member(uint32_t type_id, std::string_view name, uint64_t& bit_off, uint32_t& bit_size,
                           uint32_t& member_type, int depth) {
  if (depth > 16) return false;
  int rid = btf__resolve_type(btf_, type_id);
  if (rid < 0) return false;
  const struct btf_type* bt = btf__type_by_id(btf_, rid);
  if (!bt || !btf_is_composite(bt)) return false;
  const struct btf_member* m = btf_members(bt);
  for (int i = 0; i < btf_vlen(bt); ++i) {
    const char* mn = btf__name_by_offset(btf_, m[i].name_off);
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
