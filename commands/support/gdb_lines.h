// Source lines of kernel text as gdb finds them (what `dis -l` shows): gdb does not look
// DWARF's line rows up directly. It first builds one table per source file, dropping a row
// that repeats the previous row's line, a non-statement row that only switches files at the
// same address, and closing a file's run with an end marker where another file takes over;
// a lookup takes, over those tables, the latest entry at or below the address, moving back to
// a statement entry at the same address. Following those steps matters where inlined code
// interleaves lines: the nearest DWARF row is often not the line gdb reports.
//
//   GdbLines lines(kernel);
//   if (auto loc = lines.lookup(link_addr)) fmt::print("{}: {}\n", loc->file, loc->line);
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "symbols/source_lines.h"

namespace coroner::kernel {
class Kernel;
}

namespace coroner::commands::disasm {

class GdbLines {
 public:
  explicit GdbLines(kernel::Kernel& k);

  // The file (joined to the unit's comp_dir, as gdb names it) and line of a link-time address.
  std::optional<symbols::SourceLocation> lookup(uint64_t link_addr);

 private:
  struct Entry {
    uint64_t pc;
    int line;  // 0: end of the file's run
    bool is_stmt;
  };
  struct FileTable {
    std::string name;
    std::vector<Entry> entries;
  };
  struct UnitTables {
    std::vector<FileTable> files;  // in order of first appearance
  };
  const UnitTables* unit_for(uint64_t link_addr);

  kernel::Kernel& k_;
  std::map<uint64_t, UnitTables> units_;  // by CU DIE offset
};

}  // namespace coroner::commands::disasm
