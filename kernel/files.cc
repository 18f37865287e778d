#include "kernel/files.h"

#include <fmt/format.h>

namespace coroner::kernel {
namespace {

constexpr int kMaxDepth = 4096;
constexpr uint64_t kMaxFds = 1u << 20;

Result<std::string> dentry_name(Kernel& k, uint64_t dentry) {
  uint64_t q = dentry + TRY(k.offset_of("dentry", "d_name"));
  uint64_t name = TRY(k.read_u64(q + TRY(k.offset_of("qstr", "name"))));
  if (!name) return std::string();
  return k.read_cstring(name, 4096);
}

}  // namespace

Result<std::pair<uint64_t, uint64_t>> read_path(Kernel& k, uint64_t path_addr) {
  uint64_t mnt = TRY(k.read_u64(path_addr + TRY(k.offset_of("path", "mnt"))));
  uint64_t dentry = TRY(k.read_u64(path_addr + TRY(k.offset_of("path", "dentry"))));
  return std::pair{mnt, dentry};
}

Result<std::string> path_of(Kernel& k, uint64_t vfsmount, uint64_t dentry) {
  uint64_t d_parent = TRY(k.offset_of("dentry", "d_parent"));
  uint64_t mnt_root = TRY(k.offset_of("vfsmount", "mnt_root"));
  // struct mount embeds the vfsmount (3.3+); without it, no mount crossing.
  auto mount_mnt = k.offset_of("mount", "mnt");
  std::vector<std::string> parts;
  uint64_t mount = mount_mnt && vfsmount ? vfsmount - *mount_mnt : 0;
  std::string last_root_name;
  for (int depth = 0;; ++depth) {
    if (depth > kMaxDepth) return Error::make(Errc::bad_data, "dentry {:x}: path deeper than {}", dentry, kMaxDepth);
    if (!dentry) break;
    uint64_t parent = TRY(k.read_u64(dentry + d_parent));
    uint64_t root = vfsmount ? TRY(k.read_u64(vfsmount + mnt_root)) : 0;
    if (dentry == root || dentry == parent) {
      if (mount) {
        uint64_t mparent = TRY(k.member<uint64_t>(mount, "mount", "mnt_parent"));
        if (mparent && mparent != mount && dentry == root) {
          dentry = TRY(k.member<uint64_t>(mount, "mount", "mnt_mountpoint"));
          mount = mparent;
          vfsmount = mount + *mount_mnt;
          continue;
        }
      }
      if (dentry != root || parts.empty()) last_root_name = TRY(dentry_name(k, dentry));
      break;
    }
    parts.push_back(TRY(dentry_name(k, dentry)));
    dentry = parent;
  }
  if (parts.empty()) return last_root_name;
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += "/" + *it;
  return out;
}

Result<std::string> file_path(Kernel& k, uint64_t file) {
  auto [mnt, dentry] = TRY(read_path(k, file + TRY(k.offset_of("file", "f_path"))));
  return path_of(k, mnt, dentry);
}

Result<std::optional<TaskDirs>> task_dirs(Kernel& k, uint64_t task) {
  uint64_t fs = TRY(k.member<uint64_t>(task, "task_struct", "fs"));
  if (!fs) return std::optional<TaskDirs>{};
  TaskDirs d;
  auto [rm, rd] = TRY(read_path(k, fs + TRY(k.offset_of("fs_struct", "root"))));
  auto [pm, pd] = TRY(read_path(k, fs + TRY(k.offset_of("fs_struct", "pwd"))));
  d.root = TRY(path_of(k, rm, rd));
  d.cwd = TRY(path_of(k, pm, pd));
  return std::optional<TaskDirs>{d};
}

Result<std::optional<std::vector<OpenFile>>> open_files(Kernel& k, uint64_t task) {
  uint64_t files = TRY(k.member<uint64_t>(task, "task_struct", "files"));
  if (!files) return std::optional<std::vector<OpenFile>>{};
  uint64_t fdt = TRY(k.member<uint64_t>(files, "files_struct", "fdt"));
  if (!fdt) return Error::make(Errc::bad_data, "files_struct {:x} has no fdtable", files);
  uint64_t max_fds = TRY(k.member_uint(fdt, "fdtable", "max_fds"));
  if (max_fds > kMaxFds) return Error::make(Errc::bad_data, "fdtable {:x}: max_fds {} is absurd", fdt, max_fds);
  uint64_t fd_array = TRY(k.member<uint64_t>(fdt, "fdtable", "fd"));
  std::vector<uint64_t> ptrs(max_fds);
  if (max_fds) TRY(k.read(fd_array, std::span(reinterpret_cast<uint8_t*>(ptrs.data()), max_fds * 8)));
  uint64_t f_path = TRY(k.offset_of("file", "f_path"));
  uint64_t d_inode = TRY(k.offset_of("dentry", "d_inode"));
  std::vector<OpenFile> out;
  for (uint64_t i = 0; i < max_fds; ++i) {
    if (!ptrs[i]) continue;
    OpenFile f;
    f.fd = i;
    f.file = ptrs[i];
    auto [mnt, dentry] = TRY(read_path(k, f.file + f_path));
    f.mnt = mnt;
    f.dentry = dentry;
    f.inode = dentry ? TRY(k.read_u64(dentry + d_inode)) : 0;
    out.push_back(f);
  }
  return std::optional<std::vector<OpenFile>>{out};
}

Result<std::string> inode_type(Kernel& k, uint64_t inode) {
  if (!inode) return std::string("UNKN");
  uint64_t mode = TRY(k.member_uint(inode, "inode", "i_mode"));
  switch (mode & 0170000) {
    case 0100000: return std::string("REG");
    case 0040000: return std::string("DIR");
    case 0020000: return std::string("CHR");
    case 0060000: return std::string("BLK");
    case 0010000: return std::string("FIFO");
    case 0120000: return std::string("LNK");
    case 0140000: return std::string("SOCK");
    default: return std::string("UNKN");
  }
}

}  // namespace coroner::kernel
