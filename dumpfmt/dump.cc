#include "dumpfmt/dump.h"

#include <charconv>

namespace coroner::dumpfmt {

Result<void> Dump::read(uint64_t paddr, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    auto n = read_upto(paddr + done, out.subspan(done));
    if (!n) return n.error();
    if (*n == 0) return Error::fault(paddr + done, fmt::format("read error: physical address {:#x}: no data", paddr + done));
    done += *n;
  }
  return ok();
}

VmcoreInfo::VmcoreInfo(std::string_view text) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    entries_.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }
}

std::optional<std::string_view> VmcoreInfo::get(std::string_view key) const {
  for (auto& [k, v] : entries_)
    if (k == key) return v;
  return std::nullopt;
}

std::optional<uint64_t> VmcoreInfo::number(std::string_view key, int base) const {
  auto v = get(key);
  if (!v) return std::nullopt;
  std::string_view s = *v;
  bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  if (base == 16 && s.size() > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return neg ? static_cast<uint64_t>(-static_cast<int64_t>(out)) : out;
}

std::optional<uint64_t> VmcoreInfo::symbol(std::string_view name) const {
  return number(fmt::format("SYMBOL({})", name), 16);
}
std::optional<uint64_t> VmcoreInfo::offset(std::string_view type_member) const {
  return number(fmt::format("OFFSET({})", type_member), 10);
}
std::optional<uint64_t> VmcoreInfo::size(std::string_view type) const {
  return number(fmt::format("SIZE({})", type), 10);
}

}  // namespace coroner::dumpfmt
