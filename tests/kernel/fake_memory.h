// Kernel memory for the walker tests: 64-bit words at addresses, every other address faults.
#pragma once

#include <cstdint>
#include <map>

#include "base/result.h"
#include "kernel/walkers.h"

namespace coroner::kernel::fake {

struct FakeMemory {
  std::map<uint64_t, uint64_t> words;
  void set(uint64_t addr, uint64_t v) { words[addr] = v; }
  ReadU64 reader() {
    return [this](uint64_t addr) -> Result<uint64_t> {
      auto it = words.find(addr);
      if (it == words.end()) return Error::make(Errc::fault, "no memory at {:#x}", addr);
      return it->second;
    };
  }
};

}  // namespace coroner::kernel::fake
