// A module object file (.ko) synthesized with libelf: placing its sections at the addresses a
// dump gives them, its symbols' addresses and nm letters, the name/release check, and the
// errors for files that are no module at all. Also crash's merge of kallsyms and .ko symbols.
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kernel/modules.h"
#include "symbols/module_debuginfo.h"

using namespace coroner;
using symbols::ModuleObject;

namespace {

// Writes a relocatable x86-64 ELF: .text, .data, .modinfo, __ksymtab_gpl, .symtab, .strtab,
// .shstrtab. Symbols: a global function at .text+0x10, a local object at .data+0x8, a local
// label .LC0 at .data+0x0, the section symbol of __ksymtab_gpl.
class KoFile {
 public:
  explicit KoFile(std::string modinfo, uint16_t type = ET_REL) {
    char tmpl[] = "/tmp/coroner-ko-XXXXXX";
    int fd = mkstemp(tmpl);
    path_ = tmpl;
    elf_version(EV_CURRENT);
    Elf* e = elf_begin(fd, ELF_C_WRITE, nullptr);
    gelf_newehdr(e, ELFCLASS64);
    GElf_Ehdr eh;
    gelf_getehdr(e, &eh);
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_type = type;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    std::string shstr("\0.text\0.data\0.modinfo\0__ksymtab_gpl\0.symtab\0.strtab\0.shstrtab\0", 62);
    auto name_of = [&](const char* n) { return static_cast<uint32_t>(shstr.find(std::string(n) + '\0')); };
    static std::vector<uint8_t> text(0x40, 0xcc), data(0x20, 0), ksymtab(0xc, 0);
    modinfo_ = std::move(modinfo);
    static const char strtab[] = "\0foo_fn\0foo_data\0.LC0";
    struct Sec {
      const char* name;
      uint32_t type;
      uint64_t flags;
      void* buf;
      size_t size;
    };
    std::vector<Sec> secs = {{".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, text.data(), text.size()},
                             {".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, data.data(), data.size()},
                             {".modinfo", SHT_PROGBITS, SHF_ALLOC, modinfo_.data(), modinfo_.size()},
                             {"__ksymtab_gpl", SHT_PROGBITS, SHF_ALLOC, ksymtab.data(), ksymtab.size()}};
    for (const auto& s : secs) {
      Elf_Scn* scn = elf_newscn(e);
      Elf_Data* d = elf_newdata(scn);
      d->d_buf = s.buf;
      d->d_size = s.size;
      d->d_align = 1;
      d->d_type = ELF_T_BYTE;
      GElf_Shdr sh;
      gelf_getshdr(scn, &sh);
      sh.sh_name = name_of(s.name);
      sh.sh_type = s.type;
      sh.sh_flags = s.flags;
      gelf_update_shdr(scn, &sh);
    }
    // Section indexes: 1 .text, 2 .data, 3 .modinfo, 4 __ksymtab_gpl, 5 .symtab, 6 .strtab, 7 .shstrtab.
    syms_ = {Elf64_Sym{},
             {0, ELF64_ST_INFO(STB_LOCAL, STT_SECTION), 0, 4, 0, 0},
             {1, ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), 0, 1, 0x10, 0x8},
             {8, ELF64_ST_INFO(STB_LOCAL, STT_OBJECT), 0, 2, 0x8, 0x8},
             {17, ELF64_ST_INFO(STB_LOCAL, STT_NOTYPE), 0, 2, 0x0, 0}};
    Elf_Scn* symscn = elf_newscn(e);
    Elf_Data* sd = elf_newdata(symscn);
    sd->d_buf = syms_.data();
    sd->d_size = syms_.size() * sizeof(Elf64_Sym);
    sd->d_type = ELF_T_SYM;
    sd->d_align = 8;
    GElf_Shdr sh;
    gelf_getshdr(symscn, &sh);
    sh.sh_name = name_of(".symtab");
    sh.sh_type = SHT_SYMTAB;
    sh.sh_entsize = sizeof(Elf64_Sym);
    sh.sh_link = 6;
    sh.sh_info = 4;  // first global
    gelf_update_shdr(symscn, &sh);
    for (auto [name, buf, size] : {std::tuple<const char*, const void*, size_t>{".strtab", strtab, sizeof strtab},
                                   {".shstrtab", shstr.data(), shstr.size()}}) {
      Elf_Scn* scn = elf_newscn(e);
      Elf_Data* d = elf_newdata(scn);
      d->d_buf = const_cast<void*>(buf);
      d->d_size = size;
      d->d_type = ELF_T_BYTE;
      d->d_align = 1;
      gelf_getshdr(scn, &sh);
      sh.sh_name = name_of(name);
      sh.sh_type = SHT_STRTAB;
      gelf_update_shdr(scn, &sh);
    }
    eh.e_shstrndx = 7;
    gelf_update_ehdr(e, &eh);
    EXPECT_GE(elf_update(e, ELF_C_WRITE), 0) << elf_errmsg(-1);
    elf_end(e);
    close(fd);
    // The strings must outlive elf_update only; keep the buffers as members anyway.
    shstr_ = std::move(shstr);
  }
  ~KoFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_, modinfo_, shstr_;
  std::vector<Elf64_Sym> syms_;
};

const std::string kModinfo = std::string("license=GPL\0name=foo_bar\0vermagic=6.1.0-test SMP mod_unload\0", 60);
constexpr uint64_t kText = 0xffffffffc0201000, kData = 0xffffffffc0205000, kKsym = 0xffffffffc0203000;

TEST(ModuleObject, PlacesSectionsWhereTheDumpHasThem) {
  KoFile f(kModinfo);
  auto ko = ModuleObject::open(f.path());
  ASSERT_TRUE(ko) << ko.error().message;
  EXPECT_EQ((*ko)->modinfo("name"), "foo_bar");
  EXPECT_EQ((*ko)->modinfo("vermagic"), "6.1.0-test SMP mod_unload");
  EXPECT_FALSE((*ko)->has_dwarf());
  (*ko)->place({{".text", kText}, {".data", kData}, {"__ksymtab_gpl", kKsym}});
  auto syms = (*ko)->symbols();
  ASSERT_EQ(syms.size(), 4u);
  EXPECT_EQ(syms[0].name, "__ksymtab_gpl");
  EXPECT_TRUE(syms[0].section_symbol);
  EXPECT_EQ(syms[0].address, kKsym);
  EXPECT_EQ(syms[0].type, 'r');
  EXPECT_EQ(syms[1].name, "foo_fn");
  EXPECT_EQ(syms[1].address, kText + 0x10);
  EXPECT_EQ(syms[1].type, 'T');
  EXPECT_EQ(syms[2].name, "foo_data");
  EXPECT_EQ(syms[2].address, kData + 0x8);
  EXPECT_EQ(syms[2].type, 'd');
  EXPECT_EQ(syms[3].name, ".LC0");

  // A section the kernel did not keep: its symbols are left out.
  (*ko)->place({{".text", kText}});
  syms = (*ko)->symbols();
  ASSERT_EQ(syms.size(), 1u);
  EXPECT_EQ(syms[0].name, "foo_fn");
  EXPECT_FALSE((*ko)->source_line(kText + 0x10));  // no DWARF: no line, no crash
}

TEST(ModuleObject, ChecksNameAndRelease) {
  KoFile f(kModinfo);
  auto ko = ModuleObject::open(f.path());
  ASSERT_TRUE(ko);
  EXPECT_TRUE(symbols::check_module_object(**ko, "foo_bar", "6.1.0-test"));
  EXPECT_TRUE(symbols::check_module_object(**ko, "foo-bar", "6.1.0-test"));  // crash's '-' == '_'
  auto other = symbols::check_module_object(**ko, "virtio_ring", "6.1.0-test");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().message, f.path() + ": the object file of module foo_bar, not virtio_ring");
  auto kernel = symbols::check_module_object(**ko, "foo_bar", "6.12.0-other");
  ASSERT_FALSE(kernel);
  EXPECT_EQ(kernel.error().message, f.path() + ": built for kernel 6.1.0-test, the dump is 6.12.0-other");
}

TEST(ModuleObject, RefusesFilesThatAreNoModule) {
  auto missing = ModuleObject::open("/nonexistent/foo.ko");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "/nonexistent/foo.ko: No such file or directory");

