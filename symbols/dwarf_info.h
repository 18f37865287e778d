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
  // The same for the function `name` whose code starts the ELF symbol at link-time address
  // `link_addr`, from its definition (the subprogram with code there), as gdb reads it: gdb
  // makes a function symbol only from a subprogram with code, so a declaration alone (an
  // assembly entry point a header declares, entry_SYSCALL_64 on 6.12) is not_found, and gdb
  // calls it a minimal symbol (`<text variable, no debug info>`). `inner` as declare_type;
  // declare_function_at puts the name there ("void schedule(void)").
  Result<std::string> function_type_at(uint64_t link_addr, std::string_view name, std::string_view inner);
  Result<std::string> declare_function_at(uint64_t link_addr, std::string_view name) {
    return function_type_at(link_addr, name, name);
  }

  // The function gdb finds at a link-time address (find_pc_function): the subprogram with code
  // there, named as its declaration or abstract origin names it (a clone such as
  // NF_HOOK.constprop.0 is "NF_HOOK"), with gdb's entry address for it (BLOCK_ENTRY_PC: the
  // start of a contiguous function, else the start of its first range, so foo.cold's code is
  // foo's). nullopt without DWARF or without a function there.
  struct FunctionAt {
    std::string name;
    uint64_t entry;
  };
  std::optional<FunctionAt> function_at(uint64_t link_addr);

  // The vmlinux's libdw handle, opened on first use and shared by every reader of its DWARF
  // (one copy of the aranges, abbreviations and CU list); fails clearly without DWARF.
  Result<Dwarf*> dwarf();

 private:
  Result<Dwarf_Die> function_definition(uint64_t link_addr, std::string_view name);
  const Vmlinux& vm_;
  std::unique_ptr<DwarfIndex> index_;
  Dwarf* dwarf_ = nullptr;
  int fd_ = -1;
};

}  // namespace coroner::symbols
