#include "symbols/dwarf_info.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "symbols/types.h"

namespace coroner::symbols {
namespace {

// gdb's declarator for a DWARF type, built inside-out like the BTF one.
std::string declarator(Dwarf_Die* type, std::string inner, int depth) {
  if (!type || depth > 64) return inner.empty() ? "void" : "void " + inner;
  Dwarf_Die next;
  Dwarf_Attribute attr;
  bool has_next = dwarf_attr_integrate(type, DW_AT_type, &attr) && dwarf_formref_die(&attr, &next);
  const char* name = dwarf_diename(type);
  auto with = [&](std::string base) { return inner.empty() ? base : base + " " + inner; };
  switch (dwarf_tag(type)) {
    case DW_TAG_pointer_type: return declarator(has_next ? &next : nullptr, "*" + inner, depth + 1);
    case DW_TAG_const_type:
    case DW_TAG_volatile_type: {
      const char* q = dwarf_tag(type) == DW_TAG_const_type ? "const" : "volatile";
      if (has_next && dwarf_tag(&next) == DW_TAG_pointer_type)
        return declarator(&next, std::string(" ") + q + (inner.empty() ? "" : " " + inner), depth + 1);
      // A qualified array is an array of qualified elements; gdb shows the qualifier once.
      if (has_next && dwarf_tag(&next) == DW_TAG_array_type) {
        Dwarf_Die elem;
        Dwarf_Attribute ea;
        if (dwarf_attr_integrate(&next, DW_AT_type, &ea) && dwarf_formref_die(&ea, &elem) && dwarf_tag(&elem) == dwarf_tag(type))
          return declarator(&next, inner, depth + 1);
      }
      return std::string(q) + " " + declarator(has_next ? &next : nullptr, inner, depth + 1);
    }
    case DW_TAG_array_type: {
      std::string dims;
      Dwarf_Die sub;
      if (dwarf_child(type, &sub) == 0) {
        do {
          if (dwarf_tag(&sub) != DW_TAG_subrange_type) continue;
          Dwarf_Word n = 0;
          Dwarf_Attribute a;
          if (dwarf_attr(&sub, DW_AT_count, &a) && dwarf_formudata(&a, &n) == 0) {
            dims += "[" + std::to_string(n) + "]";
          } else if (dwarf_attr(&sub, DW_AT_upper_bound, &a) && dwarf_formudata(&a, &n) == 0) {
            dims += "[" + std::to_string(n + 1) + "]";
          } else {
            dims += "[]";
          }
        } while (dwarf_siblingof(&sub, &sub) == 0);
      }
      std::string in = (!inner.empty() && inner[0] == '*') ? "(" + inner + ")" : inner;
      return declarator(has_next ? &next : nullptr, in + dims, depth + 1);
    }
    case DW_TAG_subprogram:
    case DW_TAG_subroutine_type: {
      std::string params;
      Dwarf_Die p;
      bool any = false;
      if (dwarf_child(type, &p) == 0) {
        do {
          if (dwarf_tag(&p) == DW_TAG_formal_parameter) {
            Dwarf_Die pt;
            Dwarf_Attribute a;
            // A concrete out-of-line instance keeps the types on its abstract origin.
            bool ok = dwarf_attr_integrate(&p, DW_AT_type, &a) && dwarf_formref_die(&a, &pt);
            params += (any ? ", " : "") + declarator(ok ? &pt : nullptr, "", depth + 1);
            any = true;
          } else if (dwarf_tag(&p) == DW_TAG_unspecified_parameters) {
            params += any ? ", ..." : "...";
            any = true;
          }
        } while (dwarf_siblingof(&p, &p) == 0);
      }
      if (!any) params = "void";
      std::string in = (!inner.empty() && inner[0] == '*') ? "(" + inner + ")" : inner;
      return declarator(has_next ? &next : nullptr, in + "(" + params + ")", depth + 1);
    }
    case DW_TAG_structure_type: return with(name ? std::string("struct ") + name : "struct {...}");
    case DW_TAG_union_type: return with(name ? std::string("union ") + name : "union {...}");
    case DW_TAG_enumeration_type: return with(name ? std::string("enum ") + name : "enum {...}");
    case DW_TAG_base_type: return with(c_spelling(name ? name : "?"));
    // gas describes an assembly function's return type so (binutils 2.35+); gdb says void.
    case DW_TAG_unspecified_type: return with(name ? name : "void");
    default: return with(name ? name : "?");
  }
}

}  // namespace

DwarfInfo::~DwarfInfo() {
  if (dwarf_) dwarf_end(dwarf_);
  if (fd_ >= 0) close(fd_);
}

Result<DwarfIndex*> DwarfInfo::index() {
  if (!index_) index_ = TRY(DwarfIndex::open(vm_, DwarfIndex::default_cache_dir()));
  return index_.get();
}

Result<Dwarf*> DwarfInfo::dwarf() {
  if (dwarf_) return dwarf_;
  if (!vm_.has_dwarf())
    return Error::make(Errc::no_debug_info,
                       "{}: no DWARF debug info (.debug_info): this needs the debug vmlinux; sym, rd, vtop, ptov, "
                       "dis, struct, union, bt, ps and log work without it",
                       vm_.path());
  fd_ = ::open(vm_.path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return Error::make(Errc::os, "{}: {}", vm_.path(), std::strerror(errno));
  dwarf_ = dwarf_begin(fd_, DWARF_C_READ);
  if (!dwarf_) return Error::make(Errc::bad_data, "{}: cannot read DWARF: {}", vm_.path(), dwarf_errmsg(-1));
  return dwarf_;
}

Result<std::string> DwarfInfo::declare_variable(std::string_view name) {
  DwarfIndex* idx = TRY(index());
  auto off = idx->variable(name);
  if (!off) return Error::make(Errc::not_found, "no variable {} in {}'s DWARF", name, vm_.path());
  Dwarf* dw = TRY(dwarf());
  Dwarf_Die var, type;
  if (!dwarf_offdie(dw, *off, &var)) return Error::make(Errc::bad_data, "{}: no DIE at .debug_info offset {:#x}", vm_.path(), *off);
  Dwarf_Attribute attr;
  bool typed = dwarf_attr_integrate(&var, DW_AT_type, &attr) && dwarf_formref_die(&attr, &type);
  return declarator(typed ? &type : nullptr, std::string(name), 0);
}

}  // namespace coroner::symbols

namespace coroner::symbols {

Result<std::string> DwarfInfo::declare_function(std::string_view name) {
  DwarfIndex* idx = TRY(index());
  auto off = idx->function(name);
  if (!off) return Error::make(Errc::not_found, "no function {} in {}'s DWARF", name, vm_.path());
  Dwarf* dw = TRY(dwarf());
  Dwarf_Die fn;
  if (!dwarf_offdie(dw, *off, &fn)) return Error::make(Errc::bad_data, "{}: no DIE at .debug_info offset {:#x}", vm_.path(), *off);
  // The subprogram DIE itself is the "function type": its DW_AT_type is the return type and
  // its formal parameters the parameter list.
  return declarator(&fn, std::string(name), 0);
}

Result<std::string> DwarfInfo::declare_type(std::string_view name, bool function, std::string_view inner) {
  DwarfIndex* idx = TRY(index());
  auto off = function ? idx->function(name) : idx->variable(name);
  if (!off) return Error::make(Errc::not_found, "no {} {} in {}'s DWARF", function ? "function" : "variable", name, vm_.path());
  Dwarf* dw = TRY(dwarf());
  Dwarf_Die die, type;
  if (!dwarf_offdie(dw, *off, &die)) return Error::make(Errc::bad_data, "{}: no DIE at .debug_info offset {:#x}", vm_.path(), *off);
  if (function) return declarator(&die, std::string(inner), 0);
  Dwarf_Attribute attr;
  bool typed = dwarf_attr_integrate(&die, DW_AT_type, &attr) && dwarf_formref_die(&attr, &type);
  return declarator(typed ? &type : nullptr, std::string(inner), 0);
}

}  // namespace coroner::symbols

namespace coroner::symbols {
namespace {

Result<TypeRef> map_type(Dwarf_Die* die, Types& types, std::string_view var, int depth) {
  if (depth > 32) return Error::make(Errc::unsupported, "{}: type too deeply nested", var);
  Dwarf_Die next;
  Dwarf_Attribute attr;
  bool has_next = dwarf_attr_integrate(die, DW_AT_type, &attr) && dwarf_formref_die(&attr, &next);
  const char* name = dwarf_diename(die);
  auto by_name = [&](std::string kw) -> Result<TypeRef> {
    if (!name) return Error::make(Errc::unsupported, "{}: its anonymous type is not in BTF", var);
    return types.find(kw.empty() ? std::string(name) : kw + " " + name);
  };
  switch (dwarf_tag(die)) {
    case DW_TAG_const_type:
    case DW_TAG_volatile_type:
      // Qualifiers do not change how a value prints.
      if (!has_next) return Error::make(Errc::unsupported, "{}: qualified void", var);
      return map_type(&next, types, var, depth + 1);
    case DW_TAG_base_type: {
      if (!name) return Error::make(Errc::unsupported, "{}: unnamed base type", var);
      if (auto t = types.base_type(name)) return *t;
      return Error::make(Errc::no_debug_info, "{}: base type {} not in BTF", var, name);
    }
    case DW_TAG_structure_type: return by_name("struct");
    case DW_TAG_union_type: return by_name("union");
    case DW_TAG_enumeration_type: return by_name("enum");
    case DW_TAG_typedef: return by_name("");
    case DW_TAG_pointer_type: {
      if (!has_next) {
        // void *: BTF's pointer to type 0.
        if (auto p = types.pointer_to(TypeRef{0})) return *p;
        return Error::make(Errc::no_debug_info, "{}: no void * in BTF", var);
      }
      TypeRef target = TRY(map_type(&next, types, var, depth + 1));
      if (auto p = types.pointer_to(target)) return *p;
      return Error::make(Errc::no_debug_info, "{}: BTF has no pointer to {}", var, types.name(target));
    }
    case DW_TAG_array_type: {
      if (!has_next) return Error::make(Errc::unsupported, "{}: array of void", var);
      TypeRef elem = TRY(map_type(&next, types, var, depth + 1));
      Dwarf_Die sub;
      uint64_t n = 0;
      if (dwarf_child(die, &sub) == 0) {
        Dwarf_Word w = 0;
        Dwarf_Attribute a;
        if (dwarf_attr(&sub, DW_AT_count, &a) && dwarf_formudata(&a, &w) == 0) n = w;
        else if (dwarf_attr(&sub, DW_AT_upper_bound, &a) && dwarf_formudata(&a, &w) == 0) n = w + 1;
      }
      if (auto arr = types.array_of(elem, n)) return *arr;
      return Error::make(Errc::no_debug_info, "{}: BTF has no array of {} {}", var, n, types.name(elem));
    }
    default: return Error::make(Errc::unsupported, "{}: DWARF tag {:#x} is not printable yet", var, dwarf_tag(die));
  }
}

}  // namespace

Result<TypeRef> DwarfInfo::variable_type(std::string_view name, Types& types) {
  DwarfIndex* idx = TRY(index());
  auto off = idx->variable(name);
  if (!off) return Error::make(Errc::not_found, "no variable {} in {}'s DWARF", name, vm_.path());
  Dwarf* dw = TRY(dwarf());
  Dwarf_Die var, type;
  if (!dwarf_offdie(dw, *off, &var)) return Error::make(Errc::bad_data, "{}: no DIE at .debug_info offset {:#x}", vm_.path(), *off);
  Dwarf_Attribute attr;
  if (!(dwarf_attr_integrate(&var, DW_AT_type, &attr) && dwarf_formref_die(&attr, &type)))
    return Error::make(Errc::no_debug_info, "{}: no type in DWARF", name);
  return map_type(&type, types, name, 0);
}

}  // namespace coroner::symbols

namespace coroner::symbols {

std::string declaration_of(Dwarf_Die* die, std::string_view name) {
  if (dwarf_tag(die) == DW_TAG_subprogram) return declarator(die, std::string(name), 0);
  Dwarf_Die type;
  Dwarf_Attribute attr;
  bool typed = dwarf_attr_integrate(die, DW_AT_type, &attr) && dwarf_formref_die(&attr, &type);
  return declarator(typed ? &type : nullptr, std::string(name), 0);
}

Result<TypeRef> btf_type_of(Dwarf_Die* var, std::string_view name, Types& types) {
  Dwarf_Die type;
  Dwarf_Attribute attr;
  if (!(dwarf_attr_integrate(var, DW_AT_type, &attr) && dwarf_formref_die(&attr, &type)))
    return Error::make(Errc::no_debug_info, "{}: no type in DWARF", name);
  return map_type(&type, types, name, 0);
}

Result<Dwarf_Die> DwarfInfo::function_definition(uint64_t link_addr, std::string_view name) {
  Dwarf* dw = TRY(dwarf());
  Dwarf_Die cu, die;
  auto none = [&] { return Error::make(Errc::not_found, "no function {} with code at {:#x} in {}'s DWARF", name, link_addr, vm_.path()); };
  if (!dwarf_addrdie(dw, link_addr, &cu) || dwarf_child(&cu, &die) != 0) return none();
  // C has no nested functions: the CU's direct subprogram children are all its functions. The
  // name may live on the declaration a definition completes (dwarf_diename follows it).
  do {
    if (dwarf_tag(&die) != DW_TAG_subprogram || dwarf_haspc(&die, link_addr) <= 0) continue;
    const char* n = dwarf_diename(&die);
    if (n && name == n) return die;
  } while (dwarf_siblingof(&die, &die) == 0);
  return none();
}

std::optional<DwarfInfo::FunctionAt> DwarfInfo::function_at(uint64_t link_addr) {
  auto dw = dwarf();
  if (!dw) return std::nullopt;
  Dwarf_Die cu, die;
  if (!dwarf_addrdie(*dw, link_addr, &cu) || dwarf_child(&cu, &die) != 0) return std::nullopt;
  do {
    if (dwarf_tag(&die) != DW_TAG_subprogram || dwarf_haspc(&die, link_addr) <= 0) continue;
    const char* n = dwarf_diename(&die);
    if (!n) return std::nullopt;
    Dwarf_Addr low = 0, high = 0, base = 0;
    if (dwarf_lowpc(&die, &low) != 0) {
      // No DW_AT_low_pc: a function in parts (DW_AT_ranges); gdb enters it at the first.
      if (dwarf_ranges(&die, 0, &base, &low, &high) <= 0) return std::nullopt;
    }
    return FunctionAt{n, low};
  } while (dwarf_siblingof(&die, &die) == 0);
  return std::nullopt;
}

Result<std::string> DwarfInfo::function_type_at(uint64_t link_addr, std::string_view name, std::string_view inner) {
  Dwarf_Die fn = TRY(function_definition(link_addr, name));
  return declarator(&fn, std::string(inner), 0);
}

}  // namespace coroner::symbols
