// vm: a task's virtual memory as crash shows it: the mm_struct, its page directory, RSS and
// total size, then each VMA (address, start, end, vm_flags, mapped file).
//
//   PID: 1        TASK: ffff8de9c11fb000  CPU: 0    COMMAND: "init"
//          MM               PGD          RSS    TOTAL_VM
//   ffff8de9c1054000  ffff8de9e2802000  1728k    2260k
//         VMA           START       END     FLAGS FILE
//   ffff8de9c24b8a18     400000     401000 8000071 /bin/busybox
#include <charconv>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/files.h"
#include "kernel/kernel.h"
#include "kernel/session_flags.h"
#include "kernel/swap.h"
#include "kernel/tasks.h"
#include "kernel/value_context.h"
#include "kernel/vm.h"

namespace coroner::commands {
namespace {

using kernel::Task;

// crash's mkstring(CENTER): the left pad is half the slack, rounded down.
std::string center(const std::string& s, size_t width) {
  if (s.size() >= width) return s;
  size_t left = (width - s.size()) / 2;
  return std::string(left, ' ') + s + std::string(width - s.size() - left, ' ');
}

// crash's names for vm_flags bits, in its order (its own table, the same for every kernel
// version: 0x200 is NOHUGEPAGE, 0x200000 has no name).
struct VmFlag {
  uint64_t bit;
  const char* name;
};
constexpr VmFlag kVmFlags[] = {
    {0x1, "READ"},          {0x2, "WRITE"},           {0x4, "EXEC"},           {0x8, "SHARED"},
    {0x10, "MAYREAD"},      {0x20, "MAYWRITE"},       {0x40, "MAYEXEC"},       {0x80, "MAYSHARE"},
    {0x100, "GROWSDOWN"},   {0x200, "NOHUGEPAGE"},    {0x400, "PFNMAP"},       {0x800, "DENYWRITE"},
    {0x1000, "EXECUTABLE"}, {0x2000, "LOCKED"},       {0x4000, "IO"},          {0x8000, "SEQ_READ"},
    {0x10000, "RAND_READ"}, {0x20000, "DONTCOPY"},    {0x40000, "DONTEXPAND"}, {0x80000, "RESERVED"},
    {0x400000, "HUGETLB"},  {0x100000, "ACCOUNT"},    {0x800000, "NONLINEAR"}, {0x1000000, "MAPPED_COPY"},
    {0x2000000, "INSERTPAGE"}, {0x4000000, "ALWAYSDUMP"}, {0x8000000, "CAN_NONLINEAR"}, {0x10000000, "MIXEDMAP"},
    {0x20000000, "SAO"},    {0x40000000, "PFN_AT_MMAP"}, {0x80000000, "MERGEABLE"}};

std::string vm_flag_names(uint64_t flags) {
  std::string s;
  for (auto& f : kVmFlags)
    if (flags & f.bit) s += (s.empty() ? "" : "|") + std::string(f.name);
  return s;
}

Result<uint64_t> parse_hex(const std::string& text) {
  std::string_view v = text;
  if (v.substr(0, 2) == "0x" || v.substr(0, 2) == "0X") v.remove_prefix(2);
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), value, 16);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    return Error::make(Errc::usage, "invalid hexadecimal value: {}", text);
  return value;
}

void print_mm_table(kernel::Kernel& k, const Task& t, uint64_t mm, uint64_t pgd, const kernel::TaskMemory& mem, Output& out) {
  (void)k;
  (void)t;
  out.print("{}  {}  {}  {}\n", center("MM", 16), center("PGD", 16), center("RSS", 6), "TOTAL_VM");
  out.print("{}  {}  {}  {}\n", center(fmt::format("{:x}", mm), 16), center(fmt::format("{:x}", pgd), 16),
            center(fmt::format("{}k", mem.rss_kb), 6), center(fmt::format("{}k", mem.vsz_kb), 8));
}

constexpr std::string_view kVmaHeader = "      VMA           START       END     FLAGS FILE\n";

Result<std::string> vma_line(kernel::Kernel& k, const kernel::Vma& v) {
  std::string file = v.file ? TRY(kernel::file_path(k, v.file)) : "";
  return fmt::format("{:16x} {:>10x} {:>10x} {:<7x} {}\n", v.addr, v.start, v.end, v.flags, file);
}

