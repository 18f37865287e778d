// Synthesized machines for the page-table tests: physical memory as an ELF dump (one PT_LOAD,
// tests/dumpfmt/dump_builder.h), the Arch made for it from a symbol map and the dump's
// VMCOREINFO, and assertions on walks. The x86_64 (x86_64_test.cc) and arm64 (arm64_test.cc)
// tests build their fake machines on it.
//
//   synth::Machine m;
//   ASSERT_TRUE(m.open(EM_X86_64, 0, mem, "PAGESIZE=4096\n", {{"init_top_pgt", pgd_va}}));
//   std::vector<arch::WalkStep> steps;
//   ASSERT_TRUE(synth::walks_to(*m.arch, vaddr, paddr, &steps));
//   ASSERT_TRUE(synth::walk_fails(*m.arch, bad, Errc::fault, {"PMD not present"}));
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arch/arch.h"
#include "base/result.h"
#include "dumpfmt/dump.h"

namespace coroner::synth {

using Symbols = std::map<std::string, uint64_t>;  // name -> runtime address

// KernelFacts answering from `symbols` and from VMCOREINFO text: NUMBER(x) and plain KEY=value
// entries (hexadecimal when written 0x...); no SYMBOL(x).
arch::KernelFacts kernel_facts(Symbols symbols, const std::string& vmcoreinfo);

struct Machine {
  std::unique_ptr<dumpfmt::Dump> dump;
  std::unique_ptr<arch::Arch> arch;
  // An ELF dump of `mem` at physical `paddr` for `machine` (e_machine) with `vmcoreinfo`, and
  // its Arch from kernel_facts(symbols, vmcoreinfo).
  ::testing::AssertionResult open(uint16_t machine, uint64_t paddr, const std::vector<uint8_t>& mem,
                                  const std::string& vmcoreinfo, const Symbols& symbols);
};

// `vaddr` walks from the kernel root to physical `want`; the steps go to `steps` when given.
::testing::AssertionResult walks_to(arch::Arch& a, uint64_t vaddr, uint64_t want,
                                    std::vector<arch::WalkStep>* steps = nullptr);
// `vaddr`'s walk from the kernel root fails, with `code` when given, and its message holds each
// of `parts`; the steps go to `steps` when given.
::testing::AssertionResult walk_fails(arch::Arch& a, uint64_t vaddr, std::optional<Errc> code,
                                      const std::vector<std::string>& parts,
                                      std::vector<arch::WalkStep>* steps = nullptr);

}  // namespace coroner::synth
