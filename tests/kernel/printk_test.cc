// The printk readers on synthesized kernel memory: the lockless ring (5.10+) with wrapped,
// reserved, recycled, data-less and truncated records; the structured log_buf (3.5-5.9)
// with wrap-around and overwritten records; layouts from VMCOREINFO; makedumpfile's text.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "kernel/printk.h"

namespace coroner::kernel {
namespace {

// Kernel virtual memory made of separate regions.
class FakeMemory {
 public:
  std::vector<uint8_t>& region(uint64_t base, size_t size) {
    auto& r = regions_[base];
    r.resize(size);
    return r;
  }
  template <typename T>
  void put(uint64_t addr, T v) {
    for (auto& [base, bytes] : regions_)
      if (addr >= base && addr + sizeof(T) <= base + bytes.size()) {
        std::memcpy(bytes.data() + (addr - base), &v, sizeof(T));
        return;
      }
    ADD_FAILURE() << "no region at " << std::hex << addr;
  }
  void put_bytes(uint64_t addr, std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) put<uint8_t>(addr + i, static_cast<uint8_t>(s[i]));
  }
  ReadMemory reader() {
    return [this](uint64_t va, std::span<uint8_t> out) -> Result<void> {
      for (auto& [base, bytes] : regions_)
        if (va >= base && va + out.size() <= base + bytes.size()) {
          std::memcpy(out.data(), bytes.data() + (va - base), out.size());
          return ok();
        }
      return Error::fault(va, fmt::format("no memory at {:#x}", va));
    };
  }

