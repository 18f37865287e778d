#include "symbols/symbol_table.h"

#include <algorithm>
#include <bit>
#include <functional>

namespace coroner::symbols {

void SymbolTable::finish() {
  // Equal addresses sort by name: crash lists them so, and resolves an address to the last.
  std::stable_sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
    return a.link_addr != b.link_addr ? a.link_addr < b.link_addr : a.name < b.name;
  });
  size_t slots = std::bit_ceil(std::max<size_t>(16, symbols_.size() + symbols_.size() / 2));
  by_name_.assign(slots, NameSlot{0, 0});
  for (uint32_t i = 0; i < symbols_.size(); ++i) {
    size_t h = std::hash<std::string_view>{}(symbols_[i].name);
    size_t at = h & (slots - 1);
    while (by_name_[at].index_plus_1) at = (at + 1) & (slots - 1);
    by_name_[at] = NameSlot{static_cast<uint32_t>(h), i + 1};
  }
  const Symbol* start = find("__per_cpu_start");
  const Symbol* end = find("__per_cpu_end");
  per_cpu_start_ = start && end ? start->link_addr : 0;
  per_cpu_end_ = start && end ? end->link_addr : 0;
}

template <typename F>
void SymbolTable::for_each_named(std::string_view name, F&& f) const {
  if (by_name_.empty()) return;
  size_t h = std::hash<std::string_view>{}(name);
  size_t mask = by_name_.size() - 1;
  for (size_t at = h & mask; by_name_[at].index_plus_1; at = (at + 1) & mask) {
    const NameSlot& slot = by_name_[at];
    if (slot.hash == static_cast<uint32_t>(h) && symbols_[slot.index_plus_1 - 1].name == name) f(&symbols_[slot.index_plus_1 - 1]);
  }
}

const Symbol* SymbolTable::find(std::string_view name) const {
  const Symbol* best = nullptr;
  // Prefer a global definition over a local one of the same name, like nm-sorted tools do.
  for_each_named(name, [&](const Symbol* s) {
    if (!best || (std::isupper(static_cast<unsigned char>(s->type)) && !std::isupper(static_cast<unsigned char>(best->type))) ||
        (std::isupper(static_cast<unsigned char>(s->type)) == std::isupper(static_cast<unsigned char>(best->type)) &&
         (s->link_addr < best->link_addr || (s->link_addr == best->link_addr && s > best))))
      best = s;  // equal otherwise: the later in address order, as before
  });
  return best;
}

std::vector<const Symbol*> SymbolTable::find_all(std::string_view name) const {
  std::vector<const Symbol*> out;
  for_each_named(name, [&](const Symbol* s) { out.push_back(s); });
  // By address; equal addresses the later in the table first.
  std::sort(out.begin(), out.end(), [](auto* a, auto* b2) { return a->link_addr != b2->link_addr ? a->link_addr < b2->link_addr : a > b2; });
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
