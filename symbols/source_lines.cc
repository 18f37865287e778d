#include "symbols/source_lines.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <unistd.h>

namespace coroner::symbols {

SourceLines::~SourceLines() {
  if (dwarf_) dwarf_end(dwarf_);
  if (fd_ >= 0) close(fd_);
}

std::optional<SourceLocation> SourceLines::lookup(uint64_t addr) {
  if (!tried_) {
    tried_ = true;
    if (!vm_.has_dwarf()) return std::nullopt;
    fd_ = open(vm_.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ >= 0) dwarf_ = dwarf_begin(fd_, DWARF_C_READ);
  }
  if (!dwarf_) return std::nullopt;
  Dwarf_Die cu;
  if (!dwarf_addrdie(dwarf_, addr, &cu)) return std::nullopt;
  return line_in_unit(&cu, addr);
}

std::optional<SourceLocation> line_in_unit(Dwarf_Die* cu, uint64_t addr) {
  Dwarf_Lines* lines = nullptr;
  size_t n = 0;
  if (dwarf_getsrclines(cu, &lines, &n) != 0 || n == 0) return std::nullopt;
  // gdb's choice, which crash users see: the rows at the greatest address <= addr, and of
  // those the last one that is a statement (else the last one).
  Dwarf_Addr best_addr = 0;
  Dwarf_Line* best = nullptr;
  bool best_stmt = false;
  for (size_t i = 0; i < n; ++i) {
    Dwarf_Line* l = dwarf_onesrcline(lines, i);
    Dwarf_Addr la;
    bool end = false, stmt = false;
    if (dwarf_lineaddr(l, &la) != 0 || la > addr) continue;
    dwarf_lineendsequence(l, &end);
    if (end) continue;
    dwarf_linebeginstatement(l, &stmt);
    if (!best || la > best_addr) {
      best = l, best_addr = la, best_stmt = stmt;
    } else if (la == best_addr && (stmt || !best_stmt)) {
      best = l, best_stmt = stmt;
    }
  }
  if (!best) return std::nullopt;
  int lineno = 0;
  dwarf_lineno(best, &lineno);
  const char* file = dwarf_linesrc(best, nullptr, nullptr);
  if (!file) return std::nullopt;
  std::string path = file;
  if (path[0] != '/') {
    Dwarf_Attribute attr;
    const char* comp_dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
    if (comp_dir && *comp_dir) path = std::string(comp_dir) + "/" + path;
  }
  return SourceLocation{path, lineno};
}

}  // namespace coroner::symbols
