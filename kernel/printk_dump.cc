// The printk readers that need only a ReadMemory function and a LogLayout (from VMCOREINFO or
// from types), and the dmesg text: no Kernel, no symbols, so `coroner --dmesg` links only this
// (library coroner_printk) and the dump formats. See kernel/printk.h.
#include "kernel/printk.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <unordered_map>

namespace coroner::kernel {
namespace {

// Descriptor state lives in the top two bits of state_var (kernel/printk/printk_ringbuffer.h,
// 5.10): reserved, committed, finalized (5.13+), reusable.
constexpr int kStateShift = 62;
constexpr uint64_t kIdMask = ~(3ull << kStateShift);
constexpr uint64_t kStateCommitted = 1, kStateFinalized = 2;
constexpr uint32_t kMaxCountBits = 24;  // 16M descriptors: far above any real log
constexpr uint32_t kMaxSizeBits = 31;   // 2 GiB text ring
constexpr uint64_t kMaxLogBufLen = 1ull << 31;
// A data block starts with the descriptor ID, an unsigned long: 8 bytes on the 64-bit
// architectures coroner reads (x86_64).
constexpr uint64_t kBlockIdSize = 8;
constexpr uint32_t kCallerCpu = 0x80000000u;

class Bytes {
 public:
  explicit Bytes(std::span<const uint8_t> b) : b_(b) {}
  template <typename T>
  T get(uint64_t off) const {
    T v{};
    if (off <= b_.size() && sizeof(T) <= b_.size() - off) std::memcpy(&v, b_.data() + off, sizeof(T));
    return v;
  }
  uint8_t bits(uint64_t bit_off, uint32_t width) const {
    uint16_t w = get<uint16_t>(bit_off / 8);
    if (bit_off / 8 + 1 >= b_.size()) w = get<uint8_t>(bit_off / 8);
    return static_cast<uint8_t>((w >> (bit_off % 8)) & ((1u << width) - 1));
  }
  std::string cstring(uint64_t off, uint64_t max) const {
    if (off >= b_.size()) return "";
    max = std::min<uint64_t>(max, b_.size() - off);
    const char* p = reinterpret_cast<const char*>(b_.data() + off);
    return std::string(p, strnlen(p, max));
  }
  std::string_view view(uint64_t off, uint64_t len) const {
    if (off >= b_.size()) return {};
    len = std::min<uint64_t>(len, b_.size() - off);
    return {reinterpret_cast<const char*>(b_.data() + off), len};
  }

