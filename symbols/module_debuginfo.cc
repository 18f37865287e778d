#include "symbols/module_debuginfo.h"

#include "symbols/dwarf_info.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace coroner::symbols {
namespace {

constexpr size_t kMaxSymbols = 1u << 20;  // symbol table entries read at most (a bound on a damaged file)

// libdwfl's message for its last error. It can be NULL (an error passed on from libdw with
// code 0 reads as dwarf_errmsg(0), "no error"), and fmt throws on a null char pointer.
const char* dwfl_error() {
  const char* m = dwfl_errmsg(-1);
  return m ? m : "unknown libdwfl error";
}

std::string_view section_name(Elf* elf, size_t shstrndx, const GElf_Shdr& sh) {
  const char* n = elf_strptr(elf, shstrndx, sh.sh_name);
  return n ? std::string_view(n) : std::string_view();
}

}  // namespace

char nm_type(uint8_t st_info, uint32_t sh_type, uint64_t sh_flags, std::string_view name) {
  char c;
  if (sh_flags & SHF_EXECINSTR) {
    c = 't';
  } else if (sh_type == SHT_NOBITS) {
    c = 'b';
  } else if (sh_flags & SHF_WRITE) {
    c = 'd';
  } else if (sh_flags & SHF_ALLOC) {
    c = 'r';
  } else {
    c = name.starts_with(".debug") ? 'N' : 'n';
    return c;
  }
  int bind = GELF_ST_BIND(st_info);
  if (bind == STB_WEAK) return GELF_ST_TYPE(st_info) == STT_OBJECT ? 'V' : 'W';
  if (bind == STB_GLOBAL || bind == STB_GNU_UNIQUE) c = static_cast<char>(std::toupper(c));
  return c;
}

Result<std::unique_ptr<ModuleObject>> ModuleObject::open(const std::string& path) {
  std::unique_ptr<ModuleObject> ko(new ModuleObject);
  ko->path_ = path;
  ko->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ko->fd_ < 0) return Error::make(Errc::os, "{}: {}", path, strerror(errno));
  elf_version(EV_CURRENT);
  ko->elf_ = elf_begin(ko->fd_, ELF_C_READ_MMAP, nullptr);
  if (!ko->elf_ || elf_kind(ko->elf_) != ELF_K_ELF)
    return Error::make(Errc::bad_data, "{}: not an ELF format object file", path);
  GElf_Ehdr eh;
  if (!gelf_getehdr(ko->elf_, &eh)) return Error::make(Errc::bad_data, "{}: not an ELF format object file", path);
  if (eh.e_type != ET_REL)
    return Error::make(Errc::bad_data, "{}: not a kernel module (ELF type {}, a module is relocatable)", path,
                       eh.e_type);
  if (eh.e_machine != EM_X86_64 || eh.e_ident[EI_CLASS] != ELFCLASS64)
    return Error::make(Errc::unsupported, "{}: not an x86-64 module (ELF machine {})", path, eh.e_machine);
  size_t shstrndx;
  if (elf_getshdrstrndx(ko->elf_, &shstrndx) != 0)
    return Error::make(Errc::bad_data, "{}: no section name table", path);
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(ko->elf_, scn));) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    std::string_view name = section_name(ko->elf_, shstrndx, sh);
    if (name == ".debug_info") ko->has_dwarf_ = sh.sh_type != SHT_NOBITS && sh.sh_size > 0;
    if (sh.sh_type == SHT_NOBITS) continue;
    Elf_Data* d = elf_getdata(scn, nullptr);
    if (!d || !d->d_buf) continue;
    const char* p = static_cast<const char*>(d->d_buf);
    if (name == ".modinfo") {
      // NUL-separated "key=value" strings.
      for (size_t i = 0; i < d->d_size;) {
        size_t len = strnlen(p + i, d->d_size - i);
        std::string_view entry(p + i, len);
        if (auto eq = entry.find('='); eq != std::string_view::npos)
          ko->modinfo_.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
        i += len + 1;
      }
    } else if (sh.sh_type == SHT_NOTE && name == ".note.gnu.build-id") {
      GElf_Nhdr nh;
      size_t name_off, desc_off;
      if (gelf_getnote(d, 0, &nh, &name_off, &desc_off) > 0 && nh.n_type == NT_GNU_BUILD_ID)
        ko->build_id_.assign(p + desc_off, p + desc_off + nh.n_descsz);
    }
  }
  return ko;
}

