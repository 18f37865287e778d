// Module symbols built from synthesized module memory: crash's filtering, typing, de-duplication
// of exported symbols and ordering, and the errors for garbage kallsyms pointers.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>

#include "kernel/modules.h"

using namespace coroner::kernel;

namespace {

constexpr uint64_t kBase = 0xffffffffc0001000;

// One module region holding an ELF symbol table and its string table.
struct FakeModule {
  std::vector<ModuleRegion> regions{{"", kBase, 0x1000, kBase + 0x1000, true}};
  MemoryImage image;
  std::vector<Elf64_Sym> syms{Elf64_Sym{}};  // entry 0: ELF's null symbol
  std::string strtab{'\0'};
  static constexpr uint64_t kSymtabOff = 0x800, kStrtabOff = 0xc00;

  void add(std::string_view name, uint64_t value, uint8_t info, uint16_t shndx = 1) {
    Elf64_Sym s{};
    s.st_name = static_cast<uint32_t>(strtab.size());
    s.st_value = value;
    s.st_info = info;
    s.st_shndx = shndx;
    strtab.append(name);
    strtab.push_back('\0');
    syms.push_back(s);
  }
  KallsymsTable finish() {
    std::vector<uint8_t> bytes(0x1000);
    std::memcpy(bytes.data() + kSymtabOff, syms.data(), syms.size() * sizeof(Elf64_Sym));
    std::memcpy(bytes.data() + kStrtabOff, strtab.data(), strtab.size());
    image.pieces = {{kBase, std::move(bytes)}};
    return {kBase + kSymtabOff, syms.size(), kBase + kStrtabOff};
  }
};

constexpr uint8_t kLocalFunc = ELF64_ST_INFO(STB_LOCAL, STT_FUNC);
constexpr uint8_t kGlobalFunc = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
constexpr uint8_t kLocalObject = ELF64_ST_INFO(STB_LOCAL, STT_OBJECT);

}  // namespace

TEST(ModuleSymbols, TypesFilteringDedupAndOrder) {
  FakeModule f;
  f.add("obj", kBase + 0x200, kLocalObject);
  f.add("foo", kBase + 0x10, kLocalFunc);
  f.add("bar", kBase + 0x20, kGlobalFunc);          // exported too: one entry, typed 'T'
  f.add("foo_init", kBase + 0x30, kLocalFunc);
  f.add("init_module", kBase + 0x30, kGlobalFunc);  // alias: after foo_init, as in the symtab
  f.add("baz.isra.0", kBase + 0x40, kLocalFunc);    // clone suffix dropped
  f.add("printk", 0, kGlobalFunc, SHN_UNDEF);       // undefined: skipped
  f.add("far", kBase + 0x5000, kLocalFunc);         // outside the module: skipped
  f.add("", kBase + 0x50, kLocalFunc);              // no name: skipped
  f.add("end_mark", kBase + 0x1000, kLocalObject);  // base + size: kept before 6.4, as crash does
  auto ks = f.finish();
  std::vector<ExportedSymbol> exported{{"bar", kBase + 0x20}, {"gone", 0xffffffff81000000}};
  auto r = build_module_symbols("fake", f.regions, f.image, exported, ks);
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::vector<std::tuple<std::string, uint64_t, char>> got;
  for (const auto& s : *r) got.emplace_back(s.name, s.value - kBase, s.type);
  std::vector<std::tuple<std::string, uint64_t, char>> want{
      {"foo", 0x10, 't'},         {"bar", 0x20, 'T'},   {"foo_init", 0x30, 't'},   {"init_module", 0x30, 'T'},
      {"baz", 0x40, 't'},         {"obj", 0x200, '?'},  {"end_mark", 0x1000, '?'},
  };
  EXPECT_EQ(got, want);
}

TEST(ModuleSymbols, GarbageKallsymsPointersNameTheModuleAndAddress) {
  FakeModule f;
  f.add("foo", kBase + 0x10, kLocalFunc);
  auto ks = f.finish();
  KallsymsTable bad = ks;
  bad.symtab = 0xdead0000;
  auto r = build_module_symbols("fake", f.regions, f.image, {}, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("module fake"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("0xdead0000"), std::string::npos) << r.error().message;

  bad = ks;
  bad.strtab = 0xbeef0000;
  r = build_module_symbols("fake", f.regions, f.image, {}, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0xbeef0000"), std::string::npos) << r.error().message;

  bad = ks;
  bad.num = 1ull << 40;  // capped before anything is allocated or read
  r = build_module_symbols("fake", f.regions, f.image, {}, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, coroner::Errc::out_of_bounds);

  bad = ks;
  bad.num = 0x1000;  // runs off the end of the module's memory
  r = build_module_symbols("fake", f.regions, f.image, {}, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, coroner::Errc::bad_data);
}

TEST(ModuleSymbols, TypeLetters) {
  EXPECT_EQ(module_symbol_type(kLocalFunc), 't');
  EXPECT_EQ(module_symbol_type(kGlobalFunc), 'T');
  EXPECT_EQ(module_symbol_type(kLocalObject), '?');
  EXPECT_EQ(module_symbol_type(ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT)), '?');
  EXPECT_EQ(module_symbol_type('d'), 'd');  // kernels that stored nm's letter in st_info
}

TEST(ModuleSymbols, RegionsAfter64ExcludeTheirEnd) {
  ModuleRegion text{"TEXT", kBase, 0x1000, kBase + 0xfff, false};
  EXPECT_TRUE(text.holds(kBase));
  EXPECT_TRUE(text.holds(kBase + 0xfff));
  EXPECT_FALSE(text.holds(kBase + 0x1000));
  ModuleRegion core{"", kBase, 0x1000, kBase + 0x1000, true};
  EXPECT_TRUE(core.holds(kBase + 0x1000));
  Module m;
  m.regions = {text};
  EXPECT_TRUE(m.contains(kBase + 0xfff));
  EXPECT_FALSE(m.contains(kBase + 0x1000));
}

TEST(MemoryImage, BoundedReadsAndStrings) {
  MemoryImage img;
  img.pieces = {{0x1000, {'a', 'b', 0, 'c', 'd'}}};
  EXPECT_EQ(img.cstring(0x1000).value(), "ab");
  EXPECT_FALSE(img.cstring(0x1003));  // no terminator before the piece ends
  EXPECT_FALSE(img.cstring(0x2000));
  EXPECT_EQ(img.at(0x1001, 4).size(), 4u);
  EXPECT_TRUE(img.at(0x1001, 5).empty());
  EXPECT_TRUE(img.at(0xfff, 1).empty());
  EXPECT_TRUE(img.at(0x1000, ~0ull).empty());
}
