// Names and strings for printing values from a dump: pointers into the kernel image print
// as <symbol+offset>, char pointers as the string they point to (gdb's conventions).
//
//   KernelValueContext ctx(kernel);
//   std::string text = TRY(kernel.types().format_value(type, bytes, ctx));
#pragma once

#include "kernel/kernel.h"
#include "kernel/modules.h"

namespace coroner::kernel {

class KernelValueContext final : public symbols::ValueContext {
 public:
  explicit KernelValueContext(Kernel& k, int radix = 10) : k_(k), radix_(radix) {}
  int radix() const override { return radix_; }
  std::optional<std::string> symbolize(uint64_t addr) override {
    auto text = k_.symbols().address_of("_text");
    auto end = k_.symbols().address_of("_end");
    if (!text || !end) return std::nullopt;
    if (addr < *text || addr >= *end) return module_symbol(addr);
    auto hit = k_.symbols().lookup(addr);
    if (!hit) return std::nullopt;
    if (hit->offset) return fmt::format("{}+{}", hit->symbol->name, hit->offset);
    return std::string(hit->symbol->name);
  }
  std::optional<std::string> read_string(uint64_t addr, size_t max) override {
    auto s = k_.read_cstring(addr, max);
    if (!s) return std::nullopt;
    return *s;
  }

  // gdb names a module address only once `mod -s/-S` gave it the module's object file;
  // nullopt for any other address.
  std::optional<std::string> module_symbol(uint64_t addr) {
    auto table = modules(k_);
    if (!table) return std::nullopt;
    const Module* m = (*table)->containing(addr);
    if (!m || !m->object) return std::nullopt;
    auto at = symbol_at(k_, addr);
    if (!at || at->module != m->name || at->region_end || at->type == 'm') return std::nullopt;
    if (at->offset) return fmt::format("{}+{}", at->name, at->offset);
    return at->name;
  }

 private:
  Kernel& k_;
  int radix_ = 10;
};

}  // namespace coroner::kernel
