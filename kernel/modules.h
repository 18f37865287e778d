// Loaded kernel modules: the `modules` list, each module's memory and its symbols from its own
// kallsyms in the dump, and one address-to-symbol lookup covering the vmlinux and modules.
//
//   const ModuleTable* mods = TRY(modules(k));            // read once per Kernel, then cached
//   for (const Module& m : mods->modules()) fmt::print("{} {:x} {}\n", m.name, m.base, m.size);
//   if (auto s = symbol_at(k, addr)) fmt::print("{}+{} [{}]\n", s->name, s->offset, s->module);
//
// Layouts (chosen by what the type layer says exists, never by version number):
//   - 6.4+ ("module: replace module_layout with module_memory"):
//     `struct module_memory mem[MOD_MEM_NUM_TYPES]`, one region per `enum mod_mem_type`;
//   - 4.5-6.3 ("module: use a structure to encapsulate layout"): `core_layout`, `init_layout`;
//   - older: `module_core`/`core_size`, `module_init`/`init_size`.
// Symbols come as crash 9 reads them: the exported symbols (`syms`, `gpl_syms`) first, then
// the module's kallsyms copy (`core_kallsyms` where struct module has it, else `symtab`/`strtab`), whose ELF
// `st_info` gives the type letter (local function 't', global function 'T', anything else '?').
//
// Caching: `modules(k)` reads the table on first use and keeps it in the Kernel's own
// extension slot (Kernel::extension), so it lives and dies with that Kernel. A failed read is
// not cached: the next call tries again.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "symbols/module_debuginfo.h"

namespace coroner::kernel {

class Kernel;

// One memory region of a module.
struct ModuleRegion {
  // crash's label: "" for the core and "INIT" for init memory (before 6.4); the
  // `enum mod_mem_type` name without "MOD_" ("TEXT", "DATA", "RODATA", ...) from 6.4.
  std::string label;
  uint64_t base = 0;
  uint64_t size = 0;
  // Where crash puts the "MODULE ... END" line: base + size before 6.4, base + size - 1 after.
  uint64_t end_marker = 0;
  // A symbol exactly at base + size still belongs to the region (crash's check before 6.4).
  bool end_inclusive = false;
  bool holds(uint64_t addr) const { return addr >= base && (addr < base + size || (end_inclusive && addr == base + size)); }
};

struct ModuleSymbol {
  std::string name;
  uint64_t value = 0;
  char type = '?';  // 't', 'T' or '?' as crash shows module symbols
};

struct Module {
  uint64_t address = 0;  // the struct module
  std::string name;
  uint64_t base = 0;  // core base (before 6.4) or mem[MOD_TEXT].base
  uint64_t size = 0;  // core size (before 6.4) or the sum of every mem[] region
  std::vector<ModuleRegion> regions;                  // non-empty regions, in crash's order
  std::vector<std::pair<uint64_t, uint64_t>> text;    // [start, end) ranges of module text
  std::vector<ModuleSymbol> symbols;                  // by address; ties keep crash's order
  bool has_kallsyms = false;                          // symbols came from the module's kallsyms
  std::string symbols_error;                          // why symbols could not be read, or ""
  // Set by load_module_object (`mod -s/-S`): the object file as named, and the file itself.
  // While it is loaded, `symbols` is crash's merge of the kallsyms list with the file's
  // symbols; `kallsyms_symbols` keeps the list from the dump alone for `mod -d`.
  std::string object_file;
  std::shared_ptr<symbols::ModuleObject> object;
  std::vector<ModuleSymbol> kallsyms_symbols;

  bool contains(uint64_t addr) const;
  bool in_text(uint64_t addr) const;
  // The region a symbol at `addr` is listed under (`sym -m`), or nullptr.
  const ModuleRegion* region_of(uint64_t addr) const;
};

class ModuleTable {
 public:
  // Walks the kernel's `modules` list. Fails only when the list itself cannot be walked; a
  // module whose symbols are unreadable is kept with `symbols_error` set.
  static Result<ModuleTable> load(Kernel& k);

  const std::vector<Module>& modules() const { return modules_; }  // by base address
  // True on 6.4+ kernels (module_memory regions; crash's `mod` header says TEXT_BASE).
  bool memory_regions() const { return memory_regions_; }
  const Module* find(std::string_view name) const;
  const Module* containing(uint64_t addr) const;
  Module* find(std::string_view name);

