// files: a task's root and working directories and its open files as crash shows them.
//
//   PID: 1        TASK: ffff8de9c11fb000  CPU: 0    COMMAND: "init"
//   ROOT: /    CWD: /
//    FD       FILE            DENTRY           INODE       TYPE PATH
//     0 ffff8de9c24bde00 ffff8de9c20d96c0 ffff8de9e434b4a0 CHR  /dev/console
#include <charconv>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/files.h"
#include "kernel/kernel.h"
#include "kernel/tasks.h"
#include "kernel/walkers.h"

namespace coroner::commands {
namespace {

using kernel::Task;

// A -R reference: a file descriptor number, an address (file, dentry, inode,
// address_space) or part of a path.
bool references(const std::string& ref, const kernel::OpenFile& f, uint64_t mapping, const std::string& path) {
  bool decimal = !ref.empty() && ref.find_first_not_of("0123456789") == std::string::npos;
  if (decimal && std::to_string(f.fd) == ref) return true;
  std::string_view h = ref;
  if (h.substr(0, 2) == "0x") h.remove_prefix(2);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), v, 16);
  if (!h.empty() && ec == std::errc() && p == h.data() + h.size() &&
      (v == f.file || v == f.dentry || v == f.inode || (mapping && v == mapping)))
    return true;
  return !path.empty() && path.find(ref) != std::string::npos;
}

Result<void> show_files(kernel::Kernel& k, const Task& t, bool cache, const std::optional<std::string>& ref, Output& out) {
  auto dirs = TRY(kernel::task_dirs(k, t.addr));
  std::vector<kernel::OpenFile> files = TRY(kernel::open_files(k, t.addr)).value_or(std::vector<kernel::OpenFile>{});
  struct Row {
    kernel::OpenFile f;
    std::string path;
    uint64_t mapping = 0, nrpages = 0;
  };
  std::vector<Row> rows;
  for (auto& f : files) {
      Row r{f, f.dentry ? TRY(kernel::path_of(k, f.mnt, f.dentry)) : "", 0, 0};
      if (cache && f.inode) {
        r.mapping = TRY(k.member<uint64_t>(f.inode, "inode", "i_mapping"));
        if (r.mapping) r.nrpages = TRY(k.member_uint(r.mapping, "address_space", "nrpages"));
      }
      if (!ref || references(*ref, f, r.mapping, r.path)) rows.push_back(std::move(r));
  }
  if (ref && rows.empty()) return ok();
  out.print("{}\n", task_header(t));
  // crash ends the directory line with a space in the -R form.
  if (dirs) out.print("ROOT: {}    CWD: {}{}\n", dirs->root, dirs->cwd, ref ? " " : "");
  if (rows.empty()) {
    out.print("No open files\n");
    return ok();
  }
  if (cache) out.print(" FD      INODE          I_MAPPING     NRPAGES TYPE PATH\n");
  else out.print(" FD       FILE            DENTRY           INODE       TYPE PATH\n");
  for (auto& r : rows) {
    std::string type = TRY(kernel::inode_type(k, r.f.inode));
    if (cache)
      out.print("{:>3} {:16x} {:16x} {:>7} {:<4} {}\n", r.f.fd, r.f.inode, r.mapping, r.nrpages, type, r.path);
    else
      out.print("{:>3} {:16x} {:16x} {:16x} {:<4} {}\n", r.f.fd, r.f.file, r.f.dentry, r.f.inode, type, r.path);
  }
  if (ref) out.print("\n");
  return ok();
}

// files -d: a dentry's inode, super block, type and path. The path is seen through a mount of
// its super block (sb->s_mounts), preferring one attached to a parent.
Result<void> show_dentry(kernel::Kernel& k, uint64_t dentry, Output& out) {
  uint64_t inode = TRY(k.member<uint64_t>(dentry, "dentry", "d_inode"));
  uint64_t sb = TRY(k.member<uint64_t>(dentry, "dentry", "d_sb"));
  uint64_t vfsmount = 0;
  if (sb) {
    uint64_t head = sb + TRY(k.offset_of("super_block", "s_mounts"));
    uint64_t link = TRY(k.offset_of("mount", "mnt_instance"));
    uint64_t mnt_off = TRY(k.offset_of("mount", "mnt"));
    for (uint64_t node : TRY(kernel::list_walk(k, head, 1u << 16))) {
      uint64_t mount = node - link;
      uint64_t parent = TRY(k.member<uint64_t>(mount, "mount", "mnt_parent"));
      if (!vfsmount || (parent && parent != mount)) vfsmount = mount + mnt_off;
      if (parent && parent != mount) break;
    }
  }
  out.print("     DENTRY           INODE           SUPERBLK     TYPE PATH\n");
  out.print("{:16x} {:16x} {:16x} {:<4} {}\n", dentry, inode, sb, TRY(kernel::inode_type(k, inode)),
            TRY(kernel::path_of(k, vfsmount, dentry)));
  return ok();
}

Result<void> run_files(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  if (args.has('d')) {
    const std::string text = args.value('d');
    std::string_view v = text;
    if (v.substr(0, 2) == "0x") v.remove_prefix(2);
    uint64_t dentry = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), dentry, 16);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size())
      return Error::make(Errc::usage, "invalid dentry address: {}", args.value('d'));
    return show_dentry(k, dentry, out);
  }
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  auto targets = TRY(pid_or_task_args(tt, args.positional, s.current_task));
  std::optional<std::string> ref;
  if (args.has('R')) ref = args.value('R');
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i && !ref) out.print("\n");
    TRY(show_files(k, *targets[i], args.has('c'), ref, out));
  }
  return ok();
}

}  // namespace

std::vector<Command> files_commands() {
  return {Command{CommandSpec{"files",
                              {},
                              "open files",
                              "[-d dentry] | [-c] [-R reference] [pid | taskp] ...",
                              {{'d', true, "a dentry's inode, super block, type and path"},
                               {'c', false, "each file's inode, address_space and page-cache pages"},
                               {'R', true, "only the files matching this fd, address or path"}},
                              {"files", "files 1", "files -c 1", "files -R console 1", "foreach files"}},
                  run_files}};
}

}  // namespace coroner::commands
