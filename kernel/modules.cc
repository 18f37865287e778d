#include "kernel/modules.h"

#include <elf.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "kernel/kernel.h"
#include "kernel/walkers.h"
#include "symbols/btf_types.h"

namespace coroner::kernel {
namespace {

// Bounds on what the dump may claim, checked before allocating.
constexpr size_t kMaxModules = 1u << 16;
constexpr uint64_t kMaxRegionBytes = 256ull << 20;
constexpr uint64_t kMaxSymbols = 1u << 20;
constexpr size_t kMaxNameLen = 512;

// A struct read once from the dump; members by name through the type layer.
class StructBytes {
 public:
  StructBytes(symbols::Types& types, symbols::TypeRef type, uint64_t addr, std::vector<uint8_t> bytes)
      : types_(types), type_(type), addr_(addr), bytes_(std::move(bytes)) {}

  bool has(std::string_view path) { return types_.member(type_, path).ok(); }

  Result<uint64_t> uint(std::string_view path) {
    auto m = TRY(types_.member(type_, path));
    uint64_t size = TRY(types_.size_of(types_.resolve(m.type)));
    uint64_t off = m.offset();
    if (size == 0 || size > 8 || off + size > bytes_.size())
      return Error::make(Errc::bad_data, "struct module at {:#x}: member {} of {} bytes at offset {}", addr_, path,
                         size, off);
    uint64_t v = 0;
    std::memcpy(&v, bytes_.data() + off, size);  // little-endian hosts and targets (x86_64)
    return v;
  }

  // A char array member as a string (up to its first NUL).
  Result<std::string> chars(std::string_view path) {
    auto m = TRY(types_.member(type_, path));
    auto arr = types_.array(types_.resolve(m.type));
    if (!arr) return Error::make(Errc::no_debug_info, "{} is not an array", path);
    uint64_t off = m.offset(), len = arr->second;
    if (off + len > bytes_.size()) return Error::make(Errc::bad_data, "{} beyond struct module", path);
    const char* p = reinterpret_cast<const char*>(bytes_.data() + off);
    return std::string(p, strnlen(p, len));
  }

