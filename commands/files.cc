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
#include "kernel/pagecache.h"
#include "kernel/session_flags.h"
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

// files -p: an inode's page-cache pages (inode->i_mapping's xarray, or radix tree before 4.20), each as crash's
// dump_mem_map() line, after the INODE/NRPAGES line; value entries (shadows) are skipped and a
// count that differs from nrpages is reported after the pages, as crash does.
Result<void> show_inode_pages(kernel::Kernel& k, uint64_t inode, Output& out) {
  if (!k.arch().is_kernel_vaddr(inode))
    return Error::make(Errc::fault, "invalid kernel virtual address: {:x}  type: \"inode buffer\"", inode);
  uint64_t mapping = TRY(k.member<uint64_t>(inode, "inode", "i_mapping"));
  if (!k.arch().is_kernel_vaddr(mapping))
    return Error::make(Errc::fault, "invalid kernel virtual address: {:x}  type: \"address_space buffer\"", mapping);
  uint64_t nrpages = TRY(k.member_uint(mapping, "address_space", "nrpages"));
  out.print("{:^16}  NRPAGES\n{:>16x}  {:>7}\n\n", "INODE", inode, nrpages);
  if (!nrpages) return ok();
  uint64_t count = 0;
  auto cache = TRY(kernel::mapping_pages(k, mapping));
  for (auto& cp : cache.pages) {
    TRY(check_interrupt());
    auto phys = TRY(kernel::phys_of_page(k, cp.page));
    if (!phys)
      return Error::make(Errc::bad_data, "{}: callback operation failed: entry: {}  item: {:x}",
                         cache.xarray ? "do_xarray" : "do_radix_tree", count, cp.page);
    std::string line = TRY(kernel::format_page_line(k, TRY(kernel::read_page_info(k, cp.page, *phys))));
    if (kernel::take_page_header(k)) out.write(kernel::page_header());
    out.write(line);
    ++count;
  }
  if (count != nrpages)
    out.print("files: {} page count: {}  nrpages: {}\n", cache.xarray ? "xarray" : "radix tree", count, nrpages);
  return ok();
}

Result<uint64_t> hex_arg(const std::string& text, std::string_view what) {
  std::string_view v = text;
  if (v.substr(0, 2) == "0x") v.remove_prefix(2);
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), value, 16);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    return Error::make(Errc::usage, "invalid {} address: {}", what, text);
  return value;
}

Result<void> run_files_options(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  if (args.has('p')) {
    uint64_t inode = TRY(hex_arg(args.value('p'), "inode"));
    return show_inode_pages(k, inode, out);
  }
  if (args.has('d')) return show_dentry(k, TRY(hex_arg(args.value('d'), "dentry")), out);
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  auto targets = pid_or_task_args(tt, args.positional, s.current_task);
  if (!targets) {
    kernel::error_is_info(k);  // crash's "invalid task or pid value" is an error(INFO)
    return targets.error();
  }
  std::optional<std::string> ref;
  if (args.has('R')) ref = args.value('R');
  for (size_t i = 0; i < targets->size(); ++i) {
    if (i && !ref) out.print("\n");
    TRY(show_files(k, *(*targets)[i], args.has('c'), ref, out));
  }
  return ok();
}

}  // namespace

std::vector<Command> files_commands() {
  return {Command{CommandSpec{"files",
                              {},
                              "open files",
                              "[-d dentry] | [-p inode] | [-c] [-R reference] [pid | taskp] ... ",
                              {{'d', true, "a dentry's inode, super block, type and path"},
                               {'p', true, "an inode's pages in the page cache"},
                               {'c', false, "each file's inode, address_space and page-cache pages"},
                               {'R', true, "only the files matching this fd, address or path"}},
                              {"files", "files 1", "files -c 1", "files -R console 1", "foreach files"}},
                  run_files_options}};
}

}  // namespace coroner::commands
