// kernel: where a dump, an architecture and the vmlinux's symbols meet. Opens and checks
// the pair (vmlinux must match the dump), resolves KASLR, and offers typed reads of kernel
// memory by symbol and member name.
//
//   auto k = TRY(Kernel::open("vmlinux", {"vmcore"}, {}));
//   uint64_t jiffies = TRY(k->read_u64(TRY(k->symbol("jiffies"))));
//   int pid = TRY(k->member<int32_t>(task, "task_struct", "pid"));
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "arch/arch.h"
#include "base/result.h"
#include "dumpfmt/dump.h"
#include "symbols/dwarf_info.h"
#include "symbols/source_lines.h"
#include "symbols/types.h"
#include "symbols/vmlinux.h"

namespace coroner::kernel {

struct OpenOptions {
  std::optional<uint64_t> kaslr_offset;  // --kaslr OFFSET; nullopt = auto
  bool ignore_mismatch = false;          // open even when vmlinux and dump disagree
};

class Kernel {
 public:
  static Result<std::unique_ptr<Kernel>> open(const std::string& vmlinux_path,
                                              const std::vector<std::string>& dump_paths,
                                              const OpenOptions& opts);
  ~Kernel();

  dumpfmt::Dump& dump() { return *dump_; }
  symbols::Vmlinux& vmlinux() { return *vmlinux_; }
  const symbols::SymbolTable& symbols() const { return vmlinux_->symbols(); }
  symbols::Types& types() { return *types_; }
  arch::Arch& arch() { return *arch_; }
  const dumpfmt::VmcoreInfo& vmcoreinfo() const { return *vmcoreinfo_; }
  // Source lines from DWARF, opened on first use.
  symbols::SourceLines& source_lines();
  // DWARF beyond BTF (variables' types), through the cached name index; opened on first use.
  symbols::DwarfInfo& dwarf();
  const std::string& vmlinux_path() const { return vmlinux_path_; }
  const std::vector<std::string>& dump_paths() const { return dump_paths_; }
  uint64_t kaslr_offset() const { return symbols().relocation(); }
  // Warnings found while opening (shown once at start-up, like crash's).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Virtual memory.
  Result<void> read(uint64_t vaddr, std::span<uint8_t> out);
  Result<uint64_t> read_u64(uint64_t vaddr);
  Result<uint32_t> read_u32(uint64_t vaddr);
  Result<std::string> read_cstring(uint64_t vaddr, size_t max_len);
  template <typename T>
  Result<T> read_as(uint64_t vaddr) {
    T v;
    TRY(read(vaddr, std::span(reinterpret_cast<uint8_t*>(&v), sizeof(T))));
    return v;
  }

  // Symbols and types.
  Result<uint64_t> symbol(std::string_view name) const;
  Result<uint64_t> offset_of(std::string_view type, std::string_view member) { return types_->offset_of(type, member); }
  template <typename T>
  Result<T> member(uint64_t addr, std::string_view type, std::string_view path) {
    uint64_t off = TRY(types_->offset_of(type, path));
    return read_as<T>(addr + off);
  }
  // Reads an unsigned integer member of any size (1, 2, 4 or 8 bytes) as uint64_t.
  Result<uint64_t> member_uint(uint64_t addr, std::string_view type, std::string_view path);

  // Per-CPU data.
  Result<uint64_t> per_cpu_offset(int cpu);
  Result<uint64_t> per_cpu(std::string_view symbol, int cpu);  // address of a per-CPU variable
  // CPUs in a cpumask variable (cpu_online_mask / cpu_present_mask / cpu_possible_mask).
  Result<std::vector<int>> cpus_in_mask(std::string_view mask_symbol);

  // Per-Kernel state of a higher-level component (the task table, the module list), made on
  // first use and kept for the Kernel's lifetime: `k.extension<TaskTableCache>()`.
  // Each type has a small index of its own (extension_index<T>()), so finding one is a vector
  // subscript: commands call this for every frame and task (no hash of a type's name).
  template <typename T>
  T& extension() {
    size_t i = extension_index<T>();
    if (i >= extensions_.size()) extensions_.resize(i + 1);
    auto& slot = extensions_[i];
    if (!slot) slot = std::make_shared<T>();
    return *static_cast<T*>(slot.get());
  }

  // The release string of the vmlinux file (from its linux_banner), e.g. "6.1.0-56-cloud-amd64".
  std::string vmlinux_release() const;

 private:
  Kernel() = default;
  std::unique_ptr<dumpfmt::Dump> dump_;
  std::unique_ptr<symbols::Vmlinux> vmlinux_;
  std::unique_ptr<symbols::Types> types_;
  std::unique_ptr<arch::Arch> arch_;
  std::unique_ptr<dumpfmt::VmcoreInfo> vmcoreinfo_;
  std::string vmlinux_path_;
  std::vector<std::string> dump_paths_;
  std::vector<std::string> warnings_;
  std::vector<uint64_t> per_cpu_offsets_;
  std::map<std::string, std::vector<int>, std::less<>> cpu_masks_;  // cpus_in_mask(), by symbol
  std::unique_ptr<symbols::SourceLines> source_lines_;
  std::unique_ptr<symbols::DwarfInfo> dwarf_;
  std::vector<std::shared_ptr<void>> extensions_;  // by extension_index<T>()

  static size_t next_extension_index();
  template <typename T>
  static size_t extension_index() {
    static const size_t index = next_extension_index();
    return index;
  }
};

}  // namespace coroner::kernel