 private:
  std::vector<Module> modules_;
  bool memory_regions_ = false;
};

// The module table of `k`, read on first use and kept with the Kernel (see the header comment).
Result<const ModuleTable*> modules(Kernel& k);

// --- Module object files (crash's `mod -s`, `mod -S`, `mod -d`, `mod -D`). ---

// Where the kernel put each section of module `m` (its `sect_attrs`, as
// /sys/module/NAME/sections shows them). Layouts: `struct module_sect_attr` with `battr`
// (5.8+) or `mattr` + `name` (before), and `address` (before 6.14) or `battr.private`.
Result<std::vector<symbols::PlacedSection>> module_sections(Kernel& k, const Module& m);

// Loads `path` as module `name`'s object file: checks it is that module of this kernel
// (.modinfo name, vermagic release, and the build ID against the note in the dump's module
// memory where both have one), places its sections where the dump has them, and merges its
// symbols as crash does. A module already loaded is left as it is. Fails naming the file.
Result<const Module*> load_module_object(Kernel& k, std::string_view name, const std::string& path);
// Forgets module `name`'s object file (nothing happens when none is loaded).
Result<void> unload_module_object(Kernel& k, std::string_view name);
void unload_all_module_objects(Kernel& k);

// For `sym`, `dis -l`, `bt -l`: the source file and line of a module address, from the
// module's object file when `mod -s/-S` loaded one with DWARF; nullopt otherwise.
std::optional<symbols::SourceLocation> module_source_line(Kernel& k, uint64_t addr);

// For `whatis` and `p` of a module's function or variable once its object file is loaded:
// gdb's declaration from the module's DWARF ("irqreturn_t vring_interrupt(int, void *)"), and
// a variable's address (from the module's symbols) with its type found in BTF. not_found
// when no loaded module defines `name`.
Result<std::string> module_declaration(Kernel& k, std::string_view name);
struct ModuleVariable {
  uint64_t address = 0;
  symbols::TypeRef type;
  std::string_view module;
  // The module's own types (split over the vmlinux's) when the variable's type is one only
  // the module defines; nullptr when `type` is the vmlinux's.
  symbols::Types* types = nullptr;
};
Result<ModuleVariable> module_variable(Kernel& k, std::string_view name);
// A symbol of a loaded module object file by name (gdb knows a module's symbols only once
// `mod -s/-S` gave it the file); nullopt otherwise.
struct LoadedModuleSymbol {
  uint64_t address = 0;
  char type = '?';
  std::string_view module;
};
std::optional<LoadedModuleSymbol> loaded_module_symbol(Kernel& k, std::string_view name);
// A type that only loaded module object files define (`struct virtio_blk` once virtio_blk.ko
// is loaded): the types of the first module (by address) whose .BTF, split over the
// vmlinux's, has it. Those types answer for every vmlinux type too. not_found otherwise.
struct ModuleType {
  symbols::Types* types = nullptr;
  symbols::TypeRef type;
  std::string_view module;
};
Result<ModuleType> module_type(Kernel& k, std::string_view name);

// crash's merge: the kallsyms list takes each symbol's type from the object file's symbol
// of the same name and address; the file's section symbols whose names do not start with
// '.' and that share their address with a named symbol are added; the list is then sorted by
// address and name. Exposed for tests.
std::vector<ModuleSymbol> merge_object_symbols(const std::vector<ModuleSymbol>& kallsyms,
                                               const std::vector<ModuleRegion>& regions,
                                               const std::vector<symbols::ModuleObjectSymbol>& object);

// A symbol for an address, in the vmlinux (inside [_text, _end)) or in a module.
struct SymbolAt {
  std::string name;
  uint64_t offset = 0;          // addr - symbol address
  uint64_t symbol_address = 0;
  char type = '?';
  std::string_view module;      // empty for the vmlinux
  // crash's name for the last byte of a 6.4+ module region: "(NAME module)", offset from the
  // region's base, printed without " [NAME]".
  bool region_end = false;
};
// For `rd -s`, `dis`, `bt`: the symbol containing or preceding `addr`; nullopt when `addr` is
// in neither the kernel image nor a module (or the module list cannot be read). In a module,
// as crash 9 answers: the first symbol at exactly `addr`, else the last one before it in the
// same region, else the region's start ("_MODULE_START_NAME", "_MODULE_DATA_START_NAME", type 'm').
std::optional<SymbolAt> symbol_at(Kernel& k, uint64_t addr);

// --- The parts below work on plain bytes, so tests can feed them synthesized memory. ---

// Module memory copied out of the dump: one byte image per region.
struct MemoryImage {
  struct Piece {
    uint64_t base;
    std::vector<uint8_t> bytes;
  };
  std::vector<Piece> pieces;
  // `len` bytes at `addr`, or an empty span when they are not all inside one piece.
  std::span<const uint8_t> at(uint64_t addr, uint64_t len) const;
  // The NUL-terminated string at `addr` (bounded by its piece), or nullopt.
  std::optional<std::string_view> cstring(uint64_t addr) const;
};

struct ExportedSymbol {
  std::string name;
  uint64_t value;
};

struct KallsymsTable {
  uint64_t symtab = 0;      // address of Elf64_Sym[num]
  uint64_t num = 0;
  uint64_t strtab = 0;
  // crash cuts ".part.N" from kallsyms names of 6.4+ (module_memory) modules only: on 6.1 it
  // lists virtio_ring's vring_unmap_extra_packed.part.0, on 6.12 pvpanic's
  // pvpanic_send_event.part.0 as pvpanic_send_event.
  bool cut_part_suffix = true;
};

// crash's module symbol list: exported symbols in the module's regions (type '?'), then
// each kallsyms entry in a region with a name (the same name and value as an exported one
// just gives that one its type), names cut at ".isra.", ".llvm." (and ".part." as the table
// says); sorted by address,
// ties in that order. Fails naming the module and address when symtab/strtab lie outside
// the module's memory.
Result<std::vector<ModuleSymbol>> build_module_symbols(std::string_view module_name,
                                                       const std::vector<ModuleRegion>& regions,
                                                       const MemoryImage& image,
                                                       const std::vector<ExportedSymbol>& exported,
                                                       const KallsymsTable& kallsyms);

// crash's type letter for a module ELF symbol's st_info.
char module_symbol_type(uint8_t st_info);

}  // namespace coroner::kernel
