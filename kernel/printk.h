// The kernel log: records of the lockless printk ring buffer (5.10 and later) and of the
// structured `log_buf` (3.5 to 5.9), and the two text layouts that show them: crash's `log`
// and `makedumpfile --dump-dmesg`.
//
// The readers see kernel memory only through a ReadMemory function and take every offset
// from a LogLayout, which comes either from the vmlinux's types (BTF) or from the dump's own
// VMCOREINFO (which carries the printk symbols, sizes and offsets: the lockless ring's since
// 5.10, log_buf's since 3.5), so `coroner --dmesg DUMP` needs no vmlinux.
//
//   auto records = TRY(read_log(k));                             // with a vmlinux
//   auto layout = TRY(log_layout_from_vmcoreinfo(vmcoreinfo));   // without
//   auto records = TRY(read_log(read_fn, layout));
//   std::string text = format_dmesg(records);                    // makedumpfile's layout
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "arch/arch.h"
#include "dumpfmt/dump.h"
#include "kernel/kernel.h"

namespace coroner::kernel {

struct LogRecord {
  uint64_t seq = 0;
  uint64_t ts_nsec = 0;
  uint8_t facility = 0;
  uint8_t level = 0;  // 0 when the layout does not say where the level is (VMCOREINFO)
  uint8_t flags = 0;
  std::optional<uint32_t> caller_id;  // bit 31 set: a CPU number, else a thread ID
  // A record whose text block holds nothing (the kernel could not store its text): crash
  // shows it as an empty line, makedumpfile leaves it out.
  bool dataless = false;
  std::string text;
  // dev_printk() data: SUBSYSTEM and DEVICE (5.10+ dev_printk_info), or the old format's
  // dictionary ("KEY=value" strings separated by NUL).
  std::string subsystem, device;
  std::string dict;
};

// Where things are. Offsets are from the start of the named structure.
struct LogLayout {
  enum class Format { lockless, structured };
  Format format = Format::lockless;

  // Lockless ring (kernel/printk/printk_ringbuffer.h, 5.10+).
  uint64_t prb_symbol = 0;  // address of `prb` (a pointer to the ring)
  uint64_t rb_desc_ring = 0, rb_text_data_ring = 0;
  uint64_t dr_count_bits = 0, dr_descs = 0, dr_infos = 0, dr_head_id = 0, dr_tail_id = 0;
  uint64_t data_size_bits = 0, data_data = 0;
  uint64_t desc_size = 0, desc_state_var = 0, desc_text_blk_lpos = 0, lpos_begin = 0, lpos_next = 0;
  uint64_t info_size = 0, info_seq = 0, info_ts_nsec = 0, info_text_len = 0;
  std::optional<uint64_t> info_caller_id;  // caller_id: always in 5.10+
  std::optional<uint64_t> info_facility;
  std::optional<uint64_t> info_level_bit, info_flags_bit;  // bit offsets of the bit fields (BTF only)
  uint32_t level_bits = 3, flags_bits = 5;
  std::optional<uint64_t> info_dev_info;  // printk_info.dev_info (struct dev_printk_info)
  uint64_t dev_subsystem = 0, dev_subsystem_len = 0, dev_device = 0, dev_device_len = 0;

  // Structured log_buf (kernel/printk/printk.c, 3.5 to 5.9; struct log, printk_log from 3.11).
  uint64_t log_buf_symbol = 0, log_buf_len_symbol = 0, log_first_idx_symbol = 0, log_next_idx_symbol = 0;
  uint64_t hdr_size = 0, hdr_ts_nsec = 0, hdr_len = 0, hdr_text_len = 0, hdr_dict_len = 0;
  std::optional<uint64_t> hdr_facility;
  std::optional<uint64_t> hdr_level_bit, hdr_flags_bit;
  std::optional<uint64_t> hdr_caller_id;  // 5.1+ with CONFIG_PRINTK_CALLER
};

// Reads `out.size()` bytes of kernel virtual memory at `vaddr`.
using ReadMemory = std::function<Result<void>(uint64_t vaddr, std::span<uint8_t> out)>;

// The layout from the vmlinux's types and symbols.
Result<LogLayout> log_layout_from_types(Kernel& k);
// The layout from VMCOREINFO alone. Kernels before 3.5 (plain character log_buf) and dumps
// without the entries fail with an error saying that the vmlinux is needed.
Result<LogLayout> log_layout_from_vmcoreinfo(const dumpfmt::VmcoreInfo& vi);

// Every readable record, oldest first. Reads are bounded by the ring's own sizes, which are
// checked first; records the kernel had not finished writing, or had already recycled, are
// left out (as crash and makedumpfile do).
Result<std::vector<LogRecord>> read_log(const ReadMemory& read, const LogLayout& layout);
Result<std::vector<LogRecord>> read_log(Kernel& k);

// The log from a dump alone (no vmlinux): the layout and the page-table root from
// VMCOREINFO (SYMBOL(init_top_pgt), NUMBER(phys_base), NUMBER(pgtable_l5_enabled) on
// x86_64), every address translated by a page-table walk.
Result<std::vector<LogRecord>> read_log_from_dump(dumpfmt::Dump& dump);

// makedumpfile --dump-dmesg's text: "[%5lu.%06lu] ", the caller ID "[%8s] " when the layout
// has one, continuation lines indented to the text, other unprintable bytes as \xNN (of the
// byte as a signed char, as makedumpfile prints it), no line for data-less records.
std::string format_dmesg(const std::vector<LogRecord>& records);

}  // namespace coroner::kernel
