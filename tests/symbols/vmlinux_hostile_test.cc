// Vmlinux::open on hostile ELF files: a .symtab whose header lies (sh_entsize 1 or 0, a size
// that is not a whole number of symbols, sh_link to a section that is not a string table or
// past the section count, sh_offset + sh_size past the end of the file) and symbols whose
// st_shndx is past the section count. Each must end in a clear error naming the section (and
// the offset where one is at fault), or open with the right symbol count; never a crash, and
// never work or memory out of proportion to the file.
//
// The files are written byte by byte from <elf.h> structures rather than with libelf's
// elf_update, which would refuse (or repair) the very fields under test.
#include <elf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "symbols/vmlinux.h"

// The largest single operator-new allocation while `g_track` is set. Replacing the global
// operators is what lets the test see a reserve() sized from a header field: the bug this
// guards against (symbols/vmlinux.cc counting symbols as sh_size / sh_entsize) allocated
// 32 bytes (a GElf_Sym and a name pointer) per byte of .symtab when sh_entsize was 1.
namespace {
std::atomic<bool> g_track{false};
std::atomic<size_t> g_largest{0};

void* tracked_alloc(size_t n) {
  if (g_track.load(std::memory_order_relaxed)) {
    size_t prev = g_largest.load(std::memory_order_relaxed);
    while (n > prev && !g_largest.compare_exchange_weak(prev, n)) {
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace

// Every replaceable non-aligned form, so that no allocation made by one (the library's, which
// ASan tracks as operator new) is freed by the other (std::free here): std::stable_sort's
// temporary buffer uses the nothrow form.
void* operator new(size_t n) { return tracked_alloc(n); }
void* operator new[](size_t n) { return tracked_alloc(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return tracked_alloc(n);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace coroner::symbols {
namespace {

constexpr uint64_t kTextAddr = 0xffffffff81000000;
constexpr uint64_t kDataAddr = 0xffffffff82000000;

// Section indexes of the synthesized vmlinux.
enum : uint16_t { kNull, kText, kData, kShstrtab, kStrtab, kSymtab, kSectionCount };

// A minimal x86_64 vmlinux: .text, .data, .shstrtab, .strtab and .symtab, whose symbol table
// holds _text, start_kernel, `extra` data objects sym_0..sym_N-1, and then the caller's
// additional symbols. Every header field can be overridden before write().
struct VmlinuxImage {
  std::vector<Elf64_Shdr> sh = std::vector<Elf64_Shdr>(kSectionCount);
  std::vector<std::vector<uint8_t>> data = std::vector<std::vector<uint8_t>>(kSectionCount);
  std::vector<Elf64_Sym> syms;
  std::string strtab = std::string(1, '\0');
  size_t good_symbols = 0;  // symbols Vmlinux keeps (named, defined, not STT_SECTION/FILE)

  uint32_t add_name(const std::string& s) {
    uint32_t off = static_cast<uint32_t>(strtab.size());
    strtab += s;
    strtab += '\0';
    return off;
  }
  void add_symbol(const std::string& name, uint64_t value, uint16_t shndx, unsigned char type) {
    Elf64_Sym s{};
    s.st_name = add_name(name);
    s.st_info = ELF64_ST_INFO(STB_GLOBAL, type);
    s.st_shndx = shndx;
    s.st_value = value;
    s.st_size = 8;
    syms.push_back(s);
    ++good_symbols;
  }

  explicit VmlinuxImage(size_t extra = 0) {
    syms.push_back(Elf64_Sym{});  // index 0: the undefined symbol
    add_symbol("_text", kTextAddr, kText, STT_FUNC);
    add_symbol("start_kernel", kTextAddr + 0x10, kText, STT_FUNC);
    for (size_t i = 0; i < extra; ++i) add_symbol("sym_" + std::to_string(i), kDataAddr + 8 * i, kData, STT_OBJECT);
  }

  // Lays the sections out and fills in the headers; tests then damage them.
  void layout() {
    std::string shstr(1, '\0');
    auto name = [&](const char* n) {
      uint32_t off = static_cast<uint32_t>(shstr.size());
      shstr += n;
      shstr += '\0';
      return off;
    };
    data[kText].assign(0x100, 0xcc);
    data[kData].assign(8 * (syms.size() + 1), 0);
    sh[kText] = {name(".text"), SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, kTextAddr, 0, 0, 0, 0, 16, 0};
    sh[kData] = {name(".data"), SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, kDataAddr, 0, 0, 0, 0, 8, 0};
    sh[kStrtab] = {name(".strtab"), SHT_STRTAB, 0, 0, 0, 0, 0, 0, 1, 0};
    sh[kSymtab] = {name(".symtab"), SHT_SYMTAB, 0, 0, 0, 0, kStrtab, 1, 8, sizeof(Elf64_Sym)};
    sh[kShstrtab] = {name(".shstrtab"), SHT_STRTAB, 0, 0, 0, 0, 0, 0, 1, 0};
    data[kShstrtab].assign(shstr.begin(), shstr.end());
    data[kStrtab].assign(strtab.begin(), strtab.end());
    data[kSymtab].resize(syms.size() * sizeof(Elf64_Sym));
    std::memcpy(data[kSymtab].data(), syms.data(), data[kSymtab].size());
    uint64_t off = sizeof(Elf64_Ehdr);
    for (int i = 1; i < kSectionCount; ++i) {
      off = (off + 7) & ~uint64_t{7};
      sh[i].sh_offset = off;
      sh[i].sh_size = data[i].size();
      off += data[i].size();
    }
  }

  // The file: the ELF header, the sections at their (possibly damaged) offsets, the section
  // headers last. Returns its path.
  std::string write(const std::string& tag) const {
    uint64_t end = sizeof(Elf64_Ehdr);
    for (int i = 1; i < kSectionCount; ++i)
      if (!data[i].empty()) end = std::max<uint64_t>(end, sh[i].sh_offset + data[i].size());
    uint64_t shoff = (end + 7) & ~uint64_t{7};
    std::vector<uint8_t> file(shoff + sh.size() * sizeof(Elf64_Shdr), 0);
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_shoff = shoff;
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = static_cast<uint16_t>(sh.size());
    eh.e_shstrndx = kShstrtab;
    std::memcpy(file.data(), &eh, sizeof eh);
    for (int i = 1; i < kSectionCount; ++i)
      if (!data[i].empty()) std::memcpy(file.data() + sh[i].sh_offset, data[i].data(), data[i].size());
    std::memcpy(file.data() + shoff, sh.data(), sh.size() * sizeof(Elf64_Shdr));
    std::string path = ::testing::TempDir() + "coroner-vmlinux-hostile-" + tag + "-" + std::to_string(getpid());
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
    return path;
  }
  size_t file_size() const {
    uint64_t end = sizeof(Elf64_Ehdr);
    for (int i = 1; i < kSectionCount; ++i)
      if (!data[i].empty()) end = std::max<uint64_t>(end, sh[i].sh_offset + data[i].size());
    return ((end + 7) & ~uint64_t{7}) + sh.size() * sizeof(Elf64_Shdr);
  }
};

struct Opened {
  Result<std::unique_ptr<Vmlinux>> vm;
  size_t largest_allocation;
};

Opened open_tracked(const std::string& path) {
  g_largest = 0;
  g_track = true;
  auto vm = Vmlinux::open(path);
  g_track = false;
  size_t largest = g_largest;
  std::remove(path.c_str());
  return {std::move(vm), largest};
}

std::string message(const Opened& o) { return o.vm ? std::string() : o.vm.error().message; }

TEST(VmlinuxHostile, IntactImageOpens) {
  VmlinuxImage img(100);
  img.layout();
  auto o = open_tracked(img.write("intact"));
  ASSERT_TRUE(o.vm) << message(o);
  EXPECT_EQ((*o.vm)->symbols().size(), img.good_symbols);
  ASSERT_NE((*o.vm)->symbols().find("sym_99"), nullptr);
}

// sh_entsize 1: the data is a whole number of Elf64_Sym, so it is usable and every symbol is
// read. The old count (sh_size / sh_entsize = sh_size symbols) reserved a GElf_Sym (24
// bytes) and a name pointer (8) per byte of .symtab: with 4096 symbols, 98,304 "symbols",
// a 2.4 MB reserve() for a file of about 150 KB, and a loop 24 times longer than the table.
// The largest allocation must stay within a small multiple of the file's size (the symbol
// table's own vectors: 4096 Symbols of 48 bytes, rounded up by vector growth, are about
// 1.5x the file), so that regression fails here.
TEST(VmlinuxHostile, EntsizeOneCountsWholeSymbols) {
  VmlinuxImage img(4096);
  img.layout();
  img.sh[kSymtab].sh_entsize = 1;
  size_t file_size = img.file_size();
  auto o = open_tracked(img.write("entsize1"));
  ASSERT_TRUE(o.vm) << message(o);
  EXPECT_EQ((*o.vm)->symbols().size(), img.good_symbols);
  EXPECT_NE((*o.vm)->symbols().find("sym_4095"), nullptr);
  EXPECT_LT(o.largest_allocation, 4 * file_size) << "an allocation sized from sh_entsize rather than the data";
  // The same bound holds for the intact table: the bound is not loose for the good case.
  VmlinuxImage good(4096);
  good.layout();
  auto g = open_tracked(good.write("entsize24"));
  ASSERT_TRUE(g.vm) << message(g);
  EXPECT_LT(g.largest_allocation, 4 * file_size);
}

// sh_entsize 0 (the old code divided by it) is refused with an error naming .symtab.
TEST(VmlinuxHostile, EntsizeZeroIsRefusedNamingTheSection) {
  VmlinuxImage img(16);
  img.layout();
  img.sh[kSymtab].sh_entsize = 0;
  auto o = open_tracked(img.write("entsize0"));
  ASSERT_FALSE(o.vm);
  EXPECT_NE(message(o).find(".symtab"), std::string::npos) << message(o);
}

// A size that is not a whole number of Elf64_Sym: libelf refuses the data, and the error
// names .symtab (no partial read of a torn last symbol).
TEST(VmlinuxHostile, TornSizeIsRefusedNamingTheSection) {
  for (uint64_t cut : {1, 7, 23}) {
    VmlinuxImage img(16);
    img.layout();
    img.sh[kSymtab].sh_size -= cut;
    auto o = open_tracked(img.write("torn"));
    ASSERT_FALSE(o.vm) << "cut " << cut;
    EXPECT_NE(message(o).find(".symtab"), std::string::npos) << message(o);
  }
}

// sh_link to a section that is not a string table (.text, .symtab itself) or to no section at
// all: no name can be read, which is an error naming .symtab and the link, not a silently
// empty symbol table.
TEST(VmlinuxHostile, LinkToNonStringSectionIsRefused) {
  for (uint32_t link : {uint32_t{kText}, uint32_t{kSymtab}, uint32_t{kNull}, uint32_t{kSectionCount}, uint32_t{0xffff}}) {
    VmlinuxImage img(16);
    img.layout();
    img.sh[kSymtab].sh_link = link;
    auto o = open_tracked(img.write("link"));
    ASSERT_FALSE(o.vm) << "sh_link " << link << ": opened with " << (*o.vm)->symbols().size() << " symbols";
    EXPECT_NE(message(o).find(".symtab"), std::string::npos) << message(o);
    EXPECT_NE(message(o).find(std::to_string(link)), std::string::npos) << message(o);
  }
}

// Symbols whose st_shndx is past the section count (below SHN_LORESERVE, and in the reserved
// range other than SHN_ABS/SHN_COMMON) are kept, with nm type '?': the index is checked
// against the section list before it is used to look up the section's flags.
TEST(VmlinuxHostile, SectionIndexPastTheCountIsKept) {
  VmlinuxImage img(4);
  img.add_symbol("beyond", kDataAddr + 0x100, kSectionCount, STT_OBJECT);
  img.add_symbol("far_beyond", kDataAddr + 0x108, SHN_LORESERVE - 1, STT_OBJECT);
  img.add_symbol("reserved", kDataAddr + 0x110, SHN_LOPROC, STT_OBJECT);
  img.layout();
  auto o = open_tracked(img.write("shndx"));
  ASSERT_TRUE(o.vm) << message(o);
  const SymbolTable& t = (*o.vm)->symbols();
  EXPECT_EQ(t.size(), img.good_symbols);
  for (const char* n : {"beyond", "far_beyond", "reserved"}) {
    const Symbol* s = t.find(n);
    ASSERT_NE(s, nullptr) << n;
    EXPECT_EQ(s->type, '?') << n;
  }
  const Symbol* data = t.find("sym_0");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->type, 'D');
}

// A .symtab whose sh_offset + sh_size is past the end of the file (or wraps around 2^64) is
// refused, naming the section and its offset.
TEST(VmlinuxHostile, SymtabPastTheEndOfTheFileNamesTheOffset) {
  struct Case {
    uint64_t offset, size;
  };
  VmlinuxImage probe(16);
  probe.layout();
  uint64_t file_size = probe.file_size();
  for (Case c : {Case{file_size - 24, 48}, Case{file_size + 0x1000, 24}, Case{0xfffffffffffff000, 0x2000},
                 Case{probe.sh[kSymtab].sh_offset, uint64_t{1} << 40}}) {
    VmlinuxImage img(16);
    img.layout();
    img.sh[kSymtab].sh_offset = c.offset;
    img.sh[kSymtab].sh_size = c.size;
    img.data[kSymtab].clear();  // nothing written there: the header alone lies
    auto o = open_tracked(img.write("past-end"));
    ASSERT_FALSE(o.vm) << "offset " << c.offset;
    std::string m = message(o);
    EXPECT_NE(m.find(".symtab"), std::string::npos) << m;
    EXPECT_NE(m.find(fmt::format("{:#x}", c.offset)), std::string::npos) << m;
    EXPECT_LT(o.largest_allocation, 4 * file_size) << m;
  }
}

}  // namespace
}  // namespace coroner::symbols
