// ORC tables (.orc_unwind_ip + .orc_unwind, as in vmlinux and in each module) of any bytes,
// in both struct orc_entry layouts (before 6.4: type:2 + end:1; 6.4 and later: type:3 +
// signal:1), then lookups: no crash, no unbounded allocation, errors for malformed sizes.
//
// Input: byte 0 picks the layout, bytes 1..8 the ip base, bytes 9..12 how many of the rest
// are .orc_unwind_ip; the remainder is .orc_unwind.
#include <bpf/btf.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "symbols/btf_types.h"
#include "symbols/orc.h"

namespace {

std::unique_ptr<coroner::symbols::BtfTypes> make_types(bool since_6_4) {
  struct btf* b = btf__new_empty();
  int s16 = btf__add_int(b, "short int", 2, BTF_INT_SIGNED);
  int u32 = btf__add_int(b, "unsigned int", 4, 0);
  btf__add_struct(b, "orc_entry", 6);
  btf__add_field(b, "sp_offset", s16, 0, 0);
  btf__add_field(b, "bp_offset", s16, 16, 0);
  btf__add_field(b, "sp_reg", u32, 32, 4);
  btf__add_field(b, "bp_reg", u32, 36, 4);
  btf__add_field(b, "type", u32, 40, since_6_4 ? 3 : 2);
  btf__add_field(b, since_6_4 ? "signal" : "end", u32, since_6_4 ? 43 : 42, 1);
  uint32_t size = 0;
  const auto* raw = static_cast<const uint8_t*>(btf__raw_data(b, &size));
  std::vector<uint8_t> bytes(raw, raw + size);
  btf__free(b);
  auto t = coroner::symbols::BtfTypes::from_bytes(bytes, "fuzz.btf");
  if (!t) __builtin_trap();
  return std::move(*t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto old_layout = make_types(false);
  static auto new_layout = make_types(true);
  if (size < 13) return 0;
  uint64_t ip_base;
  uint32_t ip_bytes;
  std::memcpy(&ip_base, data + 1, 8);
  std::memcpy(&ip_bytes, data + 9, 4);
  std::span<const uint8_t> rest(data + 13, size - 13);
  ip_bytes = static_cast<uint32_t>(std::min<size_t>(ip_bytes, rest.size()));
  auto& types = (data[0] & 1) ? *new_layout : *old_layout;
  auto t = coroner::symbols::OrcTable::from_sections(ip_base, rest.first(ip_bytes), rest.subspan(ip_bytes), types);
  if (!t) return 0;
  (void)t->lookup(ip_base);
  (void)t->lookup(ip_base + 4 * t->size());
  for (size_t i = 0; i + 8 <= rest.size() && i < 64; i += 8) {
    uint64_t ip;
    std::memcpy(&ip, rest.data() + i, 8);
    (void)t->lookup(ip);
  }
  return 0;
}
