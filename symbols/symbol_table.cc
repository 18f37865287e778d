#include "symbols/symbol_table.h"

#include <algorithm>

namespace coroner::symbols {

void SymbolTable::finish() {
  // Equal addresses sort by name: crash lists them so, and resolves an address to the last.
  std::stable_sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
    return a.link_addr != b.link_addr ? a.link_addr < b.link_addr : a.name < b.name;
  });
  by_name_.clear();
  by_name_.reserve(symbols_.size());
  for (uint32_t i = 0; i < symbols_.size(); ++i) by_name_.emplace(symbols_[i].name, i);
  const Symbol* start = find("__per_cpu_start");
  const Symbol* end = find("__per_cpu_end");
  per_cpu_start_ = start && end ? start->link_addr : 0;
  per_cpu_end_ = start && end ? end->link_addr : 0;
}

const Symbol* SymbolTable::find(std::string_view name) const {
  auto [b, e] = by_name_.equal_range(name);
  const Symbol* best = nullptr;
  // Prefer a global definition over a local one of the same name, like nm-sorted tools do.
  for (auto it = b; it != e; ++it) {
    const Symbol* s = &symbols_[it->second];
    if (!best || (std::isupper(static_cast<unsigned char>(s->type)) && !std::isupper(static_cast<unsigned char>(best->type))) ||
        (std::isupper(static_cast<unsigned char>(s->type)) == std::isupper(static_cast<unsigned char>(best->type)) && s->link_addr < best->link_addr))
      best = s;
  }
  return best;
}

std::vector<const Symbol*> SymbolTable::find_all(std::string_view name) const {
  std::vector<const Symbol*> out;
  auto [b, e] = by_name_.equal_range(name);
  for (auto it = b; it != e; ++it) out.push_back(&symbols_[it->second]);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b2) { return a->link_addr < b2->link_addr; });
  return out;
}

std::optional<SymbolHit> SymbolTable::lookup(uint64_t runtime_addr) const {
  if (runtime_addr < reloc_) return std::nullopt;
  uint64_t link = runtime_addr - reloc_;
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), link,
                             [](uint64_t a, const Symbol& s) { return a < s.link_addr; });
  while (it != symbols_.begin()) {
    --it;
    if (!it->relocatable) continue;
    if (it->type == 'A' || it->type == 'a') continue;
    return SymbolHit{&*it, link - it->link_addr};
  }
  return std::nullopt;
}

}  // namespace coroner::symbols