  char tmpl[] = "/tmp/coroner-notelf-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_EQ(write(fd, "root:x:0:0\n", 11), 11);
  close(fd);
  auto text = ModuleObject::open(tmpl);
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().message, std::string(tmpl) + ": not an ELF format object file");
  std::remove(tmpl);

  KoFile exec(kModinfo, ET_EXEC);
  auto e = ModuleObject::open(exec.path());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message, exec.path() + ": not a kernel module (ELF type 2, a module is relocatable)");
}

TEST(ModuleObject, NmLetters) {
  EXPECT_EQ(symbols::nm_type(ELF64_ST_INFO(STB_LOCAL, STT_FUNC), SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, ".text"), 't');
  EXPECT_EQ(symbols::nm_type(ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT), SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, ".data"), 'D');
  EXPECT_EQ(symbols::nm_type(ELF64_ST_INFO(STB_LOCAL, STT_OBJECT), SHT_NOBITS, SHF_ALLOC | SHF_WRITE, ".bss"), 'b');
  EXPECT_EQ(symbols::nm_type(ELF64_ST_INFO(STB_LOCAL, STT_OBJECT), SHT_PROGBITS, SHF_ALLOC, ".rodata"), 'r');
  EXPECT_EQ(symbols::nm_type(ELF64_ST_INFO(STB_WEAK, STT_FUNC), SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, ".text"), 'W');
}