ModuleObject::~ModuleObject() {
  if (dwfl_) dwfl_end(dwfl_);
  if (elf_) elf_end(elf_);
  if (fd_ >= 0) close(fd_);
}

std::string ModuleObject::modinfo(std::string_view key) const {
  for (const auto& [k, v] : modinfo_)
    if (k == key) return v;
  return "";
}

void ModuleObject::place(const std::vector<PlacedSection>& sections) {
  placed_.clear();
  for (const auto& s : sections) placed_[s.name] = s.address;
  if (dwfl_) dwfl_end(dwfl_);
  dwfl_ = nullptr;
  dwfl_module_ = nullptr;
  dwfl_tried_ = false;
}

std::vector<uint8_t> ModuleObject::section_bytes(std::string_view section) const {
  size_t shstrndx;
  if (!elf_ || elf_getshdrstrndx(elf_, &shstrndx) != 0) return {};
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf_, scn));) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS) continue;
    const char* n = elf_strptr(elf_, shstrndx, sh.sh_name);
    if (!n || section != n) continue;
    Elf_Data* d = elf_getdata(scn, nullptr);
    if (!d || !d->d_buf) return {};
    const auto* b = static_cast<const uint8_t*>(d->d_buf);
    return std::vector<uint8_t>(b, b + d->d_size);
  }
  return {};
}

std::optional<uint64_t> ModuleObject::section_address(std::string_view section) const {
  auto it = placed_.find(section);
  if (it == placed_.end()) return std::nullopt;
  return it->second;
}

std::vector<ModuleObjectSymbol> ModuleObject::symbols() const {
  std::vector<ModuleObjectSymbol> out;
  size_t shstrndx;
  if (elf_getshdrstrndx(elf_, &shstrndx) != 0) return out;
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf_, scn));) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || sh.sh_entsize == 0) continue;
    Elf_Data* d = elf_getdata(scn, nullptr);
    if (!d) continue;
    size_t n = std::min<size_t>(sh.sh_size / sh.sh_entsize, kMaxSymbols);
    for (size_t i = 1; i < n; i++) {
      GElf_Sym sym;
      if (!gelf_getsym(d, static_cast<int>(i), &sym)) break;
      if (sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE) continue;
      Elf_Scn* target = elf_getscn(elf_, sym.st_shndx);
      GElf_Shdr tsh;
      if (!target || !gelf_getshdr(target, &tsh)) continue;
      std::string_view sec = section_name(elf_, shstrndx, tsh);
      auto base = section_address(sec);
      if (!base) continue;
      bool is_section = GELF_ST_TYPE(sym.st_info) == STT_SECTION;
      const char* name = is_section ? sec.data() : elf_strptr(elf_, sh.sh_link, sym.st_name);
      if (!name || !*name || GELF_ST_TYPE(sym.st_info) == STT_FILE) continue;
      out.push_back({name, *base + sym.st_value, nm_type(sym.st_info, tsh.sh_type, tsh.sh_flags, sec), is_section});
    }
  }
  return out;
}

Result<Dwfl_Module*> ModuleObject::dwfl_module() {
  if (dwfl_module_) return dwfl_module_;
  if (dwfl_tried_) return Error::make(Errc::no_debug_info, "{}: no usable DWARF", path_);
  dwfl_tried_ = true;
  static char* debuginfo_path = nullptr;
  static const Dwfl_Callbacks callbacks = {find_elf, dwfl_standard_find_debuginfo, section_address_cb,
                                           &debuginfo_path};
  dwfl_ = dwfl_begin(&callbacks);
  if (!dwfl_) return Error::make(Errc::no_debug_info, "{}: {}", path_, dwfl_error());
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const auto& [name, addr] : placed_) lo = std::min(lo, addr), hi = std::max(hi, addr + 1);
  if (lo >= hi) return Error::make(Errc::no_debug_info, "{}: no section is placed", path_);
  dwfl_report_begin(dwfl_);
  Dwfl_Module* mod = dwfl_report_module(dwfl_, path_.c_str(), lo, hi);
  if (mod) {
    void** ud = nullptr;
    dwfl_module_info(mod, &ud, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    *ud = this;
  }
  dwfl_report_end(dwfl_, nullptr, nullptr);
  if (!mod) return Error::make(Errc::no_debug_info, "{}: {}", path_, dwfl_error());
  dwfl_module_ = mod;
  return mod;
}

