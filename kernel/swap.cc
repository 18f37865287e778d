#include "kernel/swap.h"

#include <charconv>

#include <fmt/format.h>

#include "kernel/files.h"

namespace coroner::kernel {
namespace {

constexpr uint64_t kMaxSwapfiles = 1024;

// crash's version test: the release string's first three numbers.
bool release_at_least(const std::string& release, int major, int minor, int patch) {
  int v[3] = {0, 0, 0};
  const char* p = release.data();
  const char* end = p + release.size();
  for (int i = 0; i < 3 && p < end; ++i) {
    auto [q, ec] = std::from_chars(p, end, v[i]);
    if (ec != std::errc()) break;
    p = q;
    if (p < end && *p == '.') ++p;
    else break;
  }
  if (v[0] != major) return v[0] > major;
  if (v[1] != minor) return v[1] > minor;
  return v[2] >= patch;
}

Result<bool> l1tf_layout(Kernel& k) {
  if (k.symbols().find("l1tf_mitigation")) return true;
  auto release = k.vmcoreinfo().get("OSRELEASE");
  std::string r = release ? std::string(*release) : k.vmlinux_release();
  return release_at_least(r, 4, 18, 1);
}

// The path of swap_info_struct.swap_file: the file's path, with "/dev" in front when the
// mount is devtmpfs (or udev) and the path does not start with /dev/ (crash's get_swapdev).
Result<std::string> swap_file_path(Kernel& k, uint64_t si) {
  uint64_t file = TRY(k.member<uint64_t>(si, "swap_info_struct", "swap_file"));
  if (!file) return std::string("(unknown)");
  std::string path = TRY(file_path(k, file));
  uint64_t mnt = TRY(k.member<uint64_t>(file, "file", "f_path.mnt"));
  if (mnt) {
    uint64_t mount = mnt - TRY(k.offset_of("mount", "mnt"));
    uint64_t name = TRY(k.member<uint64_t>(mount, "mount", "mnt_devname"));
    std::string devname = name ? TRY(k.read_cstring(name, 256)) : "";
    if ((devname == "devtmpfs" || devname == "udev") && path.rfind("/dev/", 0) != 0) path = "/dev" + path;
  }
  return path;
}

// Whether the swap area is a block device rather than a file: swap_info_struct.old_block_size
// (non-zero for a block device) as crash reads it where the member exists (6.1 has it); later
// kernels dropped it (6.12's BTF has no old_block_size), and there the SWP_BLKDEV flag (its
// value from the kernel's own enum) says it: crash 9 prints PARTITION for 6.12's /dev/vda.
Result<bool> is_block_device(Kernel& k, uint64_t si, uint64_t flags) {
  if (k.offset_of("swap_info_struct", "old_block_size"))
    return TRY(k.member_uint(si, "swap_info_struct", "old_block_size")) != 0;
  auto blkdev = k.types().enumerator("SWP_BLKDEV");
  if (blkdev && *blkdev > 0 && *blkdev < 64) return (flags & uint64_t(*blkdev)) != 0;
  // The flags enum is anonymous and unused by any variable, so BTF may not keep it (6.12's
  // does not): ask what the kernel's claim_swapfile() asks, S_ISBLK of the swap file's inode.
  constexpr uint64_t kIfmt = 0170000, kIfblk = 0060000;  // POSIX st_mode encoding
  uint64_t file = TRY(k.member<uint64_t>(si, "swap_info_struct", "swap_file"));
  if (!file) return false;
  uint64_t inode = TRY(k.member<uint64_t>(file, "file", "f_inode"));
  if (!inode) return Error::make(Errc::bad_data, "swap_info_struct {:#x}: swap_file {:#x} has no inode", si, file);
  return (TRY(k.member_uint(inode, "inode", "i_mode")) & kIfmt) == kIfblk;
}

}  // namespace

SwapEntry decode_swap_pte_x86_64(uint64_t pte, bool inverted) {
  if (inverted) return {pte >> 59, (~pte << 5) >> 14};
  return {(pte >> 9) & 0x1f, pte >> 15};
}

Result<SwapEntry> decode_swap_pte(Kernel& k, uint64_t pte) {
  if (k.arch().name() != "x86_64")
    return Error::make(Errc::unsupported, "swap entries of {} are not decoded", k.arch().name());
  bool inverted = TRY(l1tf_layout(k));
  if (!inverted) {
    auto release = k.vmcoreinfo().get("OSRELEASE");
    if (release && !release_at_least(std::string(*release), 4, 8, 0))
      return Error::make(Errc::unsupported, "swap PTE {:x}: the swap entry layout before 4.8 is not supported", pte);
  }
  return decode_swap_pte_x86_64(pte, inverted);
}

Result<std::string> swap_device_name(Kernel& k, uint64_t type) {
  const std::string unknown = "(unknown swap location)";
  auto nr_sym = k.symbols().address_of("nr_swapfiles");
  auto info_sym = k.symbols().address_of("swap_info");
  if (!nr_sym || !info_sym) return unknown;
  uint64_t nr = TRY(k.read_u32(*nr_sym));
  if (type >= nr || type >= kMaxSwapfiles) return unknown;
  uint64_t si = TRY(k.read_u64(*info_sym + type * 8));
  if (!si) return unknown;
  return swap_file_path(k, si);
}

Result<std::string> swap_location(Kernel& k, uint64_t pte) {
  SwapEntry e = TRY(decode_swap_pte(k, pte));
  return fmt::format("{}  OFFSET: {}", TRY(swap_device_name(k, e.type)), e.offset);
}

Result<std::vector<SwapDevice>> swap_devices(Kernel& k) {
  uint64_t nr_sym = TRY(k.symbol("nr_swapfiles"));
  uint64_t info = TRY(k.symbol("swap_info"));
  uint64_t nr = TRY(k.read_u32(nr_sym));
  if (nr > kMaxSwapfiles) return Error::make(Errc::bad_data, "nr_swapfiles {} is absurd", nr);
  std::vector<SwapDevice> out;
  for (uint64_t i = 0; i < nr; ++i) {
    uint64_t si = TRY(k.read_u64(info + i * 8));
    if (!si) continue;
    uint64_t flags = TRY(k.member_uint(si, "swap_info_struct", "flags"));
    if (!(flags & 1)) continue;  // SWP_USED
    SwapDevice d;
    d.addr = si;
    d.partition = TRY(is_block_device(k, si, flags));
    d.pages = TRY(k.member_uint(si, "swap_info_struct", "pages"));
    d.inuse_pages = TRY(k.member_uint(si, "swap_info_struct", "inuse_pages"));
    d.prio = TRY(k.member<int16_t>(si, "swap_info_struct", "prio"));
    d.path = TRY(swap_file_path(k, si));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace coroner::kernel
