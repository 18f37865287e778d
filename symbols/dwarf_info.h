// DWARF facts BTF does not carry, above all the types of global variables, through the
// cached DwarfIndex. Opened lazily: nothing here runs at start-up.
//
//   DwarfInfo dwarf(vm);
//   std::string decl = TRY(dwarf.declare_variable("jiffies"));  // "volatile unsigned long jiffies"
#pragma once

#include <elfutils/libdw.h>

#include <memory>
#include <string>

#include "symbols/dwarf_index.h"
#include "symbols/types.h"
#include "symbols/vmlinux.h"

namespace coroner::symbols {

// The same answers for a DIE of any DWARF (a module object file's): gdb's declaration of a
// variable or function DIE, and a variable DIE's type found in BTF.
std::string declaration_of(Dwarf_Die* variable_or_function, std::string_view name);
Result<TypeRef> btf_type_of(Dwarf_Die* variable, std::string_view name, Types& types);

class DwarfInfo {
 public:
  explicit DwarfInfo(const Vmlinux& vm) : vm_(vm) {}
  ~DwarfInfo();
  DwarfInfo(const DwarfInfo&) = delete;
  DwarfInfo& operator=(const DwarfInfo&) = delete;

  Result<DwarfIndex*> index();
  // The C declaration of a global variable, as gdb's whatis prints it (without ';').
  Result<std::string> declare_variable(std::string_view name);
  // A global variable's type, found in `types` (BTF) by following the DWARF type: named
  // types by name, pointers and arrays through the BTF types derived from them. Fails
  // clearly when BTF has no such type (an anonymous struct, a pointer type never used).
  Result<TypeRef> variable_type(std::string_view name, Types& types);
  // A function's prototype as gdb's whatis prints it: "void schedule(void)".
  Result<std::string> declare_function(std::string_view name);
  // gdb's name for the type of a global variable or function around a declarator, qualifiers
  // kept: `inner` "*" names &NAME's type ("volatile unsigned long *", "const char (*)[]",
  // "void (*)(int)"), "" the type itself ("void (int)" for a function).
  Result<std::string> declare_type(std::string_view name, bool function, std::string_view inner);

 private:
  Result<Dwarf*> dwarf();
  const Vmlinux& vm_;
  std::unique_ptr<DwarfIndex> index_;
  Dwarf* dwarf_ = nullptr;
  int fd_ = -1;
};

}  // namespace coroner::symbols
