// Source file and line of a kernel text address, from the vmlinux's DWARF line tables
// (libdw), opened lazily on first use so start-up never pays for DWARF.
//
//   SourceLines lines(vmlinux);
//   if (auto loc = lines.lookup(link_addr)) fmt::print("{}: {}\n", loc->file, loc->line);
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <elfutils/libdw.h>

#include "symbols/vmlinux.h"

namespace coroner::symbols {

struct SourceLocation {
  std::string file;  // as gdb names it: relative names joined to the CU's comp_dir
  int line;
};

// The row gdb reports for `addr` in the line table of the compile unit `cu` (a vmlinux's or a
// module's), its file name joined to the unit's comp_dir as gdb names it.
std::optional<SourceLocation> line_in_unit(Dwarf_Die* cu, uint64_t addr);

class SourceLines {
 public:
  explicit SourceLines(const Vmlinux& vm) : vm_(vm) {}
  ~SourceLines();
  SourceLines(const SourceLines&) = delete;
  SourceLines& operator=(const SourceLines&) = delete;

  // The line-table row covering a link-time address; nullopt when DWARF has none.
  std::optional<SourceLocation> lookup(uint64_t link_addr);

 private:
  const Vmlinux& vm_;
  Dwarf* dwarf_ = nullptr;
  int fd_ = -1;
  bool tried_ = false;
};

}  // namespace coroner::symbols
