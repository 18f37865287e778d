#include "commands/support/symstr.h"

#include <fmt/format.h>

namespace coroner::commands {

// crash's value_to_symstr() for -s: "name" or "name+offset" for addresses in the kernel's
// symbol range. Like crash's value_search(), an exact hit names the first symbol at that
// address in crash's order (ELF section symbols such as ".data" included, names sorted),
// any other address the last symbol below it.
std::optional<std::string> value_to_symstr(kernel::Kernel& k, uint64_t v) {
  const auto& st = k.symbols();
  auto text = st.address_of("_text");
  auto end = st.address_of("_end");
  if (!text || !end || v < *text || v > *end) return std::nullopt;
  auto hit = st.lookup(v);
  if (!hit) return std::nullopt;
  if (hit->offset) return fmt::format("{}+{}", symbols::display_name(hit->symbol->name), hit->offset);
  std::string_view best = hit->symbol->name;
  const auto& all = st.all();
  for (auto it = all.begin() + (hit->symbol - all.data()); it >= all.begin() && it->link_addr == hit->symbol->link_addr; --it) {
    if (it->relocatable && it->type != 'A' && it->type != 'a' && it->name < best) best = it->name;
    if (it == all.begin()) break;
  }
  uint64_t link = v - st.relocation();
  for (const auto& sec : k.vmlinux().sections())
    if ((sec.flags & 0x2 /* SHF_ALLOC */) && sec.addr == link && !sec.name.empty() && sec.name < best) best = sec.name;
  return std::string(symbols::display_name(best));
}

}  // namespace coroner::commands
