#include "kernel/printk.h"

#include <cstring>

namespace coroner::kernel {
namespace {

// Descriptor state lives in the top two bits of state_var (kernel/printk/printk_ringbuffer.h,
// 5.10): reserved, committed, finalized (5.13+), reusable.
constexpr int kStateShift = 62;
constexpr uint64_t kIdMask = ~(3ull << kStateShift);
constexpr uint64_t kStateCommitted = 1, kStateFinalized = 2;
constexpr uint32_t kMaxCountBits = 24;  // 16M descriptors: far above any real log
constexpr uint32_t kMaxSizeBits = 31;   // 2 GiB text ring

}  // namespace

Result<std::vector<LogRecord>> read_log(Kernel& k) {
  uint64_t prb_ptr = TRY(k.symbol("prb"));
  uint64_t prb = TRY(k.read_u64(prb_ptr));
  auto off = [&](std::string_view t, std::string_view m) { return k.offset_of(t, m); };
  uint64_t desc_ring = prb + TRY(off("printk_ringbuffer", "desc_ring"));
  uint64_t data_ring = prb + TRY(off("printk_ringbuffer", "text_data_ring"));
  uint32_t count_bits = TRY(k.read_u32(desc_ring + TRY(off("prb_desc_ring", "count_bits"))));
  uint64_t descs = TRY(k.read_u64(desc_ring + TRY(off("prb_desc_ring", "descs"))));
  uint64_t infos = TRY(k.read_u64(desc_ring + TRY(off("prb_desc_ring", "infos"))));
  uint64_t head_id = TRY(k.read_u64(desc_ring + TRY(off("prb_desc_ring", "head_id"))));
  uint64_t tail_id = TRY(k.read_u64(desc_ring + TRY(off("prb_desc_ring", "tail_id"))));
  uint32_t size_bits = TRY(k.read_u32(data_ring + TRY(off("prb_data_ring", "size_bits"))));
  uint64_t data = TRY(k.read_u64(data_ring + TRY(off("prb_data_ring", "data"))));
  if (count_bits > kMaxCountBits || size_bits > kMaxSizeBits)
    return Error::make(Errc::bad_data, "printk ring buffer at {:#x}: absurd sizes (count_bits {}, size_bits {})", prb, count_bits, size_bits);

  uint64_t desc_size = TRY(k.types().size_of_name("prb_desc"));
  uint64_t info_size = TRY(k.types().size_of_name("printk_info"));
  uint64_t sv_off = TRY(off("prb_desc", "state_var"));
  uint64_t lpos_off = TRY(off("prb_desc", "text_blk_lpos"));
  uint64_t begin_off = TRY(off("prb_data_blk_lpos", "begin"));
  uint64_t next_off = TRY(off("prb_data_blk_lpos", "next"));
  uint64_t seq_off = TRY(off("printk_info", "seq"));
  uint64_t ts_off = TRY(off("printk_info", "ts_nsec"));
  uint64_t len_off = TRY(off("printk_info", "text_len"));
  uint64_t fac_off = TRY(off("printk_info", "facility"));
  uint64_t caller_off = TRY(off("printk_info", "caller_id"));
  symbols::TypeRef info_t = TRY(k.types().find("printk_info"));
  symbols::MemberInfo level_m = TRY(k.types().member(info_t, "level"));
  symbols::MemberInfo flags_m = TRY(k.types().member(info_t, "flags"));

  uint64_t ndesc = 1ull << count_bits;
  uint64_t data_size = 1ull << size_bits;
  std::vector<uint8_t> desc_buf(ndesc * desc_size), info_buf(ndesc * info_size), text(data_size);
  TRY(k.read(descs, desc_buf));
  TRY(k.read(infos, info_buf));
  TRY(k.read(data, text));

  auto u64_at = [](const std::vector<uint8_t>& b, uint64_t o) {
    uint64_t v = 0;
    if (o + 8 <= b.size()) std::memcpy(&v, b.data() + o, 8);
    return v;
  };
  auto bits_at = [](const std::vector<uint8_t>& b, uint64_t base, const symbols::MemberInfo& m) {
    uint64_t byte = base + m.bit_offset / 8;
    uint32_t v = 0;
    std::memcpy(&v, b.data() + byte, std::min<uint64_t>(4, b.size() - byte));
    uint32_t width = m.bit_size ? m.bit_size : 8;
    return static_cast<uint8_t>((v >> (m.bit_offset % 8)) & ((1u << width) - 1));
  };

  std::vector<LogRecord> out;
  uint64_t id = tail_id & kIdMask;
  uint64_t end = head_id & kIdMask;
  for (uint64_t n = 0; n <= ndesc; ++n, id = (id + 1) & kIdMask) {
    uint64_t idx = id & (ndesc - 1);
    uint64_t d = idx * desc_size;
    uint64_t sv = u64_at(desc_buf, d + sv_off);
    uint64_t state = sv >> kStateShift;
    if ((sv & kIdMask) == id && (state == kStateCommitted || state == kStateFinalized)) {
      uint64_t begin = u64_at(desc_buf, d + lpos_off + begin_off);
      uint64_t next = u64_at(desc_buf, d + lpos_off + next_off);
      uint64_t i = idx * info_size;
      LogRecord r;
      r.seq = u64_at(info_buf, i + seq_off);
      r.ts_nsec = u64_at(info_buf, i + ts_off);
      uint16_t text_len = 0;
      std::memcpy(&text_len, info_buf.data() + i + len_off, 2);
      r.facility = info_buf[i + fac_off];
      r.level = bits_at(info_buf, i, level_m);
      r.flags = bits_at(info_buf, i, flags_m);
      std::memcpy(&r.caller_id, info_buf.data() + i + caller_off, 4);
      // Data blocks: [id (unsigned long)][text], possibly wrapped to the ring's start.
      if (!(begin & 1) && !(next & 1) && next != begin) {
        uint64_t bi = begin & (data_size - 1), ni = next & (data_size - 1);
        uint64_t wrap_b = begin >> size_bits, wrap_n = next >> size_bits;
        uint64_t start = 0, len = 0;
        if (wrap_b == wrap_n && ni > bi) start = bi, len = ni - bi;
        else if (wrap_b + 1 == wrap_n) start = 0, len = ni;
        if (len > 8 && start + len <= data_size) {
          uint64_t avail = len - 8;
          r.text.assign(reinterpret_cast<const char*>(text.data() + start + 8), std::min<uint64_t>(avail, text_len));
        }
      }
      out.push_back(std::move(r));
    }
    if (id == end) break;
  }
  return out;
}

}  // namespace coroner::kernel
