// kernel/session_flags.h: crash's flags that outlive a command (the page header printed once,
// `vm -M`'s forced mm_struct and the mm given to tasks without one), what a restart clears, and
// which failures restart (error(FATAL)) or not (error(INFO)), on a minimal synthesized kernel.
#include <bpf/btf.h>
#include <elf.h>
#include <gtest/gtest.h>

#include "kernel/kernel.h"
#include "kernel/session_flags.h"
#include "tests/dumpfmt/dump_builder.h"
#include "tests/kernel/synth_kernel.h"

using namespace coroner;
using coroner::kernel::Kernel;
using coroner::synth::Bytes;

namespace {

constexpr uint64_t kLinkText = 0xffffffff81000000ull;
constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;
constexpr uint64_t kMm = 0xffff888001234000ull, kOtherMm = 0xffff888005678000ull;
constexpr uint64_t kTaskA = 0xffff888000100000ull, kTaskB = 0xffff888000200000ull;

struct FlagsKernel {
  synth::SynthKernel synth;
  Kernel& open() {
    struct btf* b = btf__new_empty();
    btf__add_int(b, "int", 4, BTF_INT_SIGNED);
    synth::VmlinuxSpec v;
    v.symbols.push_back({"_text", kLinkText, 0, STT_NOTYPE, 1});
    v.symbols.push_back({"_stext", kLinkText, 0, STT_NOTYPE, 1});
    v.symbols.push_back({"init_top_pgt", kLinkText + 0x1000, 0x1000, STT_OBJECT, 2});
    v.symbols.push_back({"_end", kLinkText + 0x2000, 0, STT_NOTYPE, 2});
    v.sections = {
        {".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, kLinkText, Bytes(0x1000, 0)},
        {".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, kLinkText + 0x1000, Bytes(0x1000, 0)},
        {".BTF", SHT_PROGBITS, 0, 0, synth::btf_bytes(b)},
    };
    dumpfmt::testing::ElfSpec spec;
    spec.loads.push_back({kLinkText - kStartKernelMap, Bytes(0x2000, 0)});
    spec.vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=0\nKERNELOFFSET=0\n";
    return synth.open("coroner-session-flags-test", v, spec);
  }
};

TEST(SessionFlags, PageHeaderOnceUntilARestartOrKmem) {
  FlagsKernel f;
  Kernel& k = f.open();
  EXPECT_TRUE(kernel::take_page_header(k));
  EXPECT_FALSE(kernel::take_page_header(k));
  kernel::after_command(k, false);  // a command that worked: still printed
  EXPECT_FALSE(kernel::take_page_header(k));
  kernel::forget_page_header(k);  // kmem
  EXPECT_TRUE(kernel::take_page_header(k));
  kernel::after_command(k, true);  // error(FATAL): crash's restart
  EXPECT_TRUE(kernel::take_page_header(k));
  kernel::restart_session_flags(k);  // the prompt
  EXPECT_TRUE(kernel::take_page_header(k));
}

TEST(SessionFlags, InfoErrorsDoNotRestartAndAreForgottenAfterTheCommand) {
  FlagsKernel f;
  Kernel& k = f.open();
  EXPECT_TRUE(kernel::take_page_header(k));
  kernel::error_is_info(k);
  kernel::after_command(k, true);  // error(INFO): no restart
  EXPECT_FALSE(kernel::take_page_header(k));
  kernel::after_command(k, true);  // the next failure is a restart again
  EXPECT_TRUE(kernel::take_page_header(k));

  // The helper that marks and hands back the error.
  Error e = kernel::info_error(k, Error::make(Errc::not_found, "invalid task or pid value: {}", 99999));
  EXPECT_EQ(e.message, "invalid task or pid value: 99999");
  EXPECT_EQ(e.code, Errc::not_found);
  kernel::after_command(k, true);
  EXPECT_FALSE(kernel::take_page_header(k));

  // A mark on a command that then works is not carried over to the next command's failure.
  kernel::error_is_info(k);
  kernel::after_command(k, false);
  kernel::after_command(k, true);
  EXPECT_TRUE(kernel::take_page_header(k));
}

TEST(SessionFlags, ForcedMmIsGivenAndTheRestartUndoesOnlyTheLastTask) {
  FlagsKernel f;
  Kernel& k = f.open();
  EXPECT_EQ(kernel::effective_mm(k, kTaskA, 0), 0u);  // nothing forced
  kernel::force_mm(k, kMm);
  EXPECT_EQ(kernel::forced_mm(k), std::optional<uint64_t>(kMm));
  EXPECT_EQ(kernel::effective_mm(k, kTaskA, kOtherMm), kOtherMm);  // its own mm first
  EXPECT_EQ(kernel::effective_mm(k, kTaskA, 0), kMm);
  EXPECT_EQ(kernel::effective_mm(k, kTaskB, 0), kMm);
  EXPECT_EQ(kernel::given_mm(k, kTaskA), kMm);
  kernel::error_is_info(k);
  kernel::after_command(k, true);  // error(INFO): still forced
  EXPECT_EQ(kernel::forced_mm(k), std::optional<uint64_t>(kMm));
  kernel::after_command(k, true);  // restart: no force, B (the last given) undone, A kept
  EXPECT_FALSE(kernel::forced_mm(k));
  EXPECT_EQ(kernel::given_mm(k, kTaskA), kMm);
  EXPECT_EQ(kernel::given_mm(k, kTaskB), 0u);
  EXPECT_EQ(kernel::effective_mm(k, kTaskB, 0), 0u);
}

}  // namespace
