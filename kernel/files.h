// Open files of a task and the paths of dentries, as crash's `files` and `vm` show them:
// fs_struct's root and pwd, the fd table (files_struct.fdt->fd[], bounded by max_fds), and a
// dentry's path built from d_name up the d_parent chain, crossing mount points through
// struct mount (mnt_mountpoint, mnt_parent).
//
//   auto fds = TRY(open_files(k, task.addr));
//   for (auto& f : fds) fmt::print("{} {}\n", f.fd, TRY(path_of(k, f.mnt, f.dentry)));
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct OpenFile {
  uint64_t fd = 0;
  uint64_t file = 0;    // struct file *
  uint64_t dentry = 0;  // file->f_path.dentry
  uint64_t mnt = 0;     // file->f_path.mnt (struct vfsmount *)
  uint64_t inode = 0;   // dentry->d_inode
};

// The path of a dentry seen through a vfsmount: "/dev/console". Pseudo-filesystem dentries
// (pipes, sockets) that are their own parent give their own name, which is empty for pipes
// and sockets. Bounded: a d_parent chain or mount chain longer than 4096 is an error.
Result<std::string> path_of(Kernel& k, uint64_t vfsmount, uint64_t dentry);
// The path of a struct file (its f_path).
Result<std::string> file_path(Kernel& k, uint64_t file);
// A struct path's (mnt, dentry) at `path_addr`.
Result<std::pair<uint64_t, uint64_t>> read_path(Kernel& k, uint64_t path_addr);

// Root and working directory of a task (task_struct.fs); nullopt when it has no fs_struct.
struct TaskDirs {
  std::string root, cwd;
};
Result<std::optional<TaskDirs>> task_dirs(Kernel& k, uint64_t task);

// The task's open file descriptors in fd order; nullopt when it has no files_struct.
Result<std::optional<std::vector<OpenFile>>> open_files(Kernel& k, uint64_t task);

// crash's file type name from an inode's i_mode: REG DIR CHR BLK FIFO LNK SOCK (UNKN else).
Result<std::string> inode_type(Kernel& k, uint64_t inode);

}  // namespace coroner::kernel