 private:
  std::span<const uint8_t> b_;
};

Result<uint64_t> read_word(const ReadMemory& read, uint64_t addr, uint64_t size) {
  uint64_t v = 0;
  TRY(read(addr, std::span(reinterpret_cast<uint8_t*>(&v), size)));
  return v;
}

Result<std::vector<LogRecord>> read_lockless(const ReadMemory& read, const LogLayout& L) {
  uint64_t prb = TRY(read_word(read, L.prb_symbol, 8));
  uint64_t desc_ring = prb + L.rb_desc_ring, data_ring = prb + L.rb_text_data_ring;
  uint32_t count_bits = static_cast<uint32_t>(TRY(read_word(read, desc_ring + L.dr_count_bits, 4)));
  uint32_t size_bits = static_cast<uint32_t>(TRY(read_word(read, data_ring + L.data_size_bits, 4)));
  if (count_bits > kMaxCountBits || size_bits > kMaxSizeBits || size_bits < 3)
    return Error::make(Errc::bad_data, "printk ring buffer at {:#x}: absurd sizes (count_bits {}, size_bits {})", prb,
                       count_bits, size_bits);
  uint64_t descs = TRY(read_word(read, desc_ring + L.dr_descs, 8));
  uint64_t infos = TRY(read_word(read, desc_ring + L.dr_infos, 8));
  uint64_t head_id = TRY(read_word(read, desc_ring + L.dr_head_id, 8)) & kIdMask;
  uint64_t tail_id = TRY(read_word(read, desc_ring + L.dr_tail_id, 8)) & kIdMask;
  uint64_t data = TRY(read_word(read, data_ring + L.data_data, 8));

  uint64_t ndesc = 1ull << count_bits, data_size = 1ull << size_bits;
  // Garbage sizes must not cost gigabytes: the last byte of each array is read before the
  // arrays are allocated.
  uint8_t probe = 0;
  for (auto [addr, len, what] : {std::tuple{descs, ndesc * L.desc_size, "descriptors"},
                                 std::tuple{infos, ndesc * L.info_size, "record infos"},
                                 std::tuple{data, data_size, "text data"}})
    if (len && !read(addr + len - 1, std::span(&probe, 1)))
      return Error::make(Errc::fault, "printk ring buffer at {:#x}: its {} ({:#x} bytes at {:#x}) are not in the dump", prb, what, len, addr);
  std::vector<uint8_t> desc_buf(ndesc * L.desc_size), info_buf(ndesc * L.info_size), text(data_size);
  auto reading = [](Result<void> r, const char* what, uint64_t addr) -> Result<void> {
    if (!r) return Error::make(r.error().code, "cannot read the printk ring's {} at {:#x}: {}", what, addr, r.error().message);
    return ok();
  };
  TRY(reading(read(descs, desc_buf), "descriptors", descs));
  TRY(reading(read(infos, info_buf), "record infos", infos));
  TRY(reading(read(data, text), "text data", data));
  Bytes D(desc_buf), I(info_buf), T(text);

  // From tail to head, as the kernel, crash and makedumpfile walk it. Only the last `ndesc`
  // IDs can still be in the ring (older IDs' slots hold newer IDs), which also bounds a
  // corrupt tail.
  uint64_t span = (head_id - tail_id) & kIdMask;
  uint64_t id = span >= ndesc ? (head_id - (ndesc - 1)) & kIdMask : tail_id;
  std::vector<LogRecord> out;
  for (uint64_t n = 0; n < ndesc; ++n, id = (id + 1) & kIdMask) {
    uint64_t idx = id & (ndesc - 1);
    uint64_t d = idx * L.desc_size, i = idx * L.info_size;
    uint64_t sv = D.get<uint64_t>(d + L.desc_state_var);
    uint64_t state = sv >> kStateShift;
    if ((sv & kIdMask) == id && (state == kStateCommitted || state == kStateFinalized)) {
      LogRecord r;
      r.seq = I.get<uint64_t>(i + L.info_seq);
      r.ts_nsec = I.get<uint64_t>(i + L.info_ts_nsec);
      if (L.info_facility) r.facility = I.get<uint8_t>(i + *L.info_facility);
      if (L.info_level_bit) r.level = I.bits(i * 8 + *L.info_level_bit, L.level_bits);
      if (L.info_flags_bit) r.flags = I.bits(i * 8 + *L.info_flags_bit, L.flags_bits);
      if (L.info_caller_id) r.caller_id = I.get<uint32_t>(i + *L.info_caller_id);
      if (L.info_dev_info) {
        r.subsystem = I.cstring(i + *L.info_dev_info + L.dev_subsystem, L.dev_subsystem_len);
        r.device = I.cstring(i + *L.info_dev_info + L.dev_device, L.dev_device_len);
      }
      uint64_t text_len = I.get<uint16_t>(i + L.info_text_len);
      // Block positions are logical (they count the ring's wraps); a block that does not fit
      // before the ring's end is stored from its start. crash and makedumpfile both take
      // the text this way, cutting it to the block when text_len says more.
      uint64_t begin = D.get<uint64_t>(d + L.desc_text_blk_lpos + L.lpos_begin) & (data_size - 1);
      uint64_t next = D.get<uint64_t>(d + L.desc_text_blk_lpos + L.lpos_next) & (data_size - 1);
      if (begin == next) {
        r.dataless = true;
      } else {
        if (begin > next) begin = 0;
        begin += kBlockIdSize;
        if (next - begin < text_len) text_len = next - begin;  // unsigned, as they compute it
        r.text = std::string(T.view(begin, text_len));
      }
      out.push_back(std::move(r));
    }
    if (id == head_id) break;
  }
  return out;
}

Result<std::vector<LogRecord>> read_structured(const ReadMemory& read, const LogLayout& L) {
  uint64_t buf = TRY(read_word(read, L.log_buf_symbol, 8));
  uint64_t len = TRY(read_word(read, L.log_buf_len_symbol, 4));
  uint64_t first = TRY(read_word(read, L.log_first_idx_symbol, 4));
  uint64_t next = TRY(read_word(read, L.log_next_idx_symbol, 4));
  if (len == 0 || len > kMaxLogBufLen || first >= len || next >= len || L.hdr_size == 0)
    return Error::make(Errc::bad_data, "log_buf at {:#x}: absurd indexes (log_buf_len {}, log_first_idx {}, log_next_idx {})",
                       buf, len, first, next);
  uint8_t probe = 0;
  if (!read(buf + len - 1, std::span(&probe, 1)))
    return Error::make(Errc::fault, "log_buf ({:#x} bytes at {:#x}) is not in the dump", len, buf);
  std::vector<uint8_t> bytes(len);
  auto r = read(buf, bytes);
  if (!r) return Error::make(r.error().code, "cannot read log_buf at {:#x}: {}", buf, r.error().message);
  Bytes B(bytes);

  std::vector<LogRecord> out;
  uint64_t idx = first;
  // Every record is at least a header long, so a sane buffer holds fewer than this.
  uint64_t max_records = len / L.hdr_size + 2;
  for (uint64_t n = 0; idx != next; ++n) {
    if (n > max_records) return Error::make(Errc::bad_data, "log_buf at {:#x}: records do not lead from log_first_idx to log_next_idx", buf);
    // A zero length (or no room for a header) marks the end: the next record is at the start.
    if (idx + L.hdr_size > len || B.get<uint16_t>(idx + L.hdr_len) == 0) {
      if (idx == 0) return Error::make(Errc::bad_data, "log_buf at {:#x}: empty record at the start", buf);
      idx = 0;
      continue;
    }
    uint64_t rec_len = B.get<uint16_t>(idx + L.hdr_len);
    if (rec_len < L.hdr_size || idx + rec_len > len)
      return Error::make(Errc::bad_data, "log_buf record at {:#x}: bad length {}", buf + idx, rec_len);
    LogRecord rec;
    rec.seq = out.size();
    rec.ts_nsec = B.get<uint64_t>(idx + L.hdr_ts_nsec);
    if (L.hdr_facility) rec.facility = B.get<uint8_t>(idx + *L.hdr_facility);
    if (L.hdr_level_bit) rec.level = B.bits(idx * 8 + *L.hdr_level_bit, L.level_bits);
    if (L.hdr_flags_bit) rec.flags = B.bits(idx * 8 + *L.hdr_flags_bit, L.flags_bits);
    if (L.hdr_caller_id) rec.caller_id = B.get<uint32_t>(idx + *L.hdr_caller_id);
    uint64_t text_len = std::min<uint64_t>(B.get<uint16_t>(idx + L.hdr_text_len), rec_len - L.hdr_size);
    uint64_t dict_len = std::min<uint64_t>(B.get<uint16_t>(idx + L.hdr_dict_len), rec_len - L.hdr_size - text_len);
    rec.text = std::string(B.view(idx + L.hdr_size, text_len));
    rec.dict = std::string(B.view(idx + L.hdr_size + text_len, dict_len));
    out.push_back(std::move(rec));
    idx += rec_len;
  }
  return out;
}

std::string timestamp(uint64_t ts_nsec) {
  return fmt::format("[{:5}.{:06}] ", ts_nsec / 1000000000, ts_nsec % 1000000000 / 1000);
}

}  // namespace


Result<LogLayout> log_layout_from_vmcoreinfo(const dumpfmt::VmcoreInfo& vi) {
  auto need = [&](std::optional<uint64_t> v, std::string_view what) -> Result<uint64_t> {
    if (!v) return Error::make(Errc::no_debug_info, "VMCOREINFO has no {}: give the vmlinux to read the log", what);
    return *v;
  };
  auto offset = [&](std::string_view tm) { return need(vi.offset(tm), fmt::format("OFFSET({})", tm)); };
  auto size = [&](std::string_view t) { return need(vi.size(t), fmt::format("SIZE({})", t)); };
  auto symbol = [&](std::string_view s) { return need(vi.symbol(s), fmt::format("SYMBOL({})", s)); };
  auto length = [&](std::string_view s) { return vi.number(fmt::format("LENGTH({})", s)); };
  LogLayout L;
  uint64_t counter = vi.offset("atomic_long_t.counter").value_or(0);
  if (vi.symbol("prb")) {
    // 5.10+ (kernel/printk/printk.c log_buf_vmcoreinfo_setup()).
    L.format = LogLayout::Format::lockless;
    L.prb_symbol = TRY(symbol("prb"));
    L.rb_desc_ring = TRY(offset("printk_ringbuffer.desc_ring"));
    L.rb_text_data_ring = TRY(offset("printk_ringbuffer.text_data_ring"));
    L.dr_count_bits = TRY(offset("prb_desc_ring.count_bits"));
    L.dr_descs = TRY(offset("prb_desc_ring.descs"));
    L.dr_infos = TRY(offset("prb_desc_ring.infos"));
    L.dr_head_id = TRY(offset("prb_desc_ring.head_id")) + counter;
    L.dr_tail_id = TRY(offset("prb_desc_ring.tail_id")) + counter;
    L.data_size_bits = TRY(offset("prb_data_ring.size_bits"));
    L.data_data = TRY(offset("prb_data_ring.data"));
    L.desc_size = TRY(size("prb_desc"));
    L.desc_state_var = TRY(offset("prb_desc.state_var")) + counter;
    L.desc_text_blk_lpos = TRY(offset("prb_desc.text_blk_lpos"));
    L.lpos_begin = TRY(offset("prb_data_blk_lpos.begin"));
    L.lpos_next = TRY(offset("prb_data_blk_lpos.next"));
    L.info_size = TRY(size("printk_info"));
    L.info_seq = TRY(offset("printk_info.seq"));
    L.info_ts_nsec = TRY(offset("printk_info.ts_nsec"));
    L.info_text_len = TRY(offset("printk_info.text_len"));
    L.info_caller_id = vi.offset("printk_info.caller_id");
    L.info_dev_info = vi.offset("printk_info.dev_info");
    if (L.info_dev_info) {
      L.dev_subsystem = TRY(offset("dev_printk_info.subsystem"));
      L.dev_device = TRY(offset("dev_printk_info.device"));
      L.dev_subsystem_len = length("printk_info_subsystem").value_or(0);
      L.dev_device_len = length("printk_info_device").value_or(0);
    }
  } else if (vi.symbol("log_first_idx")) {
    // 3.5 to 5.9: SIZE(printk_log) (3.11+; SIZE(log) before) and the header's offsets.
    L.format = LogLayout::Format::structured;
    L.log_buf_symbol = TRY(symbol("log_buf"));
    L.log_buf_len_symbol = TRY(symbol("log_buf_len"));
    L.log_first_idx_symbol = TRY(symbol("log_first_idx"));
    L.log_next_idx_symbol = TRY(symbol("log_next_idx"));
    std::string hdr = vi.size("printk_log") ? "printk_log" : "log";
    L.hdr_size = TRY(size(hdr));
    L.hdr_ts_nsec = TRY(offset(hdr + ".ts_nsec"));
    L.hdr_len = TRY(offset(hdr + ".len"));
    L.hdr_text_len = TRY(offset(hdr + ".text_len"));
    L.hdr_dict_len = TRY(offset(hdr + ".dict_len"));
    L.hdr_caller_id = vi.offset(hdr + ".caller_id");
  } else if (vi.empty()) {
    return Error::make(Errc::no_debug_info, "the dump has no VMCOREINFO: give the vmlinux to read the log");
  } else {
    return Error::make(Errc::no_debug_info,
                       "VMCOREINFO has neither SYMBOL(prb) (5.10+) nor SYMBOL(log_first_idx) (3.5+): give the vmlinux to read the log");
  }
  return L;
}

Result<std::vector<LogRecord>> read_log(const ReadMemory& read, const LogLayout& layout) {
  if (layout.format == LogLayout::Format::lockless) return read_lockless(read, layout);
  return read_structured(read, layout);
}


Result<std::vector<LogRecord>> read_log_from_dump(dumpfmt::Dump& dump) {
  const std::string& name = dump.info().paths.empty() ? std::string("dump") : dump.info().paths.front();
  dumpfmt::VmcoreInfo vi(dump.info().vmcoreinfo);
  auto layout = log_layout_from_vmcoreinfo(vi);
  if (!layout) return Error::make(layout.error().code, "{}: {}", name, layout.error().message);
  uint16_t machine = dump.info().machine;
  // A dump that does not say its machine (no ELF header, no utsname) but has x86_64's
  // VMCOREINFO entries ...
  if (!machine && vi.symbol("init_top_pgt")) machine = EM_X86_64;
  // ... or arm64's (QEMU's arm64 kdump files leave the header's utsname empty).
  if (!machine && vi.get("NUMBER(kimage_voffset)") && vi.get("NUMBER(VA_BITS)")) machine = EM_AARCH64;
  arch::KernelFacts facts;
  facts.symbol = [&vi](std::string_view n) { return vi.symbol(n); };
  facts.vmcoreinfo_number = [&vi](std::string_view n) { return vi.number(fmt::format("NUMBER({})", n)); };
  facts.vmcoreinfo_symbol = [&vi](std::string_view n) { return vi.symbol(n); };
  auto arch = arch::make_arch(machine, dump, facts);
  if (!arch) return Error::make(arch.error().code, "{}: {}: give the vmlinux to read the log", name, arch.error().message);
  // Without the vmlinux the direct map's base (page_offset_base, randomized by KASLR) is not
  // known, so every address goes through the kernel's page tables.
  arch::Arch& a = **arch;
  uint64_t root = a.kernel_root(), page = a.page_size();
  std::unordered_map<uint64_t, uint64_t> pages;
  ReadMemory read = [&](uint64_t va, std::span<uint8_t> out) -> Result<void> {
    size_t done = 0;
    while (done < out.size()) {
      uint64_t v = va + done, base = v & ~(page - 1);
      size_t chunk = std::min<uint64_t>(out.size() - done, base + page - v);
      auto it = pages.find(base);
      if (it == pages.end()) it = pages.emplace(base, TRY(a.walk(root, base, nullptr))).first;
      TRY(dump.read(it->second + (v - base), out.subspan(done, chunk)));
      done += chunk;
    }
    return ok();
  };
  auto records = read_log(read, *layout);
  if (!records) return Error::make(records.error().code, "{}: {}", name, records.error().message);
  return records;
}

std::string format_dmesg(const std::vector<LogRecord>& records) {
  std::string out;
  for (const auto& r : records) {
    if (r.dataless) continue;
    std::string prefix = timestamp(r.ts_nsec);
    if (r.caller_id) {
      uint32_t c = *r.caller_id;
      prefix += fmt::format("[{:>8}] ", fmt::format("{}{}", (c & kCallerCpu) ? 'C' : 'T', c & ~kCallerCpu));
    }
    out += prefix;
    for (char ch : r.text) {
      auto u = static_cast<unsigned char>(ch);
      if (ch == '\n') {
        out += '\n';
        out.append(prefix.size(), ' ');
      } else if ((u >= 0x20 && u < 0x7f) || (u >= '\t' && u <= '\r')) {
        out += ch;
      } else {
        // makedumpfile passes the byte as a (signed) char to "%02x".
        out += fmt::format("\\x{:02x}", static_cast<uint32_t>(static_cast<int32_t>(static_cast<signed char>(ch))));
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace coroner::kernel
