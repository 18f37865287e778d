// vtop: translate a kernel virtual address as crash 9 shows it: the physical address, each
// page-table entry on the way (PGD, P4D, PUD, PMD, PTE with the entry's address and value),
// the mapping entry's flags, and the struct page of the physical page (its mapping, index,
// reference count and flags named from the kernel's own pageflag_names table).
// ptov: a physical address's direct-map virtual address.
#include <charconv>
#include <set>

#include "commands/builtin.h"
#include "commands/support/parse.h"
#include "commands/support/tasks.h"
#include "kernel/files.h"
#include "kernel/kernel.h"
#include "kernel/mm.h"
#include "kernel/pagecache.h"
#include "kernel/session_flags.h"
#include "kernel/swap.h"
#include "kernel/tasks.h"
#include "kernel/vm.h"

namespace coroner::commands {
namespace {

// crash's mkstring(CENTER|LJUST or CENTER|RJUST): `s` centred in `width`, the odd space on
// the right (ljust) or the left (rjust).
std::string center(std::string_view s, size_t width, bool rjust) {
  if (s.size() >= width) return std::string(s);
  size_t extra = width - s.size();
  size_t left = extra / 2 + ((extra % 2) && rjust ? 1 : 0);
  return std::string(left, ' ') + std::string(s) + std::string(extra - left, ' ');
}

// crash's translate_pte(): a "PTE PHYSICAL FLAGS" table of one entry.
void print_pte(kernel::Kernel& k, uint64_t pte, Output& out) {
  std::string pte_s = fmt::format("{:x}", pte);
  std::string phys_s = fmt::format("{:x}", k.arch().entry_address(pte));
  size_t len1 = std::max<size_t>(pte_s.size(), 3), len2 = std::max<size_t>(phys_s.size(), 8);
  std::string flags = pte ? k.arch().pte_flags(pte) : "no mapping";
  out.print("{}  {}  FLAGS\n{}  {}  ({})\n", center("PTE", len1, false), center("PHYSICAL", len2, false),
            center(pte_s, len1, true), center(phys_s, len2, true), flags);
}

// dump_mem_map() for one physical page: its struct page, under crash's header when that is
// due (kernel/session_flags.h: printed once until a restart or kmem).
Result<void> print_page(kernel::Kernel& k, uint64_t paddr, Output& out) {
  std::string warning;
  auto page = TRY(kernel::page_of_phys(k, paddr, &warning));
  out.write(warning);
  if (!page) return ok();
  auto info = TRY(kernel::read_page_info(k, *page, paddr));
  std::string line = TRY(kernel::format_page_line(k, info));
  if (kernel::take_page_header(k)) out.write(kernel::page_header());
  out.write(line);
  return ok();
}

// crash's translate_pte() for a swap PTE: "PTE SWAP OFFSET", each column as wide as its value.
Result<void> print_swap_pte(kernel::Kernel& k, uint64_t pte, Output& out) {
  std::string where = TRY(kernel::swap_location(k, pte));
  std::vector<std::string> words;
  for (size_t i = 0; i < where.size();) {
    size_t j = where.find(' ', i);
    if (j == std::string::npos) j = where.size();
    if (j > i) words.push_back(where.substr(i, j - i));
    i = j + 1;
  }
  std::string pte_s = fmt::format("{:x}", pte);
  size_t len1 = std::max<size_t>(pte_s.size(), 3);
  out.print("{}  ", center("PTE", len1, false));
  if (words.size() != 3) return Error::make(Errc::bad_data, "cannot determine swap location");
  size_t len2 = std::max<size_t>(words[0].size(), 4), len3 = std::max<size_t>(words[2].size(), 6);
  out.print("{}  {}\n{}  {}  {}\n", center("SWAP", len2, false), center("OFFSET", len3, false), center(pte_s, len1, true),
            center(words[0], len2, true), center(words[2], len3, true));
  return ok();
}

// crash's "(2MB)" after a block or huge page: 1GB and 2MB on x86_64 and arm64 with 4 KiB
// pages, 32MB with 16 KiB, 512MB with 64 KiB.
std::string block_label(uint64_t bytes) {
  if (bytes >= (1ull << 30)) return fmt::format("{}GB", bytes >> 30);
  return fmt::format("{}MB", bytes >> 20);
}

// arm64's walk as crash prints it (arm64_vtop_*level_*()): "PAGE DIRECTORY:" with the top
// table's virtual address, then each entry by its virtual address: the top table's in the
// kernel image (or where mm->pgd points), the others through the linear map.
void print_arm64_steps(kernel::Kernel& k, uint64_t root_vaddr, uint64_t root_paddr, const std::vector<arch::WalkStep>& steps, Output& out) {
  out.print("PAGE DIRECTORY: {:x}\n", root_vaddr);
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& st = steps[i];
    uint64_t va = i == 0 ? root_vaddr + (st.entry_paddr - root_paddr) : k.arch().ptov(st.entry_paddr).value_or(st.entry_paddr);
    out.print("   {}: {:x} => {:x}\n", st.level, va, st.entry);
  }
}

Result<void> vtop_kernel(Session& s, uint64_t vaddr, Output& out) {
  kernel::Kernel& k = s.kernel;
  arch::Arch& a = k.arch();
  out.print("{:<16}  {:<16}\n", "VIRTUAL", "PHYSICAL");
  std::vector<arch::WalkStep> steps;
  auto walked = a.walk(a.kernel_root(), vaddr, &steps);
  // crash translates the kernel image and the direct map by arithmetic, the rest by the walk.
  std::optional<uint64_t> paddr = a.linear_vtop(vaddr);
  if (!paddr && walked) paddr = *walked;
  if (paddr)
    out.print("{:<16x}  {:<16x}\n\n", vaddr, *paddr);
  else
    out.print("{:<16x}  (not mapped)\n\n", vaddr);

  if (!walked && steps.empty()) return walked.error();  // the top-level table is unreadable
  if (a.name() == "arm64") {
    print_arm64_steps(k, TRY(k.symbol("swapper_pg_dir")), a.kernel_root(), steps, out);
  } else {
    out.print("PGD DIRECTORY: {:x}\n", TRY(k.symbol(k.symbols().find("init_top_pgt") ? "init_top_pgt" : "init_level4_pgt")));
    for (size_t i = 0; i < steps.size(); ++i) {
      const auto& st = steps[i];
      if (i == 0)
        out.print("PAGE DIRECTORY: {:x}\n", st.entry);
      else
        out.print("   {}: {:x} => {:x}\n", st.level, st.entry_paddr, st.entry);
    }
  }
  if (walked) {
    const auto& leaf = steps.back();
    uint64_t base = a.entry_address(leaf.entry);  // as crash prints it (PAT bit 12 of a huge entry kept)
    if (leaf.page_size > a.page_size())
      out.print("  PAGE: {:x}  ({})\n\n", a.name() == "arm64" ? base & ~(leaf.page_size - 1) : base, block_label(leaf.page_size));
    else
      out.print("  PAGE: {:x}\n\n", base);
    print_pte(k, leaf.entry, out);
  } else if (steps.empty() || a.entry_present(steps.back().entry)) {
    out.write("\n");
    return walked.error();  // a table could not be read, or the tables loop
  } else if (steps.back().level == "PTE" && steps.back().entry) {
    // A PTE that is not present but not empty. x86_64: crash's x86_64_translate_pte() shows
    // PROT_NONE as a mapping ("PTE PHYSICAL FLAGS") and anything else as a swap entry ("PTE
    // SWAP OFFSET"), in the kernel's tables as in a task's; arm64 keeps the PTE table.
    uint64_t pte = steps.back().entry;
    out.write("\n");
    if (a.name() == "x86_64" && !kernel::x86_64_pte_protnone(pte))
      TRY(print_swap_pte(k, pte, out));
    else
      print_pte(k, pte, out);
  }
  out.write("\n");

  // The struct page, when sparsemem has one for the physical address.
  if (paddr) TRY(print_page(k, *paddr, out));
  return ok();
}

// ---- user addresses: the panic task's address space ------------------------------------

// The task crash calls the current context: the one running on the CPU that panicked.
Result<uint64_t> current_task(kernel::Kernel& k) {
  uint64_t pc = TRY(k.symbol("panic_cpu"));
  int32_t cpu = TRY(k.read_as<int32_t>(pc));
  if (cpu < 0) return Error::make(Errc::not_found, "no CPU panicked (panic_cpu is {}): no current task", cpu);
  uint64_t slot = 0;
  if (k.symbols().find("current_task"))
    slot = TRY(k.per_cpu("current_task", cpu));
  else if (k.symbols().find("pcpu_hot"))  // x86_64 6.2+: current_task is a member of struct pcpu_hot
    slot = TRY(k.per_cpu("pcpu_hot", cpu)) + TRY(k.offset_of("pcpu_hot", "current_task"));
  else  // arm64 keeps `current` in sp_el0: the CPU's runqueue says which task it ran
    slot = TRY(k.per_cpu("runqueues", cpu)) + TRY(k.offset_of("rq", "curr"));
  return k.read_u64(slot);
}

// The VMA of `mm` containing `addr`, 0 when none: kernel/vm's bounded walk of the maple tree
// (6.1+) or the mmap list.
Result<uint64_t> find_vma(kernel::Kernel& k, uint64_t mm, uint64_t addr) {
  for (auto& v : TRY(kernel::task_vmas(k, mm)))
    if (addr >= v.start && addr < v.end) return v.addr;
  return uint64_t{0};
}


Result<void> vtop_user(Session& s, uint64_t task, uint64_t vaddr, Output& out) {
  kernel::Kernel& k = s.kernel;
  arch::Arch& a = k.arch();
  out.print("{:<10}  {:<16}\n", "VIRTUAL", "PHYSICAL");
  // A task without an mm_struct (a kernel thread) is translated in the one `vm -M` gave it,
  // or gives it the one `vm -M` forces (crash's tc->mm_struct): kernel/session_flags.h.
  uint64_t mm = kernel::effective_mm(k, task, TRY(k.member<uint64_t>(task, "task_struct", "mm")));
  uint64_t vma = mm ? TRY(find_vma(k, mm, vaddr)) : 0;
  if (!vma) {
    out.print("{:<10x}  (not accessible)\n\n", vaddr);
    return ok();
  }
  uint64_t pgd = TRY(k.member<uint64_t>(mm, "mm_struct", "pgd"));
  auto root = a.linear_vtop(pgd);
  if (!root) return Error::make(Errc::bad_data, "mm_struct {:#x}: pgd {:#x} is not in the direct map", mm, pgd);
  std::vector<arch::WalkStep> steps;
  auto walked = a.walk(*root, vaddr, &steps);
  // A PTE that is not present: PROT_NONE still maps its page for crash; anything else that is
  // not empty is a swap entry.
  uint64_t swap_pte = 0;
  if (!walked && !steps.empty() && steps.back().level == "PTE" && steps.back().entry &&
      !a.entry_present(steps.back().entry)) {
    uint64_t pte = steps.back().entry;
    if (a.name() == "x86_64" && kernel::x86_64_pte_protnone(pte)) {
      steps.back().page_size = a.page_size();
      walked = a.entry_address(pte) + (vaddr & (a.page_size() - 1));
    } else {
      swap_pte = pte;
    }
  }
  if (walked)
    out.print("{:<10x}  {:<16x}\n\n", vaddr, *walked);
  else
    out.print("{:<10x}  (not mapped)\n\n", vaddr);
  if (a.name() == "arm64")
    print_arm64_steps(k, pgd, *root, steps, out);
  else
    for (const auto& st : steps) out.print("   {}: {:x} => {:x}\n", st.level, st.entry_paddr, st.entry);
  if (walked) {
    const auto& leaf = steps.back();
    uint64_t base = a.entry_address(leaf.entry);
    if (leaf.page_size > a.page_size())
      out.print("  PAGE: {:x}  ({})\n\n", a.name() == "arm64" ? base & ~(leaf.page_size - 1) : base, block_label(leaf.page_size));
    else
      out.print("  PAGE: {:x}  \n\n", base);  // crash's trailing spaces in the user case
    print_pte(k, leaf.entry, out);
  } else if (swap_pte) {
    out.write("\n");
    TRY(print_swap_pte(k, swap_pte, out));
  } else if (steps.empty() || a.entry_present(steps.back().entry)) {
    return walked.error();  // a table could not be read, or the tables loop
  }
  out.write("\n");
  uint64_t start = TRY(k.member<uint64_t>(vma, "vm_area_struct", "vm_start"));
  uint64_t end = TRY(k.member<uint64_t>(vma, "vm_area_struct", "vm_end"));
  uint64_t flags = TRY(k.member_uint(vma, "vm_area_struct", "vm_flags"));
  uint64_t file = TRY(k.member<uint64_t>(vma, "vm_area_struct", "vm_file"));
  // kernel::file_path names pseudo files as crash does (memfd:NAME, not "/").
  std::string path = file ? TRY(kernel::file_path(k, file)) : "";
  out.print("{} {} {} {} FILE\n", center("VMA", 16, false), center("START", 10, true), center("END", 10, true),
            center("FLAGS", 6, true));
  out.print("{:<16x} {:>10x} {:>10x} {:>6x} {}\n", vma, start, end, flags, path);
  out.write("\n");
  if (walked) {
    TRY(print_page(k, *walked, out));
  } else if (swap_pte) {
    out.print("SWAP: {}\n\n", TRY(kernel::swap_location(k, swap_pte)));
  } else if (file) {
    // Not faulted in yet (an empty PTE) in a file mapping: crash names the file and the offset
    // in it of the page that would be read (page-aligned, as crash prints it).
    uint64_t pgoff = TRY(k.member_uint(vma, "vm_area_struct", "vm_pgoff"));
    uint64_t page = a.page_size();
    out.print("FILE: {}  OFFSET: {:x}\n\n", path, pgoff * page + (vaddr - vaddr % page - start));
  }
  return ok();
}

Result<void> vtop_addresses(Session& s, const Args& args, Output& out) {
  auto usage = [&]() -> Result<void> {
    out.print("Usage:\n  vtop [-c [pid | taskp]] [-u|-k] address ...\nEnter \"help vtop\" for details.\n");
    return Error{Errc::usage, "", std::nullopt};
  };
  if (args.positional.empty()) return usage();
  if (args.has('u') && args.has('k')) return Error::make(Errc::usage, "-u and -k options are mutually exclusive");
  kernel::Kernel& k = s.kernel;
  // The task whose address space user addresses are in: -c PID|TASK, else the current context.
  uint64_t task = 0;
  if (args.has('c')) {
    const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
    auto tasks = select_tasks(tt, args.value('c'));
    if (!tasks || tasks->empty() || (*tasks)[0]->addr == 0)
      return Error::make(Errc::usage, "invalid task or pid value: {}", args.value('c'));
    task = (*tasks)[0]->addr;
  } else if (s.current_task) {
    task = *s.current_task;
  } else {
    task = TRY(current_task(k));
  }
  bool others = false;
  for (const std::string& w : args.positional) {
    auto v = parse_hex(w);
    if (!v) return Error::make(Errc::usage, "invalid input: \"{}\"", w);
    if (others) out.write("\n");
    others = true;
    bool user = args.has('u') || (!args.has('k') && k.arch().is_user_vaddr(*v));
    if (!user && !args.has('k') && !k.arch().is_kernel_vaddr(*v))
      return Error::make(Errc::usage, "ambiguous address: {:x}  (requires -u or -k)", *v);
    if (user && !k.arch().is_user_vaddr(*v)) {  // -u with a kernel address: in no VMA
      out.print("{:<10}  {:<16}\n{:<10x}  (not accessible)\n\n", "VIRTUAL", "PHYSICAL", *v);
      continue;
    }
    if (user) {
      TRY(vtop_user(s, task, *v, out));
      continue;
    }
    if (!k.arch().is_kernel_vaddr(*v)) {  // -k with an address below the kernel's
      out.print("{:<16}  {:<16}\n{:<8x}  (not a kernel virtual address)\n\n", "VIRTUAL", "PHYSICAL", *v);
      continue;
    }
    TRY(vtop_kernel(s, *v, out));
  }
  return ok();
}


// crash's cpu specification: "" (the current CPU: the one that panicked), "a" or "all", or
// lists and ranges "1,3,5-7" of CPUs below the number of CPUs.
Result<std::vector<int>> cpu_spec(kernel::Kernel& k, std::string_view spec) {
  auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
  int ncpus = present.empty() ? 1 : present.back() + 1;
  if (spec.empty()) {
    int cpu = 0;
    if (auto pc = k.symbols().address_of("panic_cpu"))
      if (auto v = k.read_as<int32_t>(*pc); v && *v >= 0 && *v < ncpus) cpu = *v;
    return std::vector<int>{cpu};
  }
  std::vector<int> cpus;
  if (spec == "a" || spec == "all") {
    for (int c = 0; c < ncpus; ++c) cpus.push_back(c);
    return cpus;
  }
  std::vector<bool> chosen(ncpus, false);
  for (int c : TRY(parse_cpu_ranges(spec, ncpus))) chosen[c] = true;
  for (int c = 0; c < ncpus; ++c)
    if (chosen[c]) cpus.push_back(c);
  return cpus;
}

Result<void> run_ptov(Session& s, const Args& args, Output& out) {
  if (args.positional.empty()) {
    out.print("Usage:\n  ptov [address | offset:cpuspec]\nEnter \"help ptov\" for details.\n");
    return Error{Errc::usage, "", std::nullopt};
  }
  bool others = false;
  for (const std::string& w : args.positional) {
    if (auto colon = w.find(':'); colon != std::string::npos) {
      auto off = parse_hex(std::string_view(w).substr(0, colon));
      if (!off) return Error::make(Errc::usage, "invalid input: \"{}\"", w);
      auto cpus = TRY(cpu_spec(s.kernel, std::string_view(w).substr(colon + 1)));
      out.print("{}PER-CPU OFFSET: {:x}\n  CPU    {:<16}\n", others ? "\n" : "", *off, "VIRTUAL");
      for (int cpu : cpus) out.print("  [{}]  {:x}\n", cpu, *off + TRY(s.kernel.per_cpu_offset(cpu)));
      others = true;
      continue;
    }
    auto p = parse_hex(w);
    if (!p) return Error::make(Errc::usage, "invalid input: \"{}\"", w);
    auto v = s.kernel.arch().ptov(*p);
    if (!v) return Error::make(Errc::unsupported, "no direct map known: cannot translate {:x}", *p);
    out.print("{}{:<16}  {:<16}\n{:<16x}  {:<16x}\n", others ? "\n" : "", "VIRTUAL", "PHYSICAL", *v, *p);
    others = true;
  }
  return ok();
}

}  // namespace

std::vector<Command> vtop_commands() {
  return {Command{CommandSpec{"vtop",
                              {},
                              "virtual to physical",
                              "[-c [pid | taskp]] [-u|-k] address ...",
                              {{'u', false, "user virtual address (in the panic task's address space)"},
                               {'k', false, "kernel virtual address"},
                               {'c', true, "user addresses in this task's address space (PID or task address)"}},
                              {"vtop ffffffffff600000", "vtop fffffe0000000000"}},
                  vtop_addresses},
          Command{CommandSpec{"ptov",
                              {},
                              "physical to virtual",
                              "[address | offset:cpuspec]",
                              {},
                              {"ptov 1000", "ptov 1000 2000"}},
                  run_ptov}};
}

}  // namespace coroner::commands
