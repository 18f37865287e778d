// Synthesized kernels for the kernel-layer tests: a vmlinux written with libelf (the caller's
// sections, then .symtab, .strtab and .shstrtab) and an ELF dump from
// tests/dumpfmt/dump_builder.h, both in the test's temporary directory, opened as a Kernel and
// removed when the SynthKernel goes. The unwinder tests of x86_64 (stack_test.cc) and arm64
// (stack_arm64_test.cc) build their fake kernels on it.
//
//   synth::VmlinuxSpec v;
//   v.machine = EM_AARCH64;
//   v.sections.push_back({".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, text_addr, text});
//   v.sections.push_back({".BTF", SHT_PROGBITS, 0, 0, synth::btf_bytes(btf)});
//   v.symbols.push_back({"_text", text_addr, 0, STT_NOTYPE, 1});  // section 1: .text
//   synth::SynthKernel s;
//   Kernel& k = s.open("coroner-my-test", v, elf_spec);
#pragma once

#include <elf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernel/kernel.h"
#include "tests/dumpfmt/dump_builder.h"

struct btf;

namespace coroner::synth {

using Bytes = std::vector<uint8_t>;
using kernel::Kernel;

// x86_64's default link address of the kernel text and __START_KERNEL_map: a fake image at
// kLinkText is physical memory at kLinkText - kStartKernelMap (with no KASLR).
constexpr uint64_t kLinkText = 0xffffffff81000000ull;
constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;

// The encoded BTF of `b` (libbpf's writer), which it frees.
Bytes btf_bytes(struct btf* b);

// A function of a fake kernel's text: its name, offset in the image and size.
struct Fn {
  const char* name;
  uint64_t off, size;
};

struct VmlinuxSpec {
  uint16_t machine = EM_X86_64;
  struct Section {
    std::string name;
    uint32_t type = SHT_PROGBITS;
    uint64_t flags = 0;
    uint64_t addr = 0;
    Bytes bytes;
  };
  // Section i here is ELF section i + 1 (what Symbol::section names).
  std::vector<Section> sections;
  struct Symbol {
    std::string name;
    uint64_t addr = 0, size = 0;
    int type = STT_NOTYPE;
    uint16_t section = 0;
  };
  std::vector<Symbol> symbols;  // global symbols, in this order
};

// Writes `spec` to `path` as a little-endian ET_EXEC ELF64 file; failures are test failures.
void write_vmlinux(const std::string& path, const VmlinuxSpec& spec);

// A vmlinux and an ELF dump written under the test's temporary directory, opened as a Kernel.
class SynthKernel {
 public:
  SynthKernel() = default;
  ~SynthKernel();
  SynthKernel(const SynthKernel&) = delete;
  SynthKernel& operator=(const SynthKernel&) = delete;

  // The kernel once open() has made it, else null.
  Kernel* kernel() const { return kernel_.get(); }
  // Writes both files (named `prefix`-PID-N.vmlinux and .elf) and opens them; a kernel that
  // does not open fails the test and aborts it.
  Kernel& open(const std::string& prefix, const VmlinuxSpec& vmlinux, const dumpfmt::testing::ElfSpec& dump);

 private:
  std::vector<std::string> files_;  // removed with the kernel
  std::unique_ptr<Kernel> kernel_;
};

}  // namespace coroner::synth
