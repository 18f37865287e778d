// The printk layout from the vmlinux's types (kernel/printk.h); the readers themselves are in
// printk_dump.cc, which the lean `coroner --dmesg` path links without the Kernel.
#include "kernel/printk.h"

#include <optional>

namespace coroner::kernel {

Result<LogLayout> log_layout_from_types(Kernel& k) {
  LogLayout L;
  auto off = [&](std::string_view t, std::string_view m) { return k.offset_of(t, m); };
  auto opt_off = [&](std::string_view t, std::string_view m) -> std::optional<uint64_t> {
    auto r = k.offset_of(t, m);
    return r ? std::optional(*r) : std::nullopt;
  };
  symbols::Types& types = k.types();
  auto bitfield = [&](std::string_view t, std::string_view m, uint32_t* width) -> std::optional<uint64_t> {
    auto ty = types.find(t);
    if (!ty) return std::nullopt;
    auto mi = types.member(*ty, m);
    if (!mi) return std::nullopt;
    if (mi->bit_size) *width = mi->bit_size;
    else *width = 8;
    return mi->bit_offset;
  };
  uint64_t counter = opt_off("atomic_long_t", "counter").value_or(0);
  if (auto prb = k.symbols().address_of("prb")) {
    L.format = LogLayout::Format::lockless;
    L.prb_symbol = *prb;
    L.rb_desc_ring = TRY(off("printk_ringbuffer", "desc_ring"));
    L.rb_text_data_ring = TRY(off("printk_ringbuffer", "text_data_ring"));
    L.dr_count_bits = TRY(off("prb_desc_ring", "count_bits"));
    L.dr_descs = TRY(off("prb_desc_ring", "descs"));
    L.dr_infos = TRY(off("prb_desc_ring", "infos"));
    L.dr_head_id = TRY(off("prb_desc_ring", "head_id")) + counter;
    L.dr_tail_id = TRY(off("prb_desc_ring", "tail_id")) + counter;
    L.data_size_bits = TRY(off("prb_data_ring", "size_bits"));
    L.data_data = TRY(off("prb_data_ring", "data"));
    L.desc_size = TRY(types.size_of_name("prb_desc"));
    L.desc_state_var = TRY(off("prb_desc", "state_var")) + counter;
    L.desc_text_blk_lpos = TRY(off("prb_desc", "text_blk_lpos"));
    L.lpos_begin = TRY(off("prb_data_blk_lpos", "begin"));
    L.lpos_next = TRY(off("prb_data_blk_lpos", "next"));
    L.info_size = TRY(types.size_of_name("printk_info"));
    L.info_seq = TRY(off("printk_info", "seq"));
    L.info_ts_nsec = TRY(off("printk_info", "ts_nsec"));
    L.info_text_len = TRY(off("printk_info", "text_len"));
    L.info_caller_id = opt_off("printk_info", "caller_id");
    L.info_facility = opt_off("printk_info", "facility");
    L.info_level_bit = bitfield("printk_info", "level", &L.level_bits);
    L.info_flags_bit = bitfield("printk_info", "flags", &L.flags_bits);
    L.info_dev_info = opt_off("printk_info", "dev_info");
    if (L.info_dev_info) {
      L.dev_subsystem = TRY(off("dev_printk_info", "subsystem"));
      L.dev_device = TRY(off("dev_printk_info", "device"));
      L.dev_subsystem_len = L.dev_device - L.dev_subsystem;
      L.dev_device_len = TRY(types.size_of_name("dev_printk_info")) - L.dev_device;
    }
  } else if (auto first = k.symbols().address_of("log_first_idx")) {
    // 3.5 to 5.9. The record header is `struct printk_log` (3.11+) or `struct log`.
    L.format = LogLayout::Format::structured;
    L.log_first_idx_symbol = *first;
    L.log_buf_symbol = TRY(k.symbol("log_buf"));
    L.log_buf_len_symbol = TRY(k.symbol("log_buf_len"));
    L.log_next_idx_symbol = TRY(k.symbol("log_next_idx"));
    std::string_view hdr = types.find("printk_log") ? "printk_log" : "log";
    L.hdr_size = TRY(types.size_of_name(hdr));
    L.hdr_ts_nsec = TRY(off(hdr, "ts_nsec"));
    L.hdr_len = TRY(off(hdr, "len"));
    L.hdr_text_len = TRY(off(hdr, "text_len"));
    L.hdr_dict_len = TRY(off(hdr, "dict_len"));
    L.hdr_facility = opt_off(hdr, "facility");
    L.hdr_level_bit = bitfield(hdr, "level", &L.level_bits);
    L.hdr_flags_bit = bitfield(hdr, "flags", &L.flags_bits);
    L.hdr_caller_id = opt_off(hdr, "caller_id");
  } else {
    return Error::make(Errc::unsupported, "no prb or log_first_idx symbol: the kernel log of kernels before 3.5 (a plain character log_buf) is not supported");
  }
  return L;
}

Result<std::vector<LogRecord>> read_log(Kernel& k) {
  LogLayout layout = TRY(log_layout_from_types(k));
  return read_log([&k](uint64_t va, std::span<uint8_t> out) { return k.read(va, out); }, layout);
}

}  // namespace coroner::kernel