 private:
  symbols::Types& types_;
  symbols::TypeRef type_;
  uint64_t addr_;
  std::vector<uint8_t> bytes_;
};

// Copies a region out of the dump, page by page: pages the dump left out (zero pages
// filtered by makedumpfile) read as zeros, as crash reads them. Fails when no page is readable.
Result<MemoryImage::Piece> read_region(Kernel& k, const std::string& module, const ModuleRegion& r) {
  if (r.size > kMaxRegionBytes)
    return Error::make(Errc::out_of_bounds, "module {}: region at {:#x} claims {} bytes", module, r.base, r.size);
  MemoryImage::Piece piece{r.base, std::vector<uint8_t>(r.size)};
  constexpr uint64_t kChunk = 4096;  // read granularity only; a failed chunk becomes zeros
  uint64_t readable = 0;
  for (uint64_t done = 0; done < r.size;) {
    uint64_t va = r.base + done;
    uint64_t n = std::min(r.size - done, kChunk - (va % kChunk));
    if (k.read(va, std::span(piece.bytes.data() + done, n))) readable += n;
    done += n;
  }
  if (readable == 0 && r.size > 0)
    return Error::make(Errc::fault, "module {}: cannot read its memory at {:#x}", module, r.base);
  return piece;
}

std::string strip_clone_suffix(std::string_view name, bool cut_part = true) {
  if (cut_part) return std::string(symbols::display_name(name));
  size_t cut = name.size();
  for (std::string_view s : {".isra.", ".llvm."})
    if (size_t p = name.find(s); p != std::string_view::npos && p < cut) cut = p;
  return std::string(name.substr(0, cut));
}

// crash drops the "_R<hex>" / "_Rsmp_<hex>" version clutter of old exported symbol names.
std::string strip_version_clutter(std::string name) {
  size_t r = name.rfind('R');
  if (r == std::string::npos || r == 0 || name[r - 1] != '_') return name;
  std::string_view rest = std::string_view(name).substr(r + 1);
  if (rest.substr(0, 4) == "smp_") rest.remove_prefix(4);
  if (rest.empty() || !std::all_of(rest.begin(), rest.end(), [](char c) { return std::isxdigit(uint8_t(c)); }))
    return name;
  name.resize(r - 1);
  return name;
}

// The exported symbols of one table (`syms` or `gpl_syms`), as crash reads them.
Result<std::vector<ExportedSymbol>> read_exported(Kernel& k, const Module& m, const MemoryImage& image,
                                                  uint64_t table, uint64_t count) {
  std::vector<ExportedSymbol> out;
  if (count == 0) return out;
  if (!m.contains(table)) return out;  // crash: "module.syms outside of module address space"
  auto& types = k.types();
  uint64_t entry = TRY(types.size_of_name("kernel_symbol"));
  if (entry == 0 || count > kMaxSymbols)
    return Error::make(Errc::out_of_bounds, "module {}: {} exported symbols at {:#x}", m.name, count, table);
  bool relative = types.has_member("kernel_symbol", "value_offset");  // 4.19+ PREL32 entries
  uint64_t value_off = TRY(types.offset_of("kernel_symbol", relative ? "value_offset" : "value"));
  uint64_t name_off = TRY(types.offset_of("kernel_symbol", relative ? "name_offset" : "name"));
  auto bytes = image.at(table, entry * count);
  if (bytes.empty())
    return Error::make(Errc::bad_data, "module {}: exported symbol table {:#x} ({} entries) outside its memory",
                       m.name, table, count);
  for (uint64_t i = 0; i < count; i++) {
    const uint8_t* e = bytes.data() + i * entry;
    uint64_t at = table + i * entry;
    uint64_t value, name_addr;
    if (relative) {
      int32_t v, n;
      std::memcpy(&v, e + value_off, 4);
      std::memcpy(&n, e + name_off, 4);
      value = at + value_off + static_cast<int64_t>(v);
      name_addr = at + name_off + static_cast<int64_t>(n);
    } else {
      std::memcpy(&value, e + value_off, 8);
      std::memcpy(&name_addr, e + name_off, 8);
    }
    std::string name;
    if (auto s = image.cstring(name_addr)) {
      name = std::string(s->substr(0, kMaxNameLen));
    } else if (auto r = k.read_cstring(name_addr, kMaxNameLen)) {
      name = *r;
    }
    if (name.empty()) continue;
    out.push_back({strip_clone_suffix(strip_version_clutter(std::move(name))), value});
  }
  return out;
}

// One module from its struct module.
Result<Module> read_module(Kernel& k, uint64_t addr, bool& memory_regions) {
  auto& types = k.types();
  symbols::TypeRef module_type = TRY(types.find("struct module"));
  uint64_t size = TRY(types.size_of(module_type));
  std::vector<uint8_t> bytes(size);
  TRY(k.read(addr, bytes));
  StructBytes mod(types, module_type, addr, std::move(bytes));

  Module m;
  m.address = addr;
  m.name = TRY(mod.chars("name"));
  if (mod.has("mem")) {
    // 6.4+: one region per enum mod_mem_type, in enum order (crash lists them so).
    memory_regions = true;
    static constexpr std::array<std::string_view, 7> kTypes = {
        "MOD_TEXT", "MOD_DATA", "MOD_RODATA", "MOD_RO_AFTER_INIT", "MOD_INIT_TEXT", "MOD_INIT_DATA", "MOD_INIT_RODATA"};
    std::vector<std::pair<int64_t, std::string_view>> kinds;
    for (auto name : kTypes)
      if (auto v = types.enumerator(name)) kinds.push_back({*v, name});
    std::sort(kinds.begin(), kinds.end());
    auto text_index = types.enumerator("MOD_TEXT");
    for (auto [index, name] : kinds) {
      auto base = mod.uint(fmt::format("mem[{}].base", index));
      auto len = mod.uint(fmt::format("mem[{}].size", index));
      if (!base || !len) continue;  // beyond this kernel's MOD_MEM_NUM_TYPES
      if (text_index && index == *text_index) m.base = *base;
      m.size += *len;
      if (*base == 0 || *len == 0) continue;
      std::string label(name.substr(4));
      m.regions.push_back({label, *base, *len, *base + *len - 1, false});
      if (label == "TEXT" || label == "INIT_TEXT") m.text.push_back({*base, *base + *len});
    }
  } else if (mod.has("core_layout")) {
    m.base = TRY(mod.uint("core_layout.base"));
    m.size = TRY(mod.uint("core_layout.size"));
    uint64_t text_size = mod.uint("core_layout.text_size").value_or(m.size);
    uint64_t init = TRY(mod.uint("init_layout.base"));
    uint64_t init_size = TRY(mod.uint("init_layout.size"));
    uint64_t init_text = mod.uint("init_layout.text_size").value_or(init_size);
    if (m.base && m.size) {
      m.regions.push_back({"", m.base, m.size, m.base + m.size, true});
      m.text.push_back({m.base, m.base + text_size});
    }
    if (init && init_size) {
      m.regions.push_back({"INIT", init, init_size, init + init_size, true});
      m.text.push_back({init, init + init_text});
    }
  } else {
    m.base = TRY(mod.uint("module_core"));
    m.size = TRY(mod.uint("core_size"));
    uint64_t text_size = mod.uint("core_text_size").value_or(m.size);
    uint64_t init = mod.uint("module_init").value_or(0);
    uint64_t init_size = mod.uint("init_size").value_or(0);
    if (m.base && m.size) {
      m.regions.push_back({"", m.base, m.size, m.base + m.size, true});
      m.text.push_back({m.base, m.base + text_size});
    }
    if (init && init_size) m.regions.push_back({"INIT", init, init_size, init + init_size, true});
  }

  // Symbols: a failure here keeps the module, with the reason.
  auto symbols = [&]() -> Result<std::vector<ModuleSymbol>> {
    MemoryImage image;
    for (const auto& r : m.regions) image.pieces.push_back(TRY(read_region(k, m.name, r)));
    std::vector<ExportedSymbol> exported;
    for (auto [table, count] : {std::pair<const char*, const char*>{"syms", "num_syms"}, {"gpl_syms", "num_gpl_syms"}}) {
      if (!mod.has(table)) continue;
      auto more = TRY(read_exported(k, m, image, TRY(mod.uint(table)), TRY(mod.uint(count))));
      exported.insert(exported.end(), more.begin(), more.end());
    }
    KallsymsTable ks;
    if (mod.has("core_kallsyms")) {
      ks = {TRY(mod.uint("core_kallsyms.symtab")), TRY(mod.uint("core_kallsyms.num_symtab")),
            TRY(mod.uint("core_kallsyms.strtab"))};
    } else if (mod.has("symtab")) {
      ks = {TRY(mod.uint("symtab")), TRY(mod.uint("num_symtab")), TRY(mod.uint("strtab"))};
    }
    ks.cut_part_suffix = mod.has("mem");
    m.has_kallsyms = ks.symtab != 0 && ks.num != 0;
    return build_module_symbols(m.name, m.regions, image, exported, ks);
  }();
  if (symbols) {
    m.symbols = std::move(*symbols);
  } else {
    m.has_kallsyms = false;
    m.symbols_error = symbols.error().message;
  }
  return m;
}

}  // namespace

std::span<const uint8_t> MemoryImage::at(uint64_t addr, uint64_t len) const {
  for (const auto& p : pieces) {
    if (addr < p.base) continue;
    uint64_t off = addr - p.base;
    if (off > p.bytes.size() || len > p.bytes.size() - off) continue;
    return std::span(p.bytes.data() + off, len);
  }
  return {};
}

std::optional<std::string_view> MemoryImage::cstring(uint64_t addr) const {
  for (const auto& p : pieces) {
    if (addr < p.base || addr - p.base >= p.bytes.size()) continue;
    const char* s = reinterpret_cast<const char*>(p.bytes.data() + (addr - p.base));
    size_t room = p.bytes.size() - (addr - p.base);
    size_t n = strnlen(s, room);
    if (n == room) return std::nullopt;  // no terminator inside the module
    return std::string_view(s, n);
  }
  return std::nullopt;
}

char module_symbol_type(uint8_t st_info) {
  if (st_info >= ' ' && st_info < 0x7f) return static_cast<char>(st_info);  // kernels that stored the letter
  if (st_info == ELF64_ST_INFO(STB_LOCAL, STT_FUNC)) return 't';
  if (st_info == ELF64_ST_INFO(STB_GLOBAL, STT_FUNC)) return 'T';
  return '?';
}

Result<std::vector<ModuleSymbol>> build_module_symbols(std::string_view module_name,
                                                       const std::vector<ModuleRegion>& regions,
                                                       const MemoryImage& image,
                                                       const std::vector<ExportedSymbol>& exported,
                                                       const KallsymsTable& ks) {
  auto in_regions = [&](uint64_t v) {
    return std::any_of(regions.begin(), regions.end(), [&](const ModuleRegion& r) { return r.holds(v); });
  };
  std::vector<ModuleSymbol> out;
  for (const auto& e : exported)
    if (in_regions(e.value)) out.push_back({e.name, e.value, '?'});
  size_t exported_count = out.size();

  if (ks.symtab != 0 && ks.num != 0) {
    if (ks.num > kMaxSymbols)
      return Error::make(Errc::out_of_bounds, "module {}: kallsyms claims {} symbols (symtab {:#x})", module_name,
                         ks.num, ks.symtab);
    auto table = image.at(ks.symtab, ks.num * sizeof(Elf64_Sym));
    if (table.empty())
      return Error::make(Errc::bad_data, "module {}: kallsyms symtab {:#x} ({} entries) outside the module's memory",
                         module_name, ks.symtab, ks.num);
    if (image.at(ks.strtab, 1).empty())
      return Error::make(Errc::bad_data, "module {}: kallsyms strtab {:#x} outside the module's memory", module_name,
                         ks.strtab);
    for (uint64_t i = 1; i < ks.num; i++) {  // entry 0 is ELF's null symbol
      Elf64_Sym sym;
      std::memcpy(&sym, table.data() + i * sizeof(Elf64_Sym), sizeof sym);
      if (!in_regions(sym.st_value) || sym.st_shndx == SHN_UNDEF) continue;
      auto name = image.cstring(ks.strtab + sym.st_name);
      if (!name || name->empty()) continue;
      std::string stripped = strip_clone_suffix(name->substr(0, kMaxNameLen), ks.cut_part_suffix);
      char type = module_symbol_type(sym.st_info);
      auto same = std::find_if(out.begin(), out.begin() + exported_count, [&](const ModuleSymbol& s) {
        return s.value == sym.st_value && s.name == stripped;
      });
      if (same != out.begin() + exported_count) {
        if (same->type == '?') same->type = type;
        continue;
      }
      out.push_back({std::move(stripped), sym.st_value, type});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const ModuleSymbol& a, const ModuleSymbol& b) { return a.value < b.value; });
  return out;
}

bool Module::contains(uint64_t addr) const {
  return std::any_of(regions.begin(), regions.end(),
                     [&](const ModuleRegion& r) { return addr >= r.base && addr - r.base < r.size; });
}

bool Module::in_text(uint64_t addr) const {
  return std::any_of(text.begin(), text.end(), [&](const auto& t) { return addr >= t.first && addr < t.second; });
}

const ModuleRegion* Module::region_of(uint64_t addr) const {
  for (const auto& r : regions)
    if (r.holds(addr)) return &r;
  return nullptr;
}

Result<ModuleTable> ModuleTable::load(Kernel& k) {
  ModuleTable t;
  if (!k.symbols().find("modules")) return t;  // a kernel built without CONFIG_MODULES
  uint64_t head = TRY(k.symbol("modules"));
  uint64_t list_off = TRY(k.offset_of("module", "list"));
  auto nodes = list_walk(k, head, kMaxModules);
  if (!nodes) return nodes.error().context("modules list: ");
  for (uint64_t node : *nodes) {
    auto m = read_module(k, node - list_off, t.memory_regions_);
    if (!m) return m.error().context(fmt::format("module at {:#x}: ", node - list_off));
    t.modules_.push_back(std::move(*m));
  }
  std::stable_sort(t.modules_.begin(), t.modules_.end(), [](const Module& a, const Module& b) { return a.base < b.base; });
  return t;
}

const Module* ModuleTable::find(std::string_view name) const {
  for (const auto& m : modules_)
    if (m.name == name) return &m;
  return nullptr;
}

Module* ModuleTable::find(std::string_view name) {
  for (auto& m : modules_)
    if (m.name == name) return &m;
  return nullptr;
}

const Module* ModuleTable::containing(uint64_t addr) const {
  for (const auto& m : modules_)
    if (m.contains(addr)) return &m;
  return nullptr;
}

namespace {
// The per-Kernel slot (Kernel::extension) holding the table once read.
struct ModuleCache {
  std::unique_ptr<ModuleTable> table;
};
}  // namespace

Result<const ModuleTable*> modules(Kernel& k) {
  auto& cache = k.extension<ModuleCache>();
  if (!cache.table) cache.table = std::make_unique<ModuleTable>(TRY(ModuleTable::load(k)));
  return cache.table.get();
}

std::optional<SymbolAt> symbol_at(Kernel& k, uint64_t addr) {
  const auto& st = k.symbols();
  auto text = st.address_of("_text");
  auto end = st.address_of("_end");
  if (text && end && addr >= *text && addr < *end) {
    auto hit = st.lookup(addr);
    if (!hit) return std::nullopt;
    return SymbolAt{std::string(hit->symbol->name), hit->offset, st.address(*hit->symbol), hit->symbol->type, {}};
  }
  auto table = modules(k);
  if (!table) return std::nullopt;
  const Module* m = (*table)->containing(addr);
  if (!m) return std::nullopt;
  const ModuleRegion* region = nullptr;
  for (const auto& r : m->regions)
    if (addr >= r.base && addr - r.base < r.size) region = &r;
  if (!region) return std::nullopt;
  if (!region->end_inclusive && addr == region->end_marker)
    return SymbolAt{fmt::format("({} module)", m->name), addr - region->base, region->base, '?', m->name, true};
  const ModuleSymbol* best = nullptr;
  for (const auto& s : m->symbols) {  // sorted by address
    if (s.value > addr) break;
    if (m->region_of(s.value) != region) continue;
    if (s.value == addr) return SymbolAt{s.name, 0, s.value, s.type, m->name};
    best = &s;
  }
  if (best) return SymbolAt{best->name, addr - best->value, best->value, best->type, m->name};
  std::string start = region->label.empty() ? fmt::format("_MODULE_START_{}", m->name)
                                            : fmt::format("_MODULE_{}_START_{}", region->label, m->name);
  return SymbolAt{std::move(start), addr - region->base, region->base, 'm', m->name};
}

}  // namespace coroner::kernel

