#include "tests/arch/synth_arch.h"

#include <fmt/format.h>

#include "tests/dumpfmt/dump_builder.h"

namespace coroner::synth {

arch::KernelFacts kernel_facts(Symbols symbols, const std::string& vmcoreinfo) {
  arch::KernelFacts facts;
  facts.symbol = [symbols = std::move(symbols)](std::string_view n) -> std::optional<uint64_t> {
    auto it = symbols.find(std::string(n));
    return it == symbols.end() ? std::nullopt : std::optional<uint64_t>(it->second);
  };
  auto number = [vmcoreinfo](const std::string& key) -> std::optional<uint64_t> {
    dumpfmt::VmcoreInfo v(vmcoreinfo);
    auto s = v.get(key);
    bool hex = s && s->size() > 2 && (*s)[1] == 'x';
    return v.number(key, hex ? 16 : 10);
  };
  facts.vmcoreinfo_number = [number](std::string_view n) { return number(fmt::format("NUMBER({})", n)); };
  facts.vmcoreinfo_symbol = [](std::string_view) -> std::optional<uint64_t> { return std::nullopt; };
  facts.vmcoreinfo_entry = [number](std::string_view n) { return number(std::string(n)); };
  return facts;
}

::testing::AssertionResult Machine::open(uint16_t machine, uint64_t paddr, const std::vector<uint8_t>& mem,
                                         const std::string& vmcoreinfo, const Symbols& symbols) {
  dumpfmt::testing::ElfSpec spec;
  spec.machine = machine;
  spec.loads.push_back({paddr, mem});
  spec.vmcoreinfo = vmcoreinfo;
  auto d = dumpfmt::testing::open_bytes({dumpfmt::testing::build_elf(spec)});
  if (!d) return ::testing::AssertionFailure() << "dump: " << d.error().message;
  dump = std::move(*d);
  auto a = arch::make_arch(machine, *dump, kernel_facts(symbols, vmcoreinfo));
  if (!a) return ::testing::AssertionFailure() << "arch: " << a.error().message;
  arch = std::move(*a);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult walks_to(arch::Arch& a, uint64_t vaddr, uint64_t want, std::vector<arch::WalkStep>* steps) {
  if (steps) steps->clear();
  auto p = a.walk(a.kernel_root(), vaddr, steps);
  if (!p) return ::testing::AssertionFailure() << fmt::format("walk of {:#x}: ", vaddr) << p.error().message;
  if (*p != want) return ::testing::AssertionFailure() << fmt::format("walk of {:#x} gives {:#x}, not {:#x}", vaddr, *p, want);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult walk_fails(arch::Arch& a, uint64_t vaddr, std::optional<Errc> code,
                                      const std::vector<std::string>& parts, std::vector<arch::WalkStep>* steps) {
  if (steps) steps->clear();
  auto p = a.walk(a.kernel_root(), vaddr, steps);
  if (p) return ::testing::AssertionFailure() << fmt::format("walk of {:#x} gives {:#x}", vaddr, *p);
  if (code && p.error().code != *code)
    return ::testing::AssertionFailure() << fmt::format("walk of {:#x}: error code {}, not {}: ", vaddr,
                                                        static_cast<int>(p.error().code), static_cast<int>(*code))
                                         << p.error().message;
  for (const auto& part : parts)
    if (p.error().message.find(part) == std::string::npos)
      return ::testing::AssertionFailure() << fmt::format("walk of {:#x}: no \"{}\" in: ", vaddr, part) << p.error().message;
  return ::testing::AssertionSuccess();
}

}  // namespace coroner::synth
