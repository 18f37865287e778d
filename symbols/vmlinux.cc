#include "symbols/vmlinux.h"

#include <cstring>
#include <gelf.h>
#include <libelf.h>

namespace coroner::symbols {
namespace {

// nm's classification of a symbol (binutils' bfd_decode_symclass), so `sym` prints the
// letters crash users know.
char nm_type(const GElf_Sym& sym, const std::vector<Section>& sections) {
  int bind = GELF_ST_BIND(sym.st_info);
  int type = GELF_ST_TYPE(sym.st_info);
  bool global = bind != STB_LOCAL;
  auto cased = [&](char c) { return global ? static_cast<char>(std::toupper(c)) : c; };
  if (sym.st_shndx == SHN_COMMON) return 'C';
  if (sym.st_shndx == SHN_UNDEF) return bind == STB_WEAK ? (type == STT_OBJECT ? 'v' : 'w') : 'U';
  if (type == STT_GNU_IFUNC) return 'i';
  if (bind == STB_WEAK) return type == STT_OBJECT ? 'V' : 'W';
  if (sym.st_shndx == SHN_ABS) return cased('a');
  if (sym.st_shndx >= sections.size()) return '?';
  const Section& s = sections[sym.st_shndx];
  if (s.flags & SHF_EXECINSTR) return cased('t');
  if (!(s.flags & SHF_ALLOC)) return cased('n');
  if (s.type == SHT_NOBITS) return cased('b');
  if (!(s.flags & SHF_WRITE)) return cased('r');
  return cased('d');
}

}  // namespace

Vmlinux::~Vmlinux() = default;

Result<std::unique_ptr<Vmlinux>> Vmlinux::open(const std::string& path) {
  std::unique_ptr<Vmlinux> vm(new Vmlinux());
  vm->file_ = TRY(MappedFile::open(path));
  elf_version(EV_CURRENT);
  auto bytes = vm->file_->bytes();
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "\177ELF", 4) != 0)
    return Error::make(Errc::bad_data, "{}: not an ELF file", path);
  Elf* elf = elf_memory(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())), bytes.size());
  if (!elf) return Error::make(Errc::bad_data, "{}: {}", path, elf_errmsg(-1));
  struct ElfCloser {
    Elf* e;
    ~ElfCloser() { elf_end(e); }
  } closer{elf};

  GElf_Ehdr ehdr;
  if (!gelf_getehdr(elf, &ehdr)) return Error::make(Errc::bad_data, "{}: bad ELF header: {}", path, elf_errmsg(-1));
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64)
    return Error::make(Errc::unsupported, "{}: 32-bit ELF kernels are not supported", path);
  vm->machine_ = ehdr.e_machine;

  size_t shstrndx;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return Error::make(Errc::bad_data, "{}: no section name table", path);
  size_t nsec = 0;
  elf_getshdrnum(elf, &nsec);
  vm->sections_.resize(nsec);
  Elf_Scn* symtab = nullptr;
  GElf_Shdr symtab_hdr{};
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn));) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    size_t idx = elf_ndxscn(scn);
    const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
    vm->sections_[idx] = Section{name ? name : "", sh.sh_addr, sh.sh_offset, sh.sh_size, sh.sh_type, sh.sh_flags};
    if (sh.sh_type != SHT_NOBITS) {
      auto end = checked_add(sh.sh_offset, sh.sh_size);
      if (!end || *end > bytes.size())
        return Error::make(Errc::bad_data, "{}: section {} at offset {:#x} size {:#x} extends past the end of the file ({:#x})",
                           path, vm->sections_[idx].name, sh.sh_offset, sh.sh_size, bytes.size());
    }
    if (sh.sh_type == SHT_SYMTAB) {
      symtab = scn;
      symtab_hdr = sh;
    }
    if (sh.sh_type == SHT_NOTE && vm->build_id_.empty()) {
      Elf_Data* data = elf_getdata(scn, nullptr);
      GElf_Nhdr nh;
      size_t off = 0, name_off, desc_off;
      while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
        const char* nm = static_cast<const char*>(data->d_buf) + name_off;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(nm, "GNU", 4) == 0) {
          const uint8_t* d = static_cast<const uint8_t*>(data->d_buf) + desc_off;
          for (size_t i = 0; i < nh.n_descsz; ++i) vm->build_id_ += fmt::format("{:02x}", d[i]);
        }
      }
    }
  }
  if (!symtab) return Error::make(Errc::no_debug_info, "{}: no symbol table (.symtab): is this a stripped vmlinuz?", path);

  // Names come from the section sh_link names; elf_strptr answers NULL for every name when it
  // is not a string table, which would open the file with an empty symbol table.
  if (symtab_hdr.sh_link == 0 || symtab_hdr.sh_link >= nsec || vm->sections_[symtab_hdr.sh_link].type != SHT_STRTAB)
    return Error::make(Errc::bad_data, "{}: .symtab's sh_link {} is not a string table section ({} sections)", path,
                       symtab_hdr.sh_link, nsec);
  Elf_Data* data = elf_getdata(symtab, nullptr);
  if (!data)
    return Error::make(Errc::bad_data, "{}: unreadable .symtab at offset {:#x} size {:#x}: {}", path, symtab_hdr.sh_offset,
                       symtab_hdr.sh_size, elf_errmsg(-1));
  if (symtab_hdr.sh_entsize == 0) return Error::make(Errc::bad_data, "{}: .symtab has sh_entsize 0", path);
  // Counted from the data's size in Elf64_Sym units (what gelf_getsym reads), not from
  // sh_entsize: a bogus sh_entsize of 1 would reserve 32 bytes per byte of the file.
  size_t count = data->d_size / sizeof(Elf64_Sym);
  // The kernel image starts at _text; symbols from there on move with KASLR.
  uint64_t text_start = UINT64_MAX;
  std::vector<GElf_Sym> raw;
  raw.reserve(count);
  std::vector<const char*> names;
  names.reserve(count);
  for (size_t i = 1; i < count; ++i) {
    GElf_Sym sym;
    if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type == STT_SECTION || type == STT_FILE) continue;
    const char* name = elf_strptr(elf, symtab_hdr.sh_link, sym.st_name);
    if (!name || !*name) continue;
    // The ARM ELF ABIs' mapping symbols ($x code, $d data, $a/$t on 32-bit ARM, optionally
    // ".N"-suffixed) mark where code and data start; they name nothing (gdb, crash and the
    // kernel's kallsyms drop them too).
    if (name[0] == '$' && std::strchr("xdat", name[1]) && name[1] && (name[2] == '\0' || name[2] == '.')) continue;
    if (std::strcmp(name, "_text") == 0) text_start = sym.st_value;
    raw.push_back(sym);
    names.push_back(name);
  }
  vm->symbols_ = SymbolTable();
  for (size_t i = 0; i < raw.size(); ++i) {
    const GElf_Sym& sym = raw[i];
    if (sym.st_shndx == SHN_UNDEF) continue;
    bool in_section = sym.st_shndx < SHN_LORESERVE && sym.st_shndx < vm->sections_.size();
    vm->symbols_.add(Symbol{names[i], sym.st_value, sym.st_size, nm_type(sym, vm->sections_),
                            sym.st_value >= text_start, in_section ? sym.st_shndx : Symbol::kNoSection});
  }
  vm->symbols_.finish();
  return vm;
}

const Section* Vmlinux::section(std::string_view name) const {
  for (auto& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

std::span<const uint8_t> Vmlinux::section_bytes(std::string_view name) const {
  const Section* s = section(name);
  if (!s || s->type == SHT_NOBITS) return {};
  return file_->bytes().subspan(s->offset, s->size);
}

Result<std::span<const uint8_t>> Vmlinux::bytes_at(uint64_t link_addr, uint64_t len) const {
  for (auto& s : sections_) {
    if (!(s.flags & SHF_ALLOC) || s.type == SHT_NOBITS || s.addr == 0) continue;
    if (link_addr >= s.addr && link_addr - s.addr < s.size) {
      uint64_t avail = s.size - (link_addr - s.addr);
      return file_->bytes().subspan(s.offset + (link_addr - s.addr), std::min(len, avail));
    }
  }
  return Error::make(Errc::not_found, "{}: address {:#x} is not in any section with contents", path(), link_addr);
}

Result<std::string> Vmlinux::read_cstring(uint64_t link_addr, size_t max_len) const {
  auto b = TRY(bytes_at(link_addr, max_len));
  const char* p = reinterpret_cast<const char*>(b.data());
  return std::string(p, strnlen(p, b.size()));
}

}  // namespace coroner::symbols