// --- Module object files ---

namespace coroner::kernel {
namespace {

constexpr uint64_t kMaxSections = 4096;

Result<ModuleTable*> mutable_modules(Kernel& k) {
  TRY(modules(k));
  return k.extension<ModuleCache>().table.get();
}

// The build ID note the kernel keeps in the module's memory (its .note.gnu.build-id section).
std::optional<std::vector<uint8_t>> dump_build_id(Kernel& k, uint64_t note, size_t want) {
  constexpr size_t kHeader = 12 + 4;  // Elf64_Nhdr + "GNU\0"
  std::vector<uint8_t> bytes(kHeader + want);
  if (!k.read(note, bytes)) return std::nullopt;
  uint32_t namesz, descsz, type;
  std::memcpy(&namesz, bytes.data(), 4);
  std::memcpy(&descsz, bytes.data() + 4, 4);
  std::memcpy(&type, bytes.data() + 8, 4);
  if (namesz != 4 || type != NT_GNU_BUILD_ID || std::memcmp(bytes.data() + 12, "GNU", 4) != 0) return std::nullopt;
  if (descsz != want) return std::vector<uint8_t>();  // a different length: certainly another build
  return std::vector<uint8_t>(bytes.begin() + kHeader, bytes.end());
}

std::string hex(const std::vector<uint8_t>& b) {
  std::string s;
  for (uint8_t c : b) s += fmt::format("{:02x}", c);
  return s;
}

}  // namespace

Result<std::vector<symbols::PlacedSection>> module_sections(Kernel& k, const Module& m) {
  auto& types = k.types();
  uint64_t attrs = TRY(k.member_uint(m.address, "module", "sect_attrs"));
  if (attrs == 0) return Error::make(Errc::not_found, "module {}: no section attributes (sect_attrs is NULL)", m.name);
  uint64_t n = TRY(k.member_uint(attrs, "module_sect_attrs", "nsections"));
  if (n > kMaxSections)
    return Error::make(Errc::out_of_bounds, "module {}: sect_attrs at {:#x} claims {} sections", m.name, attrs, n);
  uint64_t first = attrs + TRY(k.offset_of("module_sect_attrs", "attrs"));
  uint64_t entry = TRY(types.size_of_name("module_sect_attr"));
  bool battr = types.has_member("module_sect_attr", "battr");  // 5.8+
  std::string name_path = battr ? "battr.attr.name" : "name";
  std::string addr_path = types.has_member("module_sect_attr", "address") ? "address" : "battr.private";
  std::vector<symbols::PlacedSection> out;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t at = first + i * entry;
    uint64_t name_ptr = TRY(k.member_uint(at, "module_sect_attr", name_path));
    uint64_t addr = TRY(k.member_uint(at, "module_sect_attr", addr_path));
    auto name = k.read_cstring(name_ptr, kMaxNameLen);
    if (!name) return name.error().context(fmt::format("module {}: section {} name: ", m.name, i));
    out.push_back({*name, addr});
  }
  return out;
}

