// symbols: the vmlinux ELF file: its symbol table, sections, build ID and BTF, read with
// libelf over a read-only mapping. Knows nothing of dumps; addresses here are link-time
// addresses unless a SymbolTable has been given a relocation (KASLR) offset.
//
//   auto vm = TRY(Vmlinux::open("vmlinux"));
//   const Symbol* s = vm->symbols().find("jiffies");
//   std::string banner = TRY(vm->read_cstring(vm->symbols().find("linux_banner")->link_addr, 512));
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "symbols/symbol_table.h"

namespace coroner::symbols {

struct Section {
  std::string name;
  uint64_t addr;    // sh_addr
  uint64_t offset;  // sh_offset
  uint64_t size;
  uint32_t type;
  uint64_t flags;
};

class Vmlinux {
 public:
  static Result<std::unique_ptr<Vmlinux>> open(const std::string& path);
  ~Vmlinux();

  const std::string& path() const { return file_->path(); }
  uint16_t machine() const { return machine_; }
  const std::string& build_id() const { return build_id_; }  // lowercase hex, empty if none
  const std::vector<Section>& sections() const { return sections_; }
  const Section* section(std::string_view name) const;
  SymbolTable& symbols() { return symbols_; }
  const SymbolTable& symbols() const { return symbols_; }
  bool has_dwarf() const { return section(".debug_info") != nullptr; }

  // Bytes of an allocated, file-backed section at a link-time address.
  Result<std::span<const uint8_t>> bytes_at(uint64_t link_addr, uint64_t len) const;
  Result<std::string> read_cstring(uint64_t link_addr, size_t max_len) const;
  // Contents of a section by name (empty span if absent).
  std::span<const uint8_t> section_bytes(std::string_view name) const;

 private:
  Vmlinux() = default;
  std::unique_ptr<MappedFile> file_;
  uint16_t machine_ = 0;
  std::string build_id_;
  std::vector<Section> sections_;
  SymbolTable symbols_;
};

}  // namespace coroner::symbols
