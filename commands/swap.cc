// swap: the swap devices in use (swap_info[], SWP_USED), as crash 9 lists them:
//
//   SWAP_INFO_STRUCT    TYPE       SIZE       USED     PCT  PRI  FILENAME
//   ffff880153d45f40  PARTITION  7192568k   1200580k  16%   -1  /dev/dm-1
//
// With no swap configured only the header is printed.
#include "commands/builtin.h"
#include "kernel/kernel.h"
#include "kernel/swap.h"

namespace coroner::commands {
namespace {

// crash's mkstring(CENTER|RJUST): the odd space on the left.
std::string center_rjust(const std::string& s, size_t width) {
  if (s.size() >= width) return s;
  size_t extra = width - s.size();
  size_t left = extra / 2 + extra % 2;
  return std::string(left, ' ') + s + std::string(extra - left, ' ');
}

Result<void> run_swap(Session& s, const Args&, Output& out) {
  kernel::Kernel& k = s.kernel;
  auto devices = TRY(kernel::swap_devices(k));
  out.print("SWAP_INFO_STRUCT    TYPE       SIZE       USED     PCT  PRI  FILENAME\n");
  uint64_t kb_shift = 0;
  for (uint64_t p = k.arch().page_size(); p > 1024; p >>= 1) ++kb_shift;
  for (auto& d : devices) {
    uint64_t size_kb = d.pages << kb_shift, used_kb = d.inuse_pages << kb_shift;
    uint64_t pct = size_kb ? used_kb * 100 / size_kb : 0;
    std::string addr = fmt::format("{:x}", d.addr);
    size_t left = addr.size() < 16 ? (16 - addr.size()) / 2 : 0;
    addr = std::string(left, ' ') + addr + std::string(addr.size() < 16 ? 16 - addr.size() - left : 0, ' ');
    out.print("{}  {} {} {} {} {:>4}  {}\n", addr, d.partition ? "PARTITION" : "  FILE   ",
              center_rjust(fmt::format("{}k", size_kb), 10), center_rjust(fmt::format("{}k", used_kb), 10),
              center_rjust(fmt::format("{:2}%", pct), 4), d.prio, d.path);
  }
  return ok();
}

}  // namespace

std::vector<Command> swap_commands() {
  return {Command{CommandSpec{"swap", {}, "swap device information", " ", {}, {"swap"}}, run_swap}};
}

}  // namespace coroner::commands