std::vector<ModuleSymbol> merge_object_symbols(const std::vector<ModuleSymbol>& kallsyms,
                                               const std::vector<ModuleRegion>& regions,
                                               const std::vector<symbols::ModuleObjectSymbol>& object) {
  std::vector<ModuleSymbol> out = kallsyms;
  std::unordered_map<std::string, std::vector<const symbols::ModuleObjectSymbol*>> by_name;
  for (const auto& o : object)
    if (!o.section_symbol && !o.name.starts_with(".L")) by_name[o.name].push_back(&o);
  for (auto& s : out) {
    auto it = by_name.find(s.name);
    if (it == by_name.end()) continue;
    for (const auto* o : it->second)
      if (o->address == s.value) {
        s.type = o->type;
        break;
      }
  }
  // Section symbols crash shows are those sharing their address with a named symbol of the
  // file (__param, __ksymtab_gpl, __dyndbg; not an unlabelled __bug_table or __mcount_loc).
  std::unordered_set<uint64_t> named;
  for (const auto& o : object)
    if (!o.section_symbol) named.insert(o.address);
  for (const auto& o : object) {
    if (!o.section_symbol || o.name.starts_with(".") || !named.count(o.address)) continue;
    bool inside = std::any_of(regions.begin(), regions.end(), [&](const ModuleRegion& r) { return r.holds(o.address); });
    if (inside) out.push_back({o.name, o.address, o.type});
  }
  // crash sorts the merged list again: by address, then by name.
  std::sort(out.begin(), out.end(), [](const ModuleSymbol& a, const ModuleSymbol& b) {
    return a.value != b.value ? a.value < b.value : a.name < b.name;
  });
  return out;
}

