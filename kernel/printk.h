// The kernel log, read from the lockless printk ring buffer (5.10 and later).
// (The structured log_buf of 3.5 to 5.9 is a later addition.)
//
//   auto records = TRY(read_log(k));
//   for (auto& r : records) fmt::print("[{:5}.{:06}] {}\n", r.ts_nsec / 1000000000, r.ts_nsec % 1000000000 / 1000, r.text);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct LogRecord {
  uint64_t seq;
  uint64_t ts_nsec;
  uint8_t facility;
  uint8_t level;
  uint8_t flags;
  uint32_t caller_id;
  std::string text;
};

Result<std::vector<LogRecord>> read_log(Kernel& k);

}  // namespace coroner::kernel
