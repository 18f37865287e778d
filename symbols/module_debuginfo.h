// A kernel module's object file (NAME.ko, with or without DWARF) placed at the addresses its
// sections have in a dump: its symbols, and source lines from its DWARF. The kernel layer
// gives the section addresses (the module's sect_attrs); this file knows nothing of dumps.
//
//   auto ko = TRY(ModuleObject::open("debug-modules/kernel/drivers/virtio/virtio_ring.ko"));
//   TRY(check_module_object(*ko, "virtio_ring", "6.1.0-56-cloud-amd64"));
//   ko->place({{".text", 0xffffffffc020f000}, {".data", 0xffffffffc0216000}, ...});
//   for (const auto& s : ko->symbols()) fmt::print("{:x} ({}) {}\n", s.address, s.type, s.name);
//   if (auto loc = ko->source_line(0xffffffffc020fd70)) fmt::print("{}: {}\n", loc->file, loc->line);
//
// An ET_REL file's DWARF refers to its sections through relocations; elfutils' libdwfl
// applies them with the section addresses given here (its `section_address` callback, the
// mechanism it uses for /sys/module/NAME/sections of a live kernel).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <elfutils/libdwfl.h>

#include "base/result.h"
#include "symbols/source_lines.h"
#include "symbols/types.h"


namespace coroner::symbols {

// Where the kernel put one section of the module (`/sys/module/NAME/sections/SECTION`).
struct PlacedSection {
  std::string name;
  uint64_t address = 0;
};

struct ModuleObjectSymbol {
  std::string name;
  uint64_t address = 0;
  char type = '?';              // nm's letter: t/T text, d/D data, b/B bss, r/R read-only
  bool section_symbol = false;  // an STT_SECTION symbol, named after its section
};

class ModuleObject {
 public:
  // Fails naming the file: missing or unreadable, not ELF ("not an ELF format object file"),
  // not a relocatable x86-64 object.
  static Result<std::unique_ptr<ModuleObject>> open(const std::string& path);
  ~ModuleObject();
  ModuleObject(const ModuleObject&) = delete;
  ModuleObject& operator=(const ModuleObject&) = delete;

  const std::string& path() const { return path_; }
  // A `.modinfo` entry ("name", "vermagic", "srcversion"), or "" when absent.
  std::string modinfo(std::string_view key) const;
  // The GNU build ID note's bytes, or empty.
  const std::vector<uint8_t>& build_id() const { return build_id_; }
  bool has_dwarf() const { return has_dwarf_; }
  // A section's bytes as the file holds them (unrelocated), e.g. ".BTF"; empty when absent.
  std::vector<uint8_t> section_bytes(std::string_view section) const;

  // Gives the sections their addresses (replacing any earlier placement); sections not named
  // stay unplaced, and their symbols and DWARF are left out.
  void place(const std::vector<PlacedSection>& sections);
  std::optional<uint64_t> section_address(std::string_view section) const;

  // Every defined symbol of a placed section, in symbol-table order.
  std::vector<ModuleObjectSymbol> symbols() const;
  // The source line of a placed address, as gdb reports it; nullopt without DWARF there.
  std::optional<SourceLocation> source_line(uint64_t addr);
  // From the file's DWARF, a top-level function or variable defined in it: gdb's declaration
  // ("irqreturn_t vring_interrupt(int, void *)"), and a variable's type found in BTF.
  Result<std::string> declare(std::string_view name);
  Result<TypeRef> variable_type(std::string_view name, Types& types);

 private:
  ModuleObject() = default;
  Result<Dwfl_Module*> dwfl_module();
  // The defining DIE of a top-level function or variable `name` (a definition is preferred
  // to a declaration); fails naming the file.
  Result<Dwarf_Die> global_die(std::string_view name);
  // libdwfl's callbacks (Dwfl_Callbacks' find_elf and section_address); the module's user
  // data is this object.
  static int find_elf(Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, char** file_name, Elf**);
  static int section_address_cb(Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, const char* secname,
                                GElf_Word, const GElf_Shdr*, Dwarf_Addr* addr);

  std::string path_;
  int fd_ = -1;
  Elf* elf_ = nullptr;
  std::vector<std::pair<std::string, std::string>> modinfo_;
  std::vector<uint8_t> build_id_;
  bool has_dwarf_ = false;
  std::map<std::string, uint64_t, std::less<>> placed_;
  Dwfl* dwfl_ = nullptr;
  Dwfl_Module* dwfl_module_ = nullptr;
  bool dwfl_tried_ = false;
};

// Refuses an object file that is not the named module of this kernel: its `.modinfo` name
// (crash's '-'/'_' equivalence), and the release its vermagic names. Fails naming the file.
Result<void> check_module_object(const ModuleObject& ko, std::string_view module_name, std::string_view release);

// nm's letter for a symbol of an ET_REL file: binding, type and the flags of its section.
char nm_type(uint8_t st_info, uint32_t sh_type, uint64_t sh_flags, std::string_view section_name);

}  // namespace coroner::symbols