// One page of a VMA as crash's vm -p shows it: its physical address, or for a page not
// present the file and offset it would be read from (file mappings), else "(not mapped)".
Result<std::string> page_line(kernel::Kernel& k, uint64_t root, const kernel::Vma& v, uint64_t vaddr,
                              const std::string& path) {
  arch::Arch& a = k.arch();
  std::vector<arch::WalkStep> steps;
  auto walked = a.walk(root, vaddr, &steps);
  std::string virt = fmt::format("{:<10x}", vaddr);
  if (walked) return fmt::format("{}  {:>8x}\n", virt, *walked);
  if (steps.empty() || a.entry_present(steps.back().entry)) return walked.error();
  if (steps.back().level == "PTE" && steps.back().entry) {
    uint64_t pte = steps.back().entry;
    // PROT_NONE maps its page for crash; any other non-empty PTE is a swap entry.
    if (a.name() == "x86_64" && kernel::x86_64_pte_protnone(pte))
      return fmt::format("{}  {:>8x}\n", virt, a.entry_address(pte));
    return fmt::format("{}  SWAP: {}\n", virt, TRY(kernel::swap_location(k, pte)));
  }
  if (v.file) {
    uint64_t pgoff = TRY(k.member_uint(v.addr, "vm_area_struct", "vm_pgoff"));
    uint64_t page = a.page_size();
    return fmt::format("{}  FILE: {}  OFFSET: {:x}\n", virt, path, pgoff * page + (vaddr - v.start));
  }
  return fmt::format("{}  (not mapped)\n", virt);
}

Result<uint64_t> pgd_root(kernel::Kernel& k, uint64_t mm) {
  uint64_t pgd = TRY(k.member<uint64_t>(mm, "mm_struct", "pgd"));
  auto root = k.arch().linear_vtop(pgd);
  if (!root) return Error::make(Errc::bad_data, "mm_struct {:#x}: pgd {:#x} is not in the direct map", mm, pgd);
  return *root;
}

// Every page of a VMA, under crash's VIRTUAL/PHYSICAL header; `only` restricts it to one page.
Result<void> print_pages(kernel::Kernel& k, uint64_t mm, const kernel::Vma& v, std::optional<uint64_t> only, Output& out) {
  uint64_t root = TRY(pgd_root(k, mm));
  std::string path = v.file ? TRY(kernel::file_path(k, v.file)) : "";
  uint64_t page = k.arch().page_size();
  out.print("{:<10}  {}\n", "VIRTUAL", "PHYSICAL");
  if (only) {
    out.write(TRY(page_line(k, root, v, *only & ~(page - 1), path)));
    return ok();
  }
  if (v.end < v.start || (v.end - v.start) / page > (1u << 28))
    return Error::make(Errc::bad_data, "VMA {:x}: range {:x}-{:x} is absurd", v.addr, v.start, v.end);
  for (uint64_t a = v.start; a < v.end; a += page) {
    TRY(check_interrupt());
    out.write(TRY(page_line(k, root, v, a, path)));
  }
  return ok();
}

enum class Mode { plain, pages, reference };

// vm -M MM: crash checks the address is a live mm_struct (mm_count not 0) before using it.
Result<uint64_t> checked_mm(kernel::Kernel& k, uint64_t mm) {
  if (!k.arch().is_kernel_vaddr(mm)) return Error::make(Errc::usage, "invalid mm_struct address: {:x}", mm);
  auto count = k.member<uint32_t>(mm, "mm_struct", "mm_count");
  if (!count) return Error::make(Errc::usage, "invalid mm_struct address: {:x}", mm);
  if (*count == 0) return Error::make(Errc::usage, "stale mm_struct address: {:x}", mm);
  return mm;
}

// The MM line's mm_struct: the task's own, else the one a `vm -M` gave it earlier (crash's
// tc->mm_struct, kernel/session_flags.h), shown with no PGD, RSS or size.
uint64_t shown_mm(kernel::Kernel& k, const Task& t) { return t.mm ? t.mm : kernel::given_mm(k, t.addr); }

Result<void> show_vm(kernel::Kernel& k, const Task& t, Mode mode, const std::string& ref, Output& out) {
  uint64_t pgd = t.mm ? TRY(k.member<uint64_t>(t.mm, "mm_struct", "pgd")) : 0;
  auto mem = TRY(kernel::task_memory(k, t));
  uint64_t line_mm = shown_mm(k, t);
  if (mode != Mode::reference) {
    out.print("{}\n", task_header(t));
    print_mm_table(k, t, line_mm, pgd, mem, out);
    // A task without an mm_struct (a kernel thread, an exiting task) walks the one `vm -M`
    // gave it or forces now: kernel::effective_mm.
    uint64_t mm = kernel::effective_mm(k, t.addr, t.mm);
    if (!mm) return ok();
    if (mode == Mode::plain) out.write(kVmaHeader);
    for (auto& v : TRY(kernel::task_vmas(k, mm))) {
      if (mode == Mode::pages) out.write(kVmaHeader);
      out.write(TRY(vma_line(k, v)));
      if (mode == Mode::pages) TRY(print_pages(k, mm, v, std::nullopt, out));
    }
    return ok();
  }
  // -R: the mm_struct or page directory (the task and its MM line only), the VMAs whose
  // address or flags equal the number or whose path contains the text, and the page whose
  // address it is (that VMA and the page's translation); nothing when nothing matches.
  auto number = parse_hex(ref);
  uint64_t page = k.arch().page_size();
  bool mm_hit = number && ((line_mm && *number == line_mm) || (pgd && *number == pgd));
  if (mm_hit) {
    out.print("{}\n", task_header(t));
    print_mm_table(k, t, line_mm, pgd, mem, out);
    out.print("\n");
    return ok();
  }
  uint64_t mm = kernel::effective_mm(k, t.addr, t.mm);
  if (!mm) return ok();
  std::vector<std::pair<kernel::Vma, bool>> hits;
  for (auto& v : TRY(kernel::task_vmas(k, mm))) {
    std::string path = v.file ? TRY(kernel::file_path(k, v.file)) : "";
    bool has_page = number && *number % page == 0 && *number >= v.start && *number < v.end;
    bool equal = number && (*number == v.addr || *number == v.flags);
    bool named = !number && !path.empty() && path.find(ref) != std::string::npos;
    if (has_page || equal || named) hits.push_back({v, has_page});
  }
  if (hits.empty()) return ok();
  out.print("{}\n", task_header(t));
  print_mm_table(k, t, line_mm, pgd, mem, out);
  out.write(kVmaHeader);
  for (auto& [v, has_page] : hits) {
    out.write(TRY(vma_line(k, v)));
    if (has_page) TRY(print_pages(k, mm, v, *number, out));
  }
  out.print("\n");
  return ok();
}

