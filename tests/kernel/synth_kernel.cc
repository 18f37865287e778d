#include "tests/kernel/synth_kernel.h"

#include <bpf/btf.h>
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>

namespace coroner::synth {

Bytes btf_bytes(struct btf* b) {
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  Bytes out(static_cast<const uint8_t*>(raw), static_cast<const uint8_t*>(raw) + size);
  btf__free(b);
  return out;
}

void write_vmlinux(const std::string& path, const VmlinuxSpec& spec) {
  std::deque<Bytes> keep;  // section contents must outlive elf_update()
  Bytes shstr{0};
  auto name = [&](const std::string& n) {
    auto off = static_cast<uint32_t>(shstr.size());
    shstr.insert(shstr.end(), n.begin(), n.end());
    shstr.push_back(0);
    return off;
  };
  Bytes strtab{0};
  std::vector<Elf64_Sym> syms(1);
  for (const auto& s : spec.symbols) {
    Elf64_Sym e{};
    e.st_name = static_cast<uint32_t>(strtab.size());
    strtab.insert(strtab.end(), s.name.begin(), s.name.end());
    strtab.push_back(0);
    e.st_value = s.addr;
    e.st_size = s.size;
    e.st_info = static_cast<unsigned char>(ELF64_ST_INFO(STB_GLOBAL, s.type));
    e.st_shndx = s.section;
    syms.push_back(e);
  }

  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path;
  elf_version(EV_CURRENT);
  Elf* e = elf_begin(fd, ELF_C_WRITE, nullptr);
  ASSERT_NE(e, nullptr) << elf_errmsg(-1);
  Elf64_Ehdr* eh = elf64_newehdr(e);
  eh->e_ident[EI_DATA] = ELFDATA2LSB;
  eh->e_type = ET_EXEC;
  eh->e_machine = spec.machine;
  eh->e_version = EV_CURRENT;
  auto section = [&](const std::string& n, uint32_t type, uint64_t flags, uint64_t addr, Bytes bytes,
                     uint64_t align = 8, uint32_t info = 0, uint64_t entsize = 0) {
    Elf_Scn* s = elf_newscn(e);
    keep.push_back(std::move(bytes));
    Elf_Data* d = elf_newdata(s);
    d->d_buf = keep.back().data();
    d->d_size = keep.back().size();
    d->d_type = ELF_T_BYTE;
    d->d_align = align;
    d->d_version = EV_CURRENT;
    Elf64_Shdr* sh = elf64_getshdr(s);
    sh->sh_name = name(n);
    sh->sh_type = type;
    sh->sh_flags = flags;
    sh->sh_addr = addr;
    sh->sh_info = info;
    sh->sh_entsize = entsize;
    sh->sh_addralign = align == 1 ? 0 : align;
    return elf_ndxscn(s);
  };
  for (const auto& s : spec.sections) section(s.name, s.type, s.flags, s.addr, s.bytes);
  Bytes symbytes(syms.size() * sizeof(Elf64_Sym));
  std::memcpy(symbytes.data(), syms.data(), symbytes.size());
  size_t symtab = section(".symtab", SHT_SYMTAB, 0, 0, symbytes, 8, 1, sizeof(Elf64_Sym));
  size_t str = section(".strtab", SHT_STRTAB, 0, 0, strtab);
  elf64_getshdr(elf_getscn(e, symtab))->sh_link = static_cast<uint32_t>(str);
  // .shstrtab names itself, so its name goes in before its contents are taken.
  uint32_t shstr_name = name(".shstrtab");
  size_t shstrndx = section(".shstrtab", SHT_STRTAB, 0, 0, shstr, 1);
  Elf64_Shdr* sh = elf64_getshdr(elf_getscn(e, shstrndx));
  sh->sh_name = shstr_name;
  eh->e_shstrndx = static_cast<uint16_t>(shstrndx);
  ASSERT_GE(elf_update(e, ELF_C_WRITE), 0) << elf_errmsg(-1);
  elf_end(e);
  ::close(fd);
}

SynthKernel::~SynthKernel() {
  kernel_.reset();
  std::error_code ec;
  for (const auto& p : files_) std::filesystem::remove(p, ec);
}

Kernel& SynthKernel::open(const std::string& prefix, const VmlinuxSpec& vmlinux, const dumpfmt::testing::ElfSpec& dump) {
  if (kernel_) return *kernel_;
  static int serial = 0;
  std::string tag = prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(serial++);
  std::string vmlinux_path = ::testing::TempDir() + "/" + tag + ".vmlinux";
  files_.push_back(vmlinux_path);
  write_vmlinux(vmlinux_path, vmlinux);
  files_.push_back(dumpfmt::testing::write_temp(dumpfmt::testing::build_elf(dump), tag + ".elf"));
  auto k = Kernel::open(vmlinux_path, {files_.back()}, {});
  EXPECT_TRUE(k) << k.error().message;
  if (!k) std::abort();
  kernel_ = std::move(*k);
  return *kernel_;
}

}  // namespace coroner::synth
