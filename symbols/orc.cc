#include "symbols/orc.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace coroner::symbols {

Result<OrcTable::Layout> OrcTable::layout(Types& types) {
  Layout l{};
  TypeRef t = TRY(types.find("struct orc_entry"));
  l.size = static_cast<uint32_t>(TRY(types.size_of(t)));
  if (l.size < 4 || l.size > 16) return Error::make(Errc::bad_data, "struct orc_entry: unexpected size {}", l.size);
  auto field = [&](const char* name, uint32_t& bit, uint32_t& bits) -> Result<void> {
    MemberInfo m = TRY(types.member(t, name));
    bit = static_cast<uint32_t>(m.bit_offset);
    bits = m.bit_size ? m.bit_size : static_cast<uint32_t>(TRY(types.size_of(m.type)) * 8);
    if (bits > 16 || bit + bits > l.size * 8) return Error::make(Errc::bad_data, "struct orc_entry.{}: odd bit field", name);
    return ok();
  };
  uint32_t bits = 0;
  TRY(field("sp_reg", l.sp_reg_bit, l.sp_reg_bits));
  TRY(field("bp_reg", l.bp_reg_bit, l.bp_reg_bits));
  TRY(field("type", l.type_bit, l.type_bits));
  uint32_t b = 0;
  if (types.member(t, "end")) {
    TRY(field("end", b, bits));
    l.end_bit = b;
  }
  if (types.member(t, "signal")) {
    TRY(field("signal", b, bits));
    l.signal_bit = b;
  }
  l.sp_offset_off = static_cast<uint32_t>(TRY(types.member(t, "sp_offset")).offset());
  l.bp_offset_off = static_cast<uint32_t>(TRY(types.member(t, "bp_offset")).offset());
  return l;
}

Result<OrcTable> OrcTable::from_vmlinux(const Vmlinux& vm, Types& types) {
  const Section* ip = vm.section(".orc_unwind_ip");
  const Section* un = vm.section(".orc_unwind");
  if (!ip || !un) return OrcTable{};
  return from_sections(ip->addr, vm.section_bytes(".orc_unwind_ip"), vm.section_bytes(".orc_unwind"), types);
}

Result<OrcTable> OrcTable::from_sections(uint64_t ip_base, std::span<const uint8_t> ips, std::span<const uint8_t> entries,
                                         Types& types) {
  OrcTable t;
  t.layout_ = TRY(layout(types));
  if (ips.size() % 4) return Error::make(Errc::bad_data, ".orc_unwind_ip: size {:#x} is not a multiple of 4", ips.size());
  size_t n = ips.size() / 4;
  if (entries.size() != n * t.layout_.size)
    return Error::make(Errc::bad_data, ".orc_unwind: size {:#x} does not match {} entries of .orc_unwind_ip",
                       entries.size(), n);
  t.ips_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t rel;
    std::memcpy(&rel, ips.data() + 4 * i, 4);
    t.ips_[i] = ip_base + 4 * i + static_cast<uint64_t>(static_cast<int64_t>(rel));
  }
  t.raw_.assign(entries.begin(), entries.end());
  t.order_.resize(n);
  std::iota(t.order_.begin(), t.order_.end(), 0u);
  if (!std::is_sorted(t.ips_.begin(), t.ips_.end())) {
    // The kernel's build sorts them; sort here too rather than trust the file.
    std::stable_sort(t.order_.begin(), t.order_.end(), [&](uint32_t a, uint32_t b) { return t.ips_[a] < t.ips_[b]; });
    std::vector<uint64_t> sorted(n);
    for (size_t i = 0; i < n; ++i) sorted[i] = t.ips_[t.order_[i]];
    t.ips_ = std::move(sorted);
  }
  return t;
}

std::optional<OrcEntry> OrcTable::lookup(uint64_t link_ip) const {
  auto it = std::upper_bound(ips_.begin(), ips_.end(), link_ip);
  if (it == ips_.begin()) return std::nullopt;
  size_t i = static_cast<size_t>(it - ips_.begin()) - 1;
  const uint8_t* e = raw_.data() + static_cast<size_t>(order_[i]) * layout_.size;
  uint64_t word = 0;
  std::memcpy(&word, e, std::min<size_t>(layout_.size, 8));
  auto bits = [&](uint32_t bit, uint32_t n) { return static_cast<uint32_t>((word >> bit) & ((1ull << n) - 1)); };
  OrcEntry o;
  std::memcpy(&o.sp_offset, e + layout_.sp_offset_off, 2);
  std::memcpy(&o.bp_offset, e + layout_.bp_offset_off, 2);
  o.sp_reg = static_cast<OrcReg>(bits(layout_.sp_reg_bit, layout_.sp_reg_bits));
  o.bp_reg = static_cast<OrcReg>(bits(layout_.bp_reg_bit, layout_.bp_reg_bits));
  uint32_t type = bits(layout_.type_bit, layout_.type_bits);
  if (layout_.end_bit) {
    // Before 6.4: CALL 0, REGS 1, REGS_PARTIAL 2; `end` marks the outermost frame and an
    // undefined sp_reg an unknown one.
    static constexpr OrcType old_types[] = {OrcType::call, OrcType::regs, OrcType::regs_partial, OrcType::undefined};
    o.type = old_types[type & 3];
    if (bits(*layout_.end_bit, 1)) o.type = OrcType::end_of_stack;
    else if (o.sp_reg == OrcReg::undefined) o.type = OrcType::undefined;
  } else {
    static constexpr OrcType new_types[] = {OrcType::undefined, OrcType::end_of_stack, OrcType::call, OrcType::regs,
                                            OrcType::regs_partial};
    o.type = type < 5 ? new_types[type] : OrcType::undefined;
  }
  if (layout_.signal_bit) o.signal = bits(*layout_.signal_bit, 1);
  else o.signal = o.type == OrcType::regs || o.type == OrcType::regs_partial;
  return o;
}

}  // namespace coroner::symbols
