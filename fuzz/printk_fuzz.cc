// The printk readers over fake kernel memory: the input is the memory (mapped at one
// address, the `prb` / log_buf symbols at its start), read through the 5.10+ ring layout and
// the 3.5-5.9 log_buf layout of the 6.1 and 5.4 kernels. Any bytes must give records or an
// error, never a crash, a hang or a huge allocation.
#include <cstdint>
#include <cstring>
#include <span>

#include "kernel/printk.h"

namespace {

using coroner::kernel::LogLayout;
constexpr uint64_t kBase = 0xffffffff81000000ull;

LogLayout ring() {
  LogLayout L;
  L.format = LogLayout::Format::lockless;
  L.prb_symbol = kBase;
  L.rb_desc_ring = 0, L.rb_text_data_ring = 48;
  L.dr_count_bits = 0, L.dr_descs = 8, L.dr_infos = 16, L.dr_head_id = 24, L.dr_tail_id = 32;
  L.data_size_bits = 0, L.data_data = 8;
  L.desc_size = 24, L.desc_state_var = 0, L.desc_text_blk_lpos = 8, L.lpos_begin = 0, L.lpos_next = 8;
  L.info_size = 88, L.info_seq = 0, L.info_ts_nsec = 8, L.info_text_len = 16, L.info_facility = 18;
  L.info_flags_bit = 19 * 8, L.info_level_bit = 19 * 8 + 5, L.info_caller_id = 20;
  L.info_dev_info = 24, L.dev_subsystem = 0, L.dev_subsystem_len = 16, L.dev_device = 16, L.dev_device_len = 48;
  return L;
}

LogLayout log_buf() {
  LogLayout L;
  L.format = LogLayout::Format::structured;
  L.log_buf_symbol = kBase, L.log_buf_len_symbol = kBase + 8, L.log_first_idx_symbol = kBase + 12,
  L.log_next_idx_symbol = kBase + 16;
  L.hdr_size = 16, L.hdr_ts_nsec = 0, L.hdr_len = 8, L.hdr_text_len = 10, L.hdr_dict_len = 12;
  L.hdr_facility = 14, L.hdr_flags_bit = 15 * 8, L.hdr_level_bit = 15 * 8 + 5;
  return L;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  coroner::kernel::ReadMemory read = [&](uint64_t va, std::span<uint8_t> out) -> coroner::Result<void> {
    if (va < kBase || va - kBase > size || out.size() > size - (va - kBase))
      return coroner::Error::fault(va, "outside the fake memory");
    if (!out.empty()) std::memcpy(out.data(), data + (va - kBase), out.size());
    return coroner::ok();
  };
  for (const LogLayout& L : {ring(), log_buf()})
    if (auto records = coroner::kernel::read_log(read, L)) (void)coroner::kernel::format_dmesg(*records);
  return 0;
}