Result<const Module*> load_module_object(Kernel& k, std::string_view name, const std::string& path) {
  ModuleTable* table = TRY(mutable_modules(k));
  Module* m = table->find(name);
  if (!m) return Error::make(Errc::not_found, "{}: no such module", name);
  if (m->object) return m;
  std::shared_ptr<symbols::ModuleObject> ko = TRY(symbols::ModuleObject::open(path));
  TRY(symbols::check_module_object(*ko, m->name, k.vmlinux_release()));
  auto sections = TRY(module_sections(k, *m));
  ko->place(sections);
  if (!ko->build_id().empty())
    if (auto note = ko->section_address(".note.gnu.build-id"))
      if (auto id = dump_build_id(k, *note, ko->build_id().size()); id && *id != ko->build_id())
        return Error::make(Errc::mismatch, "{}: build ID {} differs from module {}'s in the dump ({})", path,
                           hex(ko->build_id()), m->name, id->empty() ? "of another length" : hex(*id));
  m->kallsyms_symbols = m->symbols;
  m->symbols = merge_object_symbols(m->kallsyms_symbols, m->regions, ko->symbols());
  m->object_file = path;
  m->object = std::move(ko);
  return m;
}

Result<void> unload_module_object(Kernel& k, std::string_view name) {
  ModuleTable* table = TRY(mutable_modules(k));
  Module* m = table->find(name);
  if (!m) return Error::make(Errc::not_found, "{}: no such module", name);
  if (!m->object) return ok();
  m->symbols = std::move(m->kallsyms_symbols);
  m->kallsyms_symbols.clear();
  m->object.reset();
  m->object_file.clear();
  return ok();
}

