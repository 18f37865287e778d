#include "commands/support/gdb_lines.h"

#include <dwarf.h>
#include <elfutils/libdw.h>

#include <algorithm>
#include <unordered_map>

#include "kernel/kernel.h"

namespace coroner::commands::disasm {

GdbLines::GdbLines(kernel::Kernel& k) : k_(k) {}

const GdbLines::UnitTables* GdbLines::unit_for(uint64_t link_addr) {
  auto dw = k_.dwarf().dwarf();
  if (!dw) return nullptr;
  Dwarf_Die cu;
  if (!dwarf_addrdie(*dw, link_addr, &cu)) return nullptr;
  uint64_t key = dwarf_dieoffset(&cu);
  if (auto it = units_.find(key); it != units_.end()) return &it->second;

  Dwarf_Lines* lines = nullptr;
  size_t n = 0;
  if (dwarf_getsrclines(&cu, &lines, &n) != 0) return nullptr;
  Dwarf_Attribute attr;
  const char* comp_dir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr));

  UnitTables unit;
  std::unordered_map<const char*, size_t> file_index;
  auto table_of = [&](const char* file) -> FileTable& {
    auto [it, fresh] = file_index.emplace(file, unit.files.size());
    if (fresh) {
      std::string name = file;
      if (!name.empty() && name[0] != '/' && comp_dir && *comp_dir) name = std::string(comp_dir) + "/" + name;
      // gdb's file names have no empty components ("asm/trace/" + "/fpu.h").
      for (size_t p = name.find("//"); p != std::string::npos; p = name.find("//", p)) name.erase(p, 1);
      unit.files.push_back(FileTable{std::move(name), {}});
    }
    return unit.files[it->second];
  };
  // An end marker drops the entries it lands on (lines with no code of their own).
  auto end_run = [&](FileTable& t, uint64_t pc) {
    std::optional<int> last_line;
    while (!t.entries.empty()) {
      last_line = t.entries.back().line;
      if (t.entries.back().pc != pc) break;
      t.entries.pop_back();
    }
    if (!last_line || *last_line == 0) return;
    t.entries.push_back(Entry{pc, 0, true});
  };

  // The line program's rows, one sequence at a time (libdw keeps rows in sequence order).
  const char* last_file = nullptr;
  int last_line = 0;
  bool have_last_address = false;
  uint64_t last_address = 0;
  bool stmt_at_address = false;         // a statement row seen at last_address
  int machine_line = 0;             // the line register of the previous row
  bool line_had_discriminator = false;  // since the line register last changed
  for (size_t i = 0; i < n; ++i) {
    Dwarf_Line* l = dwarf_onesrcline(lines, i);
    Dwarf_Addr addr = 0;
    int line = 0;
    bool stmt = false, end = false;
    if (dwarf_lineaddr(l, &addr) != 0) continue;
    dwarf_lineno(l, &line);
    dwarf_linebeginstatement(l, &stmt);
    dwarf_lineendsequence(l, &end);
    unsigned int discriminator = 0;
    dwarf_linediscriminator(l, &discriminator);
    const char* file = dwarf_linesrc(l, nullptr, nullptr);
    if (!file) continue;
    if (line != machine_line) line_had_discriminator = false;
    line_had_discriminator |= discriminator != 0;
    machine_line = line;
    bool file_changed = file != last_file;
    // A non-statement row switching files where a statement row already sits is dropped.
    bool ignore = (file_changed && !end && have_last_address && last_address == addr && !stmt && stmt_at_address) ||
                  (!end && line == 0);
    if (((file_changed && !ignore) || end) && last_file) end_run(table_of(last_file), addr);
    if (!end && !ignore) {
      // A repeated line is dropped only when it has carried a discriminator (gdb PR 17276).
      if (file_changed || line != last_line || !line_had_discriminator)
        table_of(file).entries.push_back(Entry{addr, line, stmt});
      last_file = file;
      last_line = line;
    }
    if (!have_last_address || last_address != addr) {
      stmt_at_address = false;
      have_last_address = true;
      last_address = addr;
    }
    stmt_at_address |= stmt;
    if (end) {
      last_file = nullptr;
      last_line = 0;
      have_last_address = false;
      stmt_at_address = false;
      machine_line = 0;
      line_had_discriminator = false;
    }
  }
  for (auto& f : unit.files)
    std::stable_sort(f.entries.begin(), f.entries.end(), [](const Entry& a, const Entry& b) {
      if (a.pc != b.pc) return a.pc < b.pc;
      return a.line == 0 && b.line != 0;  // end markers first at one address
    });
  return &units_.emplace(key, std::move(unit)).first->second;
}

std::optional<symbols::SourceLocation> GdbLines::lookup(uint64_t link_addr) {
  const UnitTables* unit = unit_for(link_addr);
  if (!unit) return std::nullopt;
  const FileTable* best_file = nullptr;
  const Entry* best = nullptr;
  for (const auto& f : unit->files) {
    const auto& e = f.entries;
    auto it = std::upper_bound(e.begin(), e.end(), link_addr, [](uint64_t pc, const Entry& x) { return pc < x.pc; });
    if (it == e.begin()) continue;
    const Entry* prev = &*(it - 1);
    if (prev->line == 0) continue;
    if (best && prev->pc <= best->pc) continue;
    // Landed on a non-statement entry: a statement entry at the same address wins.
    const Entry* tmp = prev;
    while (tmp > e.data() && (tmp - 1)->pc == tmp->pc && (tmp - 1)->line != 0 && !tmp->is_stmt) --tmp;
    best = tmp->is_stmt ? tmp : prev;
    best_file = &f;
  }
  if (!best) return std::nullopt;
  return symbols::SourceLocation{best_file->name, best->line};
}

}  // namespace coroner::commands::disasm