int ModuleObject::find_elf(Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, char** file_name, Elf**) {
  auto* self = static_cast<ModuleObject*>(*userdata);
  *file_name = strdup(self->path_.c_str());
  return dup(self->fd_);
}

int ModuleObject::section_address_cb(Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, const char* secname,
                                     GElf_Word, const GElf_Shdr*, Dwarf_Addr* addr) {
  auto* self = static_cast<ModuleObject*>(*userdata);
  auto it = self->placed_.find(std::string_view(secname));
  *addr = it == self->placed_.end() ? ~uint64_t{0} : it->second;  // -1: not loaded
  return 0;
}

std::optional<SourceLocation> ModuleObject::source_line(uint64_t addr) {
  if (!has_dwarf_) return std::nullopt;
  auto mod = dwfl_module();
  if (!mod) return std::nullopt;
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(*mod, addr, &bias);
  if (!cu) return std::nullopt;
  return line_in_unit(cu, addr - bias);
}

Result<Dwarf_Die> ModuleObject::global_die(std::string_view name) {
  if (!has_dwarf_) return Error::make(Errc::no_debug_info, "{}: no DWARF debug info", path_);
  Dwfl_Module* mod = TRY(dwfl_module());
  Dwarf_Addr bias = 0;
  Dwarf* dw = dwfl_module_getdwarf(mod, &bias);
  if (!dw) return Error::make(Errc::no_debug_info, "{}: cannot read DWARF: {}", path_, dwfl_error());
  std::optional<Dwarf_Die> declaration;
  constexpr size_t kMaxUnits = 1u << 16;  // bounds the walk of a damaged file
  Dwarf_Off off = 0, next;
  size_t header;
  for (size_t units = 0; units < kMaxUnits && dwarf_nextcu(dw, off, &next, &header, nullptr, nullptr, nullptr) == 0;
       units++, off = next) {
    Dwarf_Die cu, die;
    if (!dwarf_offdie(dw, off + header, &cu) || dwarf_child(&cu, &die) != 0) continue;
    do {
      int tag = dwarf_tag(&die);
      if (tag != DW_TAG_subprogram && tag != DW_TAG_variable) continue;
      const char* n = dwarf_diename(&die);
      if (!n || name != n) continue;
      if (dwarf_hasattr(&die, DW_AT_declaration)) {
        if (!declaration) declaration = die;
        continue;
      }
      return die;
    } while (dwarf_siblingof(&die, &die) == 0);
  }
  if (declaration) return *declaration;
  return Error::make(Errc::not_found, "no function or variable {} in {}'s DWARF", name, path_);
}

Result<std::string> ModuleObject::declare(std::string_view name) {
  Dwarf_Die die = TRY(global_die(name));
  return declaration_of(&die, name);
}

Result<TypeRef> ModuleObject::variable_type(std::string_view name, Types& types) {
  Dwarf_Die die = TRY(global_die(name));
  if (dwarf_tag(&die) != DW_TAG_variable) return Error::make(Errc::not_found, "{}: a function, not a variable", name);
  return btf_type_of(&die, name, types);
}

Result<void> check_module_object(const ModuleObject& ko, std::string_view module_name, std::string_view release) {
  auto canonical = [](std::string_view s) {
    std::string r(s);
    for (char& c : r)
      if (c == '-') c = '_';
    return r;
  };
  std::string name = ko.modinfo("name");
  if (name.empty()) {
    // Modules before 5.x carry no "name=": the file's own name is all there is.
    std::string_view base = ko.path();
    if (auto slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
    name = std::string(base.substr(0, base.find('.')));
  }
  if (canonical(name) != canonical(module_name))
    return Error::make(Errc::mismatch, "{}: the object file of module {}, not {}", ko.path(), name, module_name);
  std::string vermagic = ko.modinfo("vermagic");
  std::string_view built_for = std::string_view(vermagic).substr(0, vermagic.find(' '));
  if (!release.empty() && !built_for.empty() && built_for != release)
    return Error::make(Errc::mismatch, "{}: built for kernel {}, the dump is {}", ko.path(), built_for, release);
  return ok();
}

}  // namespace coroner::symbols