void unload_all_module_objects(Kernel& k) {
  auto table = mutable_modules(k);
  if (!table) return;
  for (const auto& m : (*table)->modules()) (void)unload_module_object(k, m.name);
}

namespace {
// The loaded module object defining symbol `name`, with the symbol.
std::pair<const Module*, const ModuleSymbol*> loaded_symbol(Kernel& k, std::string_view name) {
  auto table = modules(k);
  if (!table) return {};
  for (const auto& m : (*table)->modules()) {
    if (!m.object || !m.object->has_dwarf()) continue;
    for (const auto& s : m.symbols)
      if (s.name == name) return {&m, &s};
  }
  return {};
}
}  // namespace

Result<std::string> module_declaration(Kernel& k, std::string_view name) {
  auto [m, sym] = loaded_symbol(k, name);
  if (!m) return Error::make(Errc::not_found, "no loaded module object defines {}", name);
  return m->object->declare(name);
}

namespace {
// Each loaded object file's .BTF, opened on first use; dropped when the module's object file
// changes (`mod -d`, another `mod -s`).
struct ModuleBtfCache {
  struct Entry {
    std::shared_ptr<symbols::ModuleObject> object;
    std::unique_ptr<symbols::BtfTypes> types;  // null: the file has no usable .BTF
  };
  std::unordered_map<std::string, Entry> by_module;
};

// Module m's types (its object file's .BTF split over the vmlinux's), or nullptr.
symbols::Types* module_btf(Kernel& k, const Module& m) {
  auto& cache = k.extension<ModuleBtfCache>();
  auto it = cache.by_module.find(m.name);
  if (!m.object) {
    if (it != cache.by_module.end()) cache.by_module.erase(it);
    return nullptr;
  }
  auto* base = dynamic_cast<symbols::BtfTypes*>(&k.types());
  if (!base) return nullptr;
  if (it == cache.by_module.end() || it->second.object != m.object) {
    ModuleBtfCache::Entry e{m.object, nullptr};
    if (!m.object->section_bytes(".BTF").empty())
      if (auto t = symbols::BtfTypes::from_split_elf(m.object->path(), *base)) e.types = std::move(*t);
    it = cache.by_module.insert_or_assign(m.name, std::move(e)).first;
  }
  return it->second.types.get();
}
}  // namespace

