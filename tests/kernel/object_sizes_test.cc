// kernel/object_sizes.h: crash's downsized structures on a synthesized kernel. A task_struct
// whose debuginfo size (0x1000 here) runs past the dump's last byte is read as crash's `task`
// and `struct` show it (the readable bytes, then zeros) when arch_task_struct_size says the
// kernel allocates less; any other structure in the same place is still an error.
#include <bpf/btf.h>
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>

#include "kernel/kernel.h"
#include "kernel/object_sizes.h"
#include "tests/dumpfmt/dump_builder.h"
#include "tests/kernel/synth_kernel.h"

using namespace coroner;
using namespace coroner::synth;

namespace {

constexpr uint64_t kSizeVar = kLinkText + 0x1000;  // int arch_task_struct_size
constexpr uint64_t kTask = kLinkText + 0x1800;     // 0x800 bytes before the dump ends

struct SizesKernel {
  synth::SynthKernel synth;
  Kernel& open(int32_t arch_size) {
    struct btf* b = btf__new_empty();
    int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
    btf__add_struct(b, "task_struct", 0x1000);
    btf__add_field(b, "pid", i32, 0, 0);
    btf__add_struct(b, "other", 0x1000);
    btf__add_field(b, "x", i32, 0, 0);
    synth::VmlinuxSpec v;
    v.symbols.push_back({"_text", kLinkText, 0, STT_NOTYPE, 1});
    v.symbols.push_back({"_stext", kLinkText, 0, STT_NOTYPE, 1});
    v.symbols.push_back({"init_top_pgt", kLinkText, 0x1000, STT_OBJECT, 1});  // empty: the image is mapped directly
    v.symbols.push_back({"arch_task_struct_size", kSizeVar, 4, STT_OBJECT, 2});
    v.symbols.push_back({"_end", kLinkText + 0x2000, 0, STT_NOTYPE, 2});
    Bytes data(0x1000, 0);
    std::memcpy(data.data(), &arch_size, 4);
    int32_t pid = 42;
    std::memcpy(data.data() + 0x800, &pid, 4);
    std::memset(data.data() + 0x804, 0xab, 0x7fc);  // the rest of the task: not zeros
    v.sections = {
        {".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, kLinkText, Bytes(0x1000, 0)},
        {".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, kSizeVar, data},
        {".BTF", SHT_PROGBITS, 0, 0, synth::btf_bytes(b)},
    };
    Bytes image(0x2000, 0);
    std::memcpy(image.data() + 0x1000, data.data(), data.size());
    dumpfmt::testing::ElfSpec spec;
    spec.loads.push_back({kLinkText - kStartKernelMap, image});  // memory ends at kLinkText + 0x2000
    spec.vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=0\nKERNELOFFSET=0\n";
    return synth.open("coroner-object-sizes-test", v, spec);
  }
};

TEST(ObjectSizes, ADownsizedTaskStructIsReadUpToTheMissingPageThenZeros) {
  SizesKernel f;
  Kernel& k = f.open(0x900);
  EXPECT_EQ(kernel::downsized_size(k, "task_struct"), std::optional<uint64_t>(0x900));
  EXPECT_EQ(kernel::downsized_size(k, "other"), std::nullopt);
  auto bytes = kernel::read_shown_structure(k, "task_struct", kTask, 0x1000);
  ASSERT_TRUE(bytes) << bytes.error().message;
  ASSERT_EQ(bytes->size(), 0x1000u);
  int32_t pid;
  std::memcpy(&pid, bytes->data(), 4);
  EXPECT_EQ(pid, 42);
  EXPECT_EQ((*bytes)[0x7ff], 0xab);  // the last readable byte
  for (size_t i = 0x800; i < 0x1000; ++i) ASSERT_EQ((*bytes)[i], 0) << i;
  // Any other structure there needs all of its bytes.
  EXPECT_FALSE(kernel::read_shown_structure(k, "other", kTask, 0x1000));
  // Nothing readable at all is still an error.
  EXPECT_FALSE(kernel::read_shown_structure(k, "task_struct", kLinkText + 0x2000, 0x1000));
  // A structure that is all there is read whole.
  auto whole = kernel::read_shown_structure(k, "other", kTask, 0x800);
  ASSERT_TRUE(whole);
  EXPECT_EQ((*whole)[0x7ff], 0xab);
}

TEST(ObjectSizes, ATaskStructOfItsDebuginfoSizeIsNotDownsized) {
  SizesKernel f;
  Kernel& k = f.open(0x1000);
  EXPECT_EQ(kernel::downsized_size(k, "task_struct"), std::nullopt);
  EXPECT_FALSE(kernel::read_shown_structure(k, "task_struct", kTask, 0x1000));
}

}  // namespace