Result<void> dump_struct(kernel::Kernel& k, const char* type, uint64_t addr, int radix, Output& out) {
  auto& types = k.types();
  symbols::TypeRef ty = TRY(types.find(fmt::format("struct {}", type)));
  uint64_t size = TRY(types.size_of(ty));
  if (size > (1u << 20)) return Error::make(Errc::out_of_bounds, "struct {} is {} bytes", type, size);
  std::vector<uint8_t> bytes(size);
  TRY(k.read(addr, bytes));
  kernel::KernelValueContext ctx(k, radix);
  out.print("struct {} {}\n", type, TRY(types.format_value(ty, bytes, ctx, 0, addr)));
  return ok();
}

Result<void> run_vm(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  if (args.has('f')) {
    uint64_t flags = TRY(parse_hex(args.value('f')));
    out.print("{:x}: ({})\n", flags, vm_flag_names(flags));
    return ok();
  }
  if (args.has('x') && args.has('d')) {
    out.print("vm: -d and -x are mutually exclusive\n");
    return Error{Errc::usage, "", std::nullopt};
  }
  int radix = args.has('x') ? 16 : 10;
  // crash checks the address first; then it stays in force for later commands too (until a
  // restart: kernel/session_flags.h).
  if (args.has('M')) kernel::force_mm(k, TRY(checked_mm(k, TRY(parse_hex(args.value('M'))))));
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  auto selected = pid_or_task_args(tt, args.positional, s.current_task);
  if (!selected) {
    kernel::error_is_info(k);  // crash's "invalid task or pid value" is an error(INFO)
    return selected.error();
  }
  auto& targets = *selected;
  if (args.has('P')) {
    uint64_t vma = TRY(parse_hex(args.value('P')));
    for (auto* t : targets) {
      out.print("{}\n", task_header(*t));
      uint64_t mm = kernel::effective_mm(k, t->addr, t->mm);
      if (!mm) continue;
      for (auto& v : TRY(kernel::task_vmas(k, mm))) {
        if (v.addr != vma) continue;
        out.write(kVmaHeader);
        out.write(TRY(vma_line(k, v)));
        TRY(print_pages(k, mm, v, std::nullopt, out));
      }
    }
    return ok();
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    const Task& t = *targets[i];
    if (args.has('m') || args.has('v')) {
      if (i) out.print("\n");
      out.print("{}\n", task_header(t));
      uint64_t mm = kernel::effective_mm(k, t.addr, t.mm);
      if (!mm) continue;
      if (args.has('m')) TRY(dump_struct(k, "mm_struct", mm, radix, out));
      else
        for (auto& v : TRY(kernel::task_vmas(k, mm))) TRY(dump_struct(k, "vm_area_struct", v.addr, radix, out));
      continue;
    }
    if (args.has('R')) {
      TRY(show_vm(k, t, Mode::reference, args.value('R'), out));
      continue;
    }
    if (i) out.print("\n");
    TRY(show_vm(k, t, args.has('p') ? Mode::pages : Mode::plain, "", out));
  }
  return ok();
}

}  // namespace

std::vector<Command> vm_commands() {
  return {Command{CommandSpec{"vm",
                              {},
                              "virtual memory",
                              "[-p | -P vma | -M mm | -v | -m | -x | -d | [-R reference] [pid | task]]\n"
                              "     [-f vm_flags]",
                              {{'p', false, "each page's physical address (or file and offset)"},
                               {'P', true, "the pages of one VMA"},
                               {'M', true, "the mm_struct to use for a task that has none (stays in force)"},
                               {'m', false, "the mm_struct"},
                               {'v', false, "every vm_area_struct"},
                               {'R', true, "only the VMAs matching this number, address or file name"},
                               {'f', true, "name the bits of a vm_flags value"},
                               {'x', false, "hexadecimal (-m, -v)"},
                               {'d', false, "decimal (-m, -v)"}},
                              {"vm", "vm 1", "vm -p 1", "vm -f 8000075", "vm -R /bin/busybox 1", "foreach vm"}},
                  run_vm}};
}

}  // namespace coroner::commands