Result<ModuleVariable> module_variable(Kernel& k, std::string_view name) {
  auto [m, sym] = loaded_symbol(k, name);
  if (!m) return Error::make(Errc::not_found, "no loaded module object defines {}", name);
  auto type = m->object->variable_type(name, k.types());
  if (type) return ModuleVariable{sym->value, *type, m->name, nullptr};
  // A type only the module defines: found in the module's own BTF.
  if (symbols::Types* own = module_btf(k, *m))
    if (auto t = m->object->variable_type(name, *own)) return ModuleVariable{sym->value, *t, m->name, own};
  return type.error();
}

std::optional<LoadedModuleSymbol> loaded_module_symbol(Kernel& k, std::string_view name) {
  auto [m, sym] = loaded_symbol(k, name);
  if (!m) return std::nullopt;
  return LoadedModuleSymbol{sym->value, sym->type, m->name};
}

Result<ModuleType> module_type(Kernel& k, std::string_view name) {
  auto table = modules(k);
  if (!table) return Error::make(Errc::not_found, "no loaded module object defines type {}", name);
  for (const auto& m : (*table)->modules()) {
    symbols::Types* own = module_btf(k, m);
    if (!own) continue;
    if (auto t = own->find(name)) return ModuleType{own, *t, m.name};
  }
  return Error::make(Errc::not_found, "no loaded module object defines type {}", name);
}

std::optional<symbols::SourceLocation> module_source_line(Kernel& k, uint64_t addr) {
  auto table = modules(k);
  if (!table) return std::nullopt;
  const Module* m = (*table)->containing(addr);
  if (!m || !m->object) return std::nullopt;
  return m->object->source_line(addr);
}

}  // namespace coroner::kernel