TEST(ModuleObject, MergeKeepsKallsymsAndTakesTypesFromTheFile) {
  std::vector<kernel::ModuleRegion> regions{{"", 0xffffffffc0201000, 0x6000, 0xffffffffc0207000, true}};
  std::vector<kernel::ModuleSymbol> kallsyms{{"foo_fn", kText + 0x10, 'T'},
                                             {"__ksymtab_foo_fn", kKsym, '?'},
                                             {".LC0", kData, '?'},
                                             {"foo_data", kData + 0x8, '?'}};
  std::vector<symbols::ModuleObjectSymbol> object{{"__ksymtab_gpl", kKsym, 'r', true},
                                                  {".text", kText, 't', true},
                                                  {"__ksymtab_foo_fn", kKsym, 'r', false},
                                                  {".LC0", kData, 'r', false},
                                                  {"foo_data", kData + 0x8, 'd', false},
                                                  {"__elsewhere", 0xffffffffc0300000, 'r', true}};
  object.push_back({"__bug_table", kData + 0x18, 'd', true});  // no named symbol there: left out
  kallsyms.push_back({"foo_alias", kText + 0x10, 'T'});
  auto merged = kernel::merge_object_symbols(kallsyms, regions, object);
  ASSERT_EQ(merged.size(), 6u);
  EXPECT_EQ(merged[0].name, "foo_alias");  // ties sorted by name once the file is loaded
  EXPECT_EQ(merged[1].name, "foo_fn");
  EXPECT_EQ(merged[1].type, 'T');
  EXPECT_EQ(merged[2].name, "__ksymtab_foo_fn");
  EXPECT_EQ(merged[2].type, 'r');
  EXPECT_EQ(merged[3].name, "__ksymtab_gpl");
  EXPECT_EQ(merged[4].name, ".LC0");
  EXPECT_EQ(merged[4].type, '?');  // local labels keep the kallsyms type
  EXPECT_EQ(merged[5].name, "foo_data");
  EXPECT_EQ(merged[5].type, 'd');
}

}  // namespace