 private:
  std::map<uint64_t, std::vector<uint8_t>> regions_;
};

// The 6.1 layout (offsets as in its VMCOREINFO), with the level and caller ID.
constexpr uint64_t kPrbSym = 0xffffffff81000000, kRing = 0xffffffff81001000;
constexpr uint64_t kDescs = 0xffff888000100000, kInfos = 0xffff888000200000, kData = 0xffff888000300000;
constexpr uint32_t kCountBits = 3, kSizeBits = 8;  // 8 descriptors, 256 bytes of text
constexpr uint64_t kDescSize = 24, kInfoSize = 88;

LogLayout ring_layout() {
  LogLayout L;
  L.format = LogLayout::Format::lockless;
  L.prb_symbol = kPrbSym;
  L.rb_desc_ring = 0, L.rb_text_data_ring = 48;
  L.dr_count_bits = 0, L.dr_descs = 8, L.dr_infos = 16, L.dr_head_id = 24, L.dr_tail_id = 32;
  L.data_size_bits = 0, L.data_data = 8;
  L.desc_size = kDescSize, L.desc_state_var = 0, L.desc_text_blk_lpos = 8, L.lpos_begin = 0, L.lpos_next = 8;
  L.info_size = kInfoSize, L.info_seq = 0, L.info_ts_nsec = 8, L.info_text_len = 16;
  L.info_facility = 18;
  L.info_flags_bit = 19 * 8, L.flags_bits = 5;
  L.info_level_bit = 19 * 8 + 5, L.level_bits = 3;
  L.info_caller_id = 20;
  L.info_dev_info = 24, L.dev_subsystem = 0, L.dev_subsystem_len = 16, L.dev_device = 16, L.dev_device_len = 48;
  return L;
}

struct Ring {
  FakeMemory mem;
  uint64_t ndesc = 1u << kCountBits, size = 1u << kSizeBits;
  Ring() {
    mem.region(kPrbSym, 8);
    mem.region(kRing, 88);
    mem.region(kDescs, ndesc * kDescSize);
    mem.region(kInfos, ndesc * kInfoSize);
    mem.region(kData, size);
    mem.put<uint64_t>(kPrbSym, kRing);
    mem.put<uint32_t>(kRing + 0, kCountBits);
    mem.put<uint64_t>(kRing + 8, kDescs);
    mem.put<uint64_t>(kRing + 16, kInfos);
    mem.put<uint32_t>(kRing + 48, kSizeBits);
    mem.put<uint64_t>(kRing + 56, kData);
  }
  void ids(uint64_t tail, uint64_t head) {
    mem.put<uint64_t>(kRing + 32, tail);
    mem.put<uint64_t>(kRing + 24, head);
  }
  // A record with ID `id` in state `state`, its text block at logical positions [begin, next).
  void record(uint64_t id, uint64_t state, uint64_t begin, uint64_t next, std::string_view text, uint64_t ts = 0,
              uint8_t level = 6, uint32_t caller = 1, uint16_t text_len = 0xffff) {
    uint64_t d = kDescs + (id % ndesc) * kDescSize, i = kInfos + (id % ndesc) * kInfoSize;
    mem.put<uint64_t>(d, (state << 62) | id);
    mem.put<uint64_t>(d + 8, begin);
    mem.put<uint64_t>(d + 16, next);
    mem.put<uint64_t>(i, id);  // seq
    mem.put<uint64_t>(i + 8, ts);
    mem.put<uint16_t>(i + 16, text_len == 0xffff ? static_cast<uint16_t>(text.size()) : text_len);
    mem.put<uint8_t>(i + 19, static_cast<uint8_t>(level << 5));
    mem.put<uint32_t>(i + 20, caller);
    if (begin == next) return;
    // The block: the ID, then the text; a block that does not fit before the end starts at 0.
    uint64_t b = begin % size, n = next % size;
    uint64_t at = b > n ? 0 : b;
    mem.put<uint64_t>(kData + at, id);
    mem.put_bytes(kData + at + 8, text);
  }
  Result<std::vector<LogRecord>> read() { return read_log(mem.reader(), ring_layout()); }
};

constexpr uint64_t kCommitted = 1, kFinalized = 2, kReserved = 0, kReusable = 3;

TEST(PrintkRing, ReadsTailToHead) {
  Ring r;
  r.record(0, kFinalized, 0, 24, "first", 1500000, 5, 0);
  r.record(1, kFinalized, 24, 48, "second", 2000000000, 6, 0x80000001);
  r.record(2, kCommitted, 48, 72, "third");
  r.ids(0, 2);
  auto recs = r.read();
  ASSERT_TRUE(recs) << recs.error().message;
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_EQ((*recs)[0].text, "first");
  EXPECT_EQ((*recs)[0].level, 5);
  EXPECT_EQ((*recs)[1].text, "second");
  EXPECT_EQ((*recs)[1].caller_id, 0x80000001u);
  EXPECT_EQ((*recs)[2].text, "third");
  EXPECT_EQ(format_dmesg(*recs),
            "[    0.001500] [      T0] first\n"
            "[    2.000000] [      C1] second\n"
            "[    0.000000] [      T1] third\n");
}

TEST(PrintkRing, WrappedBlockIsReadFromTheRingStart) {
  Ring r;
  // Logical positions past one wrap: the block [240, 256+24) does not fit in [240, 256).
  r.record(9, kFinalized, 200, 240, "before wrap");
  r.record(10, kFinalized, 240, 256 + 24, "wrapped");
  r.ids(9, 10);
  auto recs = r.read();
  ASSERT_TRUE(recs) << recs.error().message;
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_EQ((*recs)[0].text, "before wrap");
  EXPECT_EQ((*recs)[1].text, "wrapped");
}

TEST(PrintkRing, SkipsReservedRecycledAndMismatchedRecords) {
  Ring r;
  r.record(4, kFinalized, 0, 16, "ok");
  r.record(5, kReserved, 16, 40, "being written");
  r.record(6, kReusable, 40, 64, "recycled");
  r.record(7, kFinalized, 64, 80, "ok2");
  r.ids(3, 7);  // slot 3 still holds ID 0 (never written): an ID mismatch
  auto recs = r.read();
  ASSERT_TRUE(recs) << recs.error().message;
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_EQ((*recs)[0].text, "ok");
  EXPECT_EQ((*recs)[1].text, "ok2");
}

TEST(PrintkRing, ContinuationLinesAndUnprintableBytes) {
  Ring r;
  r.record(0, kFinalized, 0, 40, "one\ntwo\x01\xc3", 0, 6, 12);
  r.ids(0, 0);
  auto recs = r.read();
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_EQ(format_dmesg(*recs),
            "[    0.000000] [     T12] one\n"
            "                          two\\x01\\xffffffc3\n");
}

TEST(PrintkRing, DatalessAndTruncatedRecords) {
  Ring r;
  r.record(0, kFinalized, 1, 1, "");                    // FAILED_LPOS: no text block
  r.record(1, kFinalized, 0, 16, "truncated text", 0, 6, 1, 14);  // block holds 8 bytes of text
  r.ids(0, 1);
  auto recs = r.read();
  ASSERT_TRUE(recs) << recs.error().message;
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_TRUE((*recs)[0].dataless);
  EXPECT_EQ((*recs)[1].text, "truncate");
  EXPECT_EQ(format_dmesg(*recs), "[    0.000000] [      T1] truncate\n");
}

TEST(PrintkRing, DevPrintkInfo) {
  Ring r;
  r.record(0, kFinalized, 0, 24, "pci thing");
  r.mem.put_bytes(kInfos + 24, std::string("pci\0", 4));
  r.mem.put_bytes(kInfos + 24 + 16, std::string("+pci:0000:00:01.0\0", 18));
  r.ids(0, 0);
  auto recs = r.read();
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_EQ((*recs)[0].subsystem, "pci");
  EXPECT_EQ((*recs)[0].device, "+pci:0000:00:01.0");
}

TEST(PrintkRing, CorruptTailIsBounded) {
  Ring r;
  r.record(1000, kFinalized, 0, 16, "last");
  r.ids(5, 1000);  // 995 IDs apart in an 8-slot ring
  auto recs = r.read();
  ASSERT_TRUE(recs) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ((*recs)[0].text, "last");
}

TEST(PrintkRing, AbsurdSizesAndUnreadableMemoryAreErrors) {
  Ring r;
  r.mem.put<uint32_t>(kRing, 40);
  auto recs = r.read();
  ASSERT_FALSE(recs);
  EXPECT_NE(recs.error().message.find("absurd sizes"), std::string::npos) << recs.error().message;

  Ring r2;
  r2.mem.put<uint64_t>(kRing + 56, 0xdead000000000000);  // text ring pointer into nothing
  auto recs2 = r2.read();
  ASSERT_FALSE(recs2);
  EXPECT_NE(recs2.error().message.find("text data (0x100 bytes at 0xdead000000000000) are not in the dump"), std::string::npos) << recs2.error().message;
}

// struct printk_log (3.11-5.9): ts_nsec u64, len u16, text_len u16, dict_len u16, facility
// u8, flags:5 level:3, caller_id u32 (5.1+ CONFIG_PRINTK_CALLER): 20 bytes, padded to 24.
constexpr uint64_t kLogBufSym = 0xffffffff82000000, kLogBuf = 0xffff888001000000;
constexpr uint64_t kHdr = 24;

struct LogBuf {
  FakeMemory mem;
  uint32_t len;
  explicit LogBuf(uint32_t size) : len(size) {
    mem.region(kLogBufSym, 32);  // log_buf, log_buf_len, log_first_idx, log_next_idx
    mem.region(kLogBuf, size);
    mem.put<uint64_t>(kLogBufSym, kLogBuf);
    mem.put<uint32_t>(kLogBufSym + 8, size);
  }
  LogLayout layout() const {
    LogLayout L;
    L.format = LogLayout::Format::structured;
    L.log_buf_symbol = kLogBufSym, L.log_buf_len_symbol = kLogBufSym + 8;
    L.log_first_idx_symbol = kLogBufSym + 16, L.log_next_idx_symbol = kLogBufSym + 24;
    L.hdr_size = kHdr, L.hdr_ts_nsec = 0, L.hdr_len = 8, L.hdr_text_len = 10, L.hdr_dict_len = 12;
    L.hdr_facility = 14, L.hdr_flags_bit = 15 * 8, L.hdr_level_bit = 15 * 8 + 5;
    L.hdr_caller_id = 16;
    return L;
  }
  // Writes a record at idx; returns the next index (records are 8-byte aligned).
  uint32_t record(uint32_t idx, std::string_view text, std::string_view dict = {}, uint64_t ts = 0, uint8_t level = 4) {
    uint32_t size = static_cast<uint32_t>((kHdr + text.size() + dict.size() + 7) & ~7ull);
    mem.put<uint64_t>(kLogBuf + idx, ts);
    mem.put<uint16_t>(kLogBuf + idx + 8, static_cast<uint16_t>(size));
    mem.put<uint16_t>(kLogBuf + idx + 10, static_cast<uint16_t>(text.size()));
    mem.put<uint16_t>(kLogBuf + idx + 12, static_cast<uint16_t>(dict.size()));
    mem.put<uint8_t>(kLogBuf + idx + 15, static_cast<uint8_t>(level << 5));
    mem.put<uint32_t>(kLogBuf + idx + 16, 7);
    mem.put_bytes(kLogBuf + idx + kHdr, text);
    mem.put_bytes(kLogBuf + idx + kHdr + text.size(), dict);
    return idx + size;
  }
  void indexes(uint32_t first, uint32_t next) {
    mem.put<uint32_t>(kLogBufSym + 16, first);
    mem.put<uint32_t>(kLogBufSym + 24, next);
  }
  Result<std::vector<LogRecord>> read() { return read_log(mem.reader(), layout()); }
};

TEST(PrintkLogBuf, ReadsFirstToNext) {
  LogBuf b(256);
  uint32_t i = b.record(0, "hello", std::string_view("SUBSYSTEM=pci\0DEVICE=+pci:0000:00:01.0", 38), 3000000, 3);
  i = b.record(i, "world");
  b.indexes(0, i);
  auto recs = b.read();
  ASSERT_TRUE(recs) << recs.error().message;
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_EQ((*recs)[0].text, "hello");
  EXPECT_EQ((*recs)[0].dict, std::string("SUBSYSTEM=pci\0DEVICE=+pci:0000:00:01.0", 38));
  EXPECT_EQ((*recs)[0].level, 3);
  EXPECT_EQ((*recs)[0].ts_nsec, 3000000u);
  EXPECT_EQ((*recs)[0].caller_id, 7u);
  EXPECT_EQ((*recs)[1].text, "world");
}

TEST(PrintkLogBuf, WrapsAtAZeroLengthHeaderAndSkipsOverwrittenRecords) {
  LogBuf b(160);
  // The oldest surviving record is at 96 (records before it were overwritten by the two
  // newest ones at the start); a zero header at 128 sends the reader back to 0.
  b.record(96, "old");        // 96..128
  uint32_t i = b.record(0, "new1");   // 0..32
  i = b.record(i, "new2");            // 32..64
  b.indexes(96, i);
  auto recs = b.read();
  ASSERT_TRUE(recs) << recs.error().message;
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_EQ((*recs)[0].text, "old");
  EXPECT_EQ((*recs)[1].text, "new1");
  EXPECT_EQ((*recs)[2].text, "new2");
}

TEST(PrintkLogBuf, BadRecordLengthsAreErrors) {
  LogBuf b(128);
  b.record(0, "x");
  b.mem.put<uint16_t>(kLogBuf + 8, 4);  // shorter than a header
  b.indexes(0, 64);
  auto recs = b.read();
  ASSERT_FALSE(recs);
  EXPECT_NE(recs.error().message.find("bad length 4"), std::string::npos) << recs.error().message;

  LogBuf loop(128);
  loop.indexes(0, 64);  // every header is zero: the reader goes back to 0 forever
  auto recs2 = loop.read();
  ASSERT_FALSE(recs2);

  LogBuf past(128);
  past.indexes(200, 0);
  ASSERT_FALSE(past.read());
}

TEST(PrintkLayout, FromVmcoreinfo) {
  std::string text =
      "OSRELEASE=6.1.0\nSYMBOL(prb)=ffffffff912622c0\nOFFSET(printk_ringbuffer.desc_ring)=0\n"
      "OFFSET(printk_ringbuffer.text_data_ring)=48\nOFFSET(prb_desc_ring.count_bits)=0\n"
      "OFFSET(prb_desc_ring.descs)=8\nOFFSET(prb_desc_ring.infos)=16\nOFFSET(prb_desc_ring.head_id)=24\n"
      "OFFSET(prb_desc_ring.tail_id)=32\nSIZE(prb_desc)=24\nOFFSET(prb_desc.state_var)=0\n"
      "OFFSET(prb_desc.text_blk_lpos)=8\nOFFSET(prb_data_blk_lpos.begin)=0\nOFFSET(prb_data_blk_lpos.next)=8\n"
      "SIZE(printk_info)=88\nOFFSET(printk_info.seq)=0\nOFFSET(printk_info.ts_nsec)=8\n"
      "OFFSET(printk_info.text_len)=16\nOFFSET(printk_info.caller_id)=20\nOFFSET(printk_info.dev_info)=24\n"
      "OFFSET(dev_printk_info.subsystem)=0\nLENGTH(printk_info_subsystem)=16\nOFFSET(dev_printk_info.device)=16\n"
      "LENGTH(printk_info_device)=48\nOFFSET(prb_data_ring.size_bits)=0\nOFFSET(prb_data_ring.data)=8\n"
      "OFFSET(atomic_long_t.counter)=0\n";
  dumpfmt::VmcoreInfo vi(text);
  auto L = log_layout_from_vmcoreinfo(vi);
  ASSERT_TRUE(L) << L.error().message;
  EXPECT_EQ(L->format, LogLayout::Format::lockless);
  EXPECT_EQ(L->prb_symbol, 0xffffffff912622c0u);
  EXPECT_EQ(L->rb_text_data_ring, 48u);
  EXPECT_EQ(L->info_caller_id, 20u);
  EXPECT_EQ(L->dev_device_len, 48u);
  EXPECT_FALSE(L->info_level_bit);

  dumpfmt::VmcoreInfo missing("OSRELEASE=6.1.0\nSYMBOL(prb)=ffffffff912622c0\n");
  auto bad = log_layout_from_vmcoreinfo(missing);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "VMCOREINFO has no OFFSET(printk_ringbuffer.desc_ring): give the vmlinux to read the log");

  dumpfmt::VmcoreInfo old("OSRELEASE=2.6.32\nSYMBOL(log_buf)=ffffffff81000000\nSYMBOL(log_end)=ffffffff81000008\n");
  auto o = log_layout_from_vmcoreinfo(old);
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("give the vmlinux"), std::string::npos);

  dumpfmt::VmcoreInfo structured(
      "SYMBOL(log_buf)=ffffffff81000000\nSYMBOL(log_buf_len)=ffffffff81000008\nSYMBOL(log_first_idx)=ffffffff81000010\n"
      "SYMBOL(log_next_idx)=ffffffff81000018\nSIZE(printk_log)=16\nOFFSET(printk_log.ts_nsec)=0\n"
      "OFFSET(printk_log.len)=8\nOFFSET(printk_log.text_len)=10\nOFFSET(printk_log.dict_len)=12\n");
  auto s = log_layout_from_vmcoreinfo(structured);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->format, LogLayout::Format::structured);
  EXPECT_EQ(s->hdr_size, 16u);
}

}  // namespace
}  // namespace coroner::kernel
