// The module object files `mod -s`/`mod -S` load (symbols/module_debuginfo.h): the input is
// the whole NAME.ko. It is opened (ELF header, section table, .modinfo, the build-ID note),
// checked against a module name and release, placed the way a dump places a module (every
// SHF_ALLOC section at its own address), then its symbols listed and its DWARF read through
// libdwfl, which applies the file's relocations: source lines of placed addresses, and the
// declarations and BTF types of the functions and variables its symbols name. Any bytes must
// give results or an error naming the file, never a crash, a hang or a huge allocation.
#include <bpf/btf.h>
#include <gelf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "symbols/btf_types.h"
#include "symbols/module_debuginfo.h"

namespace {

using namespace coroner;

constexpr uint64_t kModuleBase = 0xffffffffc0200000ull;
constexpr uint64_t kSectionStride = 0x10000;
constexpr size_t kMaxPlaced = 64;      // sections placed at most
constexpr size_t kMaxLookups = 16;     // symbols whose source line and DWARF declaration are looked up

// A few kernel types for variable_type(): what a module's variables commonly are.
symbols::BtfTypes& fuzz_types() {
  static std::vector<uint8_t> raw = [] {
    struct btf* b = btf__new_empty();
    int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
    btf__add_int(b, "long unsigned int", 8, 0);
    btf__add_int(b, "char", 1, BTF_INT_SIGNED | BTF_INT_CHAR);
    int lhp = btf__add_ptr(b, static_cast<int>(btf__type_cnt(b)) + 1);
    btf__add_struct(b, "list_head", 16);
    btf__add_field(b, "next", lhp, 0, 0);
    btf__add_field(b, "prev", lhp, 64, 0);
    btf__add_typedef(b, "s32", i32);
    uint32_t size = 0;
    const void* p = btf__raw_data(b, &size);
    std::vector<uint8_t> out(static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + size);
    btf__free(b);
    return out;
  }();
  static std::unique_ptr<symbols::BtfTypes> t = std::move(*symbols::BtfTypes::from_bytes(raw, "fuzz.btf"));
  return *t;
}

// The SHF_ALLOC sections' names, read with libelf from the bytes (the kernel layer gets them
// from the module's sect_attrs; here they come from the file itself).
std::vector<std::string> alloc_sections(const uint8_t* data, size_t size) {
  std::vector<std::string> out;
  Elf* e = elf_memory(reinterpret_cast<char*>(const_cast<uint8_t*>(data)), size);
  if (!e) return out;
  size_t shstrndx;
  if (elf_kind(e) == ELF_K_ELF && elf_getshdrstrndx(e, &shstrndx) == 0) {
    for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(e, scn)) && out.size() < kMaxPlaced;) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC)) continue;
      if (const char* n = elf_strptr(e, shstrndx, sh.sh_name)) out.emplace_back(n);
    }
  }
  elf_end(e);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  elf_version(EV_CURRENT);
  // ModuleObject opens a path: the input as an in-memory file.
  int fd = memfd_create("fuzz.ko", MFD_CLOEXEC);
  if (fd < 0) return 0;
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) {
      close(fd);
      return 0;
    }
    done += static_cast<size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto ko = symbols::ModuleObject::open(path);
  if (ko) {
    symbols::ModuleObject& m = **ko;
    (void)m.modinfo("name");
    (void)m.modinfo("vermagic");
    (void)m.build_id();
    (void)symbols::check_module_object(m, "fuzz_mod", "6.1.0-fuzz-amd64");
    (void)symbols::check_module_object(m, "fuzz_mod", "");

    std::vector<symbols::PlacedSection> placed;
    uint64_t addr = kModuleBase;
    for (auto& name : alloc_sections(data, size)) {
      placed.push_back({name, addr});
      addr += kSectionStride;
    }
    m.place(placed);
    for (const auto& s : placed) (void)m.section_address(s.name);
    auto syms = m.symbols();
    for (const auto& s : placed)
      for (uint64_t off : {0x0ull, 0x10ull, 0x400ull}) (void)m.source_line(s.address + off);
    size_t lookups = 0;
    for (const auto& s : syms) {
      if (s.section_symbol) continue;
      if (lookups++ >= kMaxLookups) break;
      (void)m.source_line(s.address);
      (void)m.declare(s.name);
      (void)m.variable_type(s.name, fuzz_types());
    }
    (void)m.declare("fuzz_missing");
  }
  close(fd);
  return 0;
}
