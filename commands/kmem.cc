// kmem: kernel memory as crash 9 shows it: the memory summary (-i), the vm_stat counters
// (-V), the zones of each node (-z), SLUB caches with their object counts (-s [CACHE]),
// hugetlb page pools (-h) and vmalloc areas (-v).
#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <set>

#include "commands/builtin.h"
#include "kernel/kernel.h"
#include "kernel/mm.h"
#include "kernel/tasks.h"
#include "kernel/walkers.h"

namespace coroner::commands {
namespace {

using kernel::Kernel;

// crash's pages_to_size(): "0", "N KB", "N.N MB" or "N.N GB", with a ".0" dropped.
std::string pages_to_size(Kernel& k, uint64_t pages) {
  if (pages == 0) return "0";
  double total = static_cast<double>(pages) * static_cast<double>(k.arch().page_size());
  std::string s;
  if (total >= 1024.0 * 1024 * 1024)
    s = fmt::format("{:.1f} GB", total / (1024.0 * 1024 * 1024));
  else if (total >= 1024.0 * 1024)
    s = fmt::format("{:.1f} MB", total / (1024.0 * 1024));
  else
    s = fmt::format("{} KB", static_cast<uint64_t>(total / 1024.0));
  if (auto p = s.find(".0 "); p != std::string::npos) s.erase(p, 2);
  return s;
}

uint64_t percent(uint64_t part, uint64_t whole) { return whole ? part * 100 / whole : 0; }

Result<uint64_t> read_ulong_symbol(Kernel& k, std::string_view name) { return k.read_u64(TRY(k.symbol(name))); }

// nr_blockdev_pages(): page-cache pages of block devices, the inodes of blockdev_superblock.
Result<uint64_t> blockdev_pages(Kernel& k) {
  uint64_t sb = TRY(read_ulong_symbol(k, "blockdev_superblock"));
  if (!sb) return 0;
  uint64_t list_off = TRY(k.offset_of("inode", "i_sb_list"));
  uint64_t pages = 0;
  for (uint64_t e : TRY(kernel::list_walk(k, sb + TRY(k.offset_of("super_block", "s_inodes")), 1u << 20))) {
    uint64_t mapping = TRY(k.member<uint64_t>(e - list_off, "inode", "i_mapping"));
    if (mapping) pages += TRY(k.member_uint(mapping, "address_space", "nrpages"));
  }
  return pages;
}

struct HugePool {
  uint64_t addr;
  uint64_t order, nr, free;
  std::string name;
};
// hstates[0 .. hugetlb_max_hstate).
Result<std::vector<HugePool>> huge_pools(Kernel& k) {
  std::vector<HugePool> out;
  if (!k.symbols().find("hstates")) return out;
  uint64_t n = TRY(k.read_u32(TRY(k.symbol("hugetlb_max_hstate"))));
  uint64_t size = TRY(k.types().size_of_name("hstate"));
  if (n > 64) return Error::make(Errc::bad_data, "hugetlb_max_hstate = {}", n);
  uint64_t name_off = TRY(k.offset_of("hstate", "name"));
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t h = TRY(k.symbol("hstates")) + i * size;
    HugePool p{h, TRY(k.member_uint(h, "hstate", "order")), TRY(k.member_uint(h, "hstate", "nr_huge_pages")),
               TRY(k.member_uint(h, "hstate", "free_huge_pages")), TRY(k.read_cstring(h + name_off, 32))};
    out.push_back(std::move(p));
  }
  return out;
}

// Swap: swap_info[0 .. nr_swapfiles), the areas in use (SWP_USED, bit 0 of flags).
Result<std::pair<uint64_t, uint64_t>> swap_totals(Kernel& k) {
  uint64_t n = TRY(k.read_u32(TRY(k.symbol("nr_swapfiles"))));
  if (n > 64) return Error::make(Errc::bad_data, "nr_swapfiles = {}", n);
  uint64_t total = 0, used = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t si = TRY(k.read_u64(TRY(k.symbol("swap_info")) + i * 8));
    if (!si || !(TRY(k.member_uint(si, "swap_info_struct", "flags")) & 1)) continue;
    total += TRY(k.member_uint(si, "swap_info_struct", "pages"));
    used += TRY(k.member_uint(si, "swap_info_struct", "inuse_pages"));
  }
  return std::pair{total, used};
}

Result<void> kmem_i(Kernel& k, Output& out) {
  uint64_t total = TRY(read_ulong_symbol(k, k.symbols().find("_totalram_pages") ? "_totalram_pages" : "totalram_pages"));
  uint64_t free = static_cast<uint64_t>(std::max<int64_t>(0, TRY(kernel::vm_stat(k, "NR_FREE_PAGES"))));
  uint64_t used = total > free ? total - free : 0;
  uint64_t buffers = TRY(blockdev_pages(k));
  int64_t cached = TRY(kernel::vm_stat(k, "NR_FILE_PAGES"));
  if (auto swapcache = kernel::vm_stat(k, "NR_SWAPCACHE")) cached -= *swapcache;
  cached -= static_cast<int64_t>(buffers);
  uint64_t cached_pages = static_cast<uint64_t>(std::max<int64_t>(0, cached));
  // Slab pages: NR_SLAB_*_B (5.9+, counted in bytes elsewhere but in pages here) or NR_SLAB_*.
  int64_t slab = 0;
  for (const char* item : {"NR_SLAB_RECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE_B", "NR_SLAB_RECLAIMABLE", "NR_SLAB_UNRECLAIMABLE"})
    if (auto v = kernel::vm_stat(k, item)) slab += *v;

  auto row = [&](std::string_view label, uint64_t pages, std::string_view of, uint64_t whole) {
    if (of.empty())
      out.print("{:>13}  {:>7}  {:>11}         ----\n", label, pages, pages_to_size(k, pages));
    else
      out.print("{:>13}  {:>7}  {:>11}  {:>3}% of {}\n", label, pages, pages_to_size(k, pages), percent(pages, whole), of);
  };
  out.print("                 PAGES        TOTAL      PERCENTAGE\n");
  row("TOTAL MEM", total, "", 0);
  row("FREE", free, "TOTAL MEM", total);
  row("USED", used, "TOTAL MEM", total);
  row("BUFFERS", buffers, "TOTAL MEM", total);
  row("CACHED", cached_pages, "TOTAL MEM", total);
  row("SLAB", static_cast<uint64_t>(std::max<int64_t>(0, slab)), "TOTAL MEM", total);
  out.print("\n");

  uint64_t huge_total = 0, huge_free = 0;
  for (const auto& p : TRY(huge_pools(k))) {
    huge_total += p.nr << p.order;
    huge_free += p.free << p.order;
  }
  row("TOTAL HUGE", huge_total, "", 0);
  row("HUGE FREE", huge_free, "TOTAL HUGE", huge_total);
  out.print("\n");

  auto [swap_total, swap_used] = TRY(swap_totals(k));
  row("TOTAL SWAP", swap_total, "", 0);
  row("SWAP USED", swap_used, "TOTAL SWAP", swap_total);
  row("SWAP FREE", swap_total - std::min(swap_used, swap_total), "TOTAL SWAP", swap_total);
  out.print("\n");

  // vm_commit_limit(): overcommit_kbytes when set, else the ratio of RAM outside hugetlb; plus swap.
  uint64_t kbytes = k.symbols().find("sysctl_overcommit_kbytes") ? TRY(read_ulong_symbol(k, "sysctl_overcommit_kbytes")) : 0;
  uint64_t limit;
  if (kbytes)
    limit = kbytes / (k.arch().page_size() / 1024);
  else
    limit = (total - std::min(total, huge_total)) * TRY(k.read_u32(TRY(k.symbol("sysctl_overcommit_ratio")))) / 100;
  limit += swap_total;
  // vm_committed_as: a percpu_counter. crash reads its global count only (not the per-CPU
  // deltas that percpu_counter_sum() would add), and so does this.
  int64_t committed = TRY(k.member<int64_t>(TRY(k.symbol("vm_committed_as")), "percpu_counter", "count"));
  uint64_t committed_pages = static_cast<uint64_t>(std::max<int64_t>(0, committed));
  row("COMMIT LIMIT", limit, "", 0);
  row("COMMITTED", committed_pages, "TOTAL LIMIT", limit);
  return ok();
}

size_t max_name(const std::vector<std::string>& names, size_t start = 0) {
  for (const auto& n : names) start = std::max(start, n.size());
  return start;
}

Result<void> kmem_V(Kernel& k, Output& out) {
  auto zone = TRY(kernel::vm_zone_stat(k));
  auto node = TRY(kernel::vm_node_stat(k));
  size_t width = max_name(node.names, max_name(zone.names));
  out.print("  VM_ZONE_STAT:\n");
  for (size_t i = 0; i < zone.names.size(); ++i) out.print("{:>{}}: {}\n", zone.names[i], width, zone.values[i]);
  out.print("\n  VM_NODE_STAT:\n");
  for (size_t i = 0; i < node.names.size(); ++i) out.print("{:>{}}: {}\n", node.names[i], width, node.values[i]);
  auto events = TRY(kernel::vm_event_states(k));
  size_t ewidth = max_name(events.names);
  out.print("\n  VM_EVENT_STATES:\n");
  for (size_t i = 0; i < events.names.size(); ++i)
    out.print("{:>{}}: {}\n", events.names[i], ewidth, static_cast<uint64_t>(events.values[i]));
  return ok();
}

Result<void> kmem_z(Kernel& k, Output& out) {
  auto names = TRY(kernel::enum_names(k, "zone_stat_item", "NR_VM_ZONE_STAT_ITEMS"));
  size_t width = max_name(names);
  uint64_t vm_stat_off = TRY(k.offset_of("zone", "vm_stat"));
  for (const auto& z : TRY(kernel::zones(k))) {
    out.print("NODE: {}  ZONE: {}  ADDR: {:x}  NAME: \"{}\"\n", z.node, z.index, z.addr, z.name);
    if (!z.spanned) {
      out.print("  [unpopulated]\n\n");
      continue;
    }
    out.print("  SIZE: {}", z.spanned);
    if (z.present != z.spanned) out.print("  PRESENT: {}", z.present);
    out.print("  MIN/LOW/HIGH: {}/{}/{}\n", z.watermark[0], z.watermark[1], z.watermark[2]);
    auto values = TRY(kernel::read_longs(k, z.addr + vm_stat_off, names.size()));
    out.print("  VM_STAT:\n");
    for (size_t i = 0; i < names.size(); ++i) out.print("{:>{}}: {}\n", names[i], width, values[i]);
    out.print("\n\n");
  }
  return ok();
}

void slab_header(Output& out) { out.print("CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME\n"); }

void slab_line(uint64_t cache, const kernel::SlubCounts& c, Output& out) {
  out.print("{:<16x} {:>8} {:>10} {:>9} {:>6} {:>5}k  {}\n", cache, c.object_size, c.allocated(), c.total, c.slabs,
            c.slab_bytes / 1024, c.name);
}

Result<std::optional<uint64_t>> parse_address(std::string_view s);
Result<bool> print_slab_object(Kernel& k, uint64_t addr, bool with_page, Output& out);

Result<void> kmem_s(Kernel& k, const Args& args, Output& out) {
  auto caches = TRY(kernel::slab_caches(k));
  if (args.positional.empty()) {
    slab_header(out);
    for (uint64_t cache : caches) slab_line(cache, TRY(kernel::slub_counts(k, cache)), out);
    return ok();
  }
  // A name that is no cache prints nothing, as in crash; an address shows its slab object.
  for (const auto& want : args.positional) {
    bool named = false;
    for (uint64_t cache : caches) {
      if (TRY(kernel::slab_cache_name(k, cache)) != want) continue;
      slab_header(out);
      slab_line(cache, TRY(kernel::slub_counts(k, cache)), out);
      named = true;
      break;
    }
    if (named) continue;
    auto addr = TRY(parse_address(want));
    if (!addr) continue;
    std::optional<uint64_t> phys = k.arch().linear_vtop(*addr);
    if (!phys) {
      if (auto w = k.arch().walk(k.arch().kernel_root(), *addr, nullptr)) phys = *w;
    }
    if (phys) {  // a page only if sparsemem has its section
      uint64_t nr = *phys / k.arch().page_size() / TRY(kernel::pages_per_section(k));
      auto sections = TRY(kernel::mem_sections(k));
      if (std::none_of(sections.begin(), sections.end(), [&](const auto& sec) { return sec.nr == nr; })) phys.reset();
    }
    if (!phys) out.print("WARNING: cannot find mem_map page for address: {:x}\n", *addr);
    if (!phys || !TRY(print_slab_object(k, *addr, false, out)))
      return Error::make(Errc::not_found, "address is not allocated in slab subsystem: {:x}", *addr);
  }
  return ok();
}

Result<void> kmem_h(Kernel& k, Output& out) {
  out.print("     HSTATE        SIZE    FREE   TOTAL  NAME\n");
  for (const auto& p : TRY(huge_pools(k))) {
    uint64_t bytes = k.arch().page_size() << p.order;
    std::string size = bytes >= (1ull << 30) ? fmt::format("{}GB", bytes >> 30)
                       : bytes >= (1ull << 20) ? fmt::format("{}MB", bytes >> 20)
                                               : fmt::format("{}KB", bytes >> 10);
    out.print("{:x}  {:>5}  {:>6}  {:>6}  {}\n", p.addr, size, p.free, p.nr, p.name);
  }
  return ok();
}

// crash's mkstring(CENTER): `s` centred in `width`; the odd space goes left with `left_heavy`.
std::string center(std::string_view s, size_t width, bool left_heavy) {
  if (s.size() >= width) return std::string(s);
  size_t extra = width - s.size();
  size_t left = extra / 2 + ((extra % 2) && left_heavy ? 1 : 0);
  return std::string(left, ' ') + std::string(s) + std::string(extra - left, ' ');
}

using kernel::pfn_to_page;

// kmem -f: each zone's free_area[order].free_list[migratetype] lists, counted.
Result<void> kmem_f(Kernel& k, Output& out) {
  uint64_t free_area_off = TRY(k.offset_of("zone", "free_area"));
  uint64_t free_area_size = TRY(k.types().size_of_name("free_area"));
  uint64_t free_list_off = TRY(k.offset_of("free_area", "free_list"));
  uint64_t list_head_size = TRY(k.types().size_of_name("list_head"));
  symbols::TypeRef zone_t = TRY(k.types().find("struct zone"));
  auto orders = k.types().array(k.types().resolve(TRY(k.types().member(zone_t, "free_area")).type));
  symbols::TypeRef fa_t = TRY(k.types().find("struct free_area"));
  auto types = k.types().array(k.types().resolve(TRY(k.types().member(fa_t, "free_list")).type));
  if (!orders || !types || orders->second == 0 || orders->second > 64 || types->second == 0 || types->second > 16)
    return Error::make(Errc::no_debug_info, "zone.free_area / free_area.free_list: not arrays of plausible length");
  uint64_t total_pages = 0;
  uint64_t cum_size = 0;
  for (const auto& z : TRY(kernel::zones(k))) {
    out.print("ZONE  NAME        SIZE    FREE      MEM_MAP       START_PADDR  START_MAPNR\n");
    auto nr_free_item = k.types().enumerator("NR_FREE_PAGES");
    if (!nr_free_item) return Error::make(Errc::no_debug_info, "no enumerator NR_FREE_PAGES (enum zone_stat_item)");
    uint64_t zone_free = static_cast<uint64_t>(std::max<int64_t>(
        0, TRY(k.read_as<int64_t>(z.addr + TRY(k.offset_of("zone", "vm_stat")) + static_cast<uint64_t>(*nr_free_item) * 8))));
    uint64_t mem_map = z.spanned ? TRY(pfn_to_page(k, z.start_pfn)) : 0;
    uint64_t paddr = z.spanned ? z.start_pfn * k.arch().page_size() : 0;
    uint64_t mapnr = z.spanned ? cum_size : 0;
    cum_size += z.spanned;
    out.print("{:>3}   {:<9}{:>7} {:>7}  {}  {}  {}\n", z.index, z.name, z.spanned, zone_free,
              center(fmt::format("{:x}", mem_map), 16, false), center(fmt::format("{:x}", paddr), 11, true),
              center(fmt::format("{}", mapnr), 11, true));
    if (z.spanned) {
      out.print("AREA    SIZE  FREE_AREA_STRUCT  BLOCKS  PAGES\n");
      for (uint64_t order = 0; order < orders->second; ++order) {
        for (uint64_t mt = 0; mt < types->second; ++mt) {
          uint64_t head = z.addr + free_area_off + order * free_area_size + free_list_off + mt * list_head_size;
          uint64_t blocks = TRY(kernel::list_walk(k, head, 1u << 24)).size();
          uint64_t pages = blocks << order;
          total_pages += pages;
          out.print("{:>3}  {:>6}k  {:x}  {:>6}  {:>5}\n", order, (k.arch().page_size() << order) / 1024, head, blocks,
                    pages);
        }
      }
    }
    out.print("\n");
  }
  uint64_t nr_free = static_cast<uint64_t>(std::max<int64_t>(0, TRY(kernel::vm_stat(k, "NR_FREE_PAGES"))));
  if (nr_free == total_pages)
    out.print("nr_free_pages: {}  (verified)\n", nr_free);
  else
    out.print("nr_free_pages: {}  (found {})\n", nr_free, total_pages);
  return ok();
}

// The vmap areas with a vm_struct, by address (kmem -v's rows).
struct VmapArea {
  uint64_t va, vm, start, end;
};

void vmap_header(Output& out) {
  out.print("   VMAP_AREA         VM_STRUCT                 ADDRESS RANGE                SIZE\n");
}
void vmap_line(const VmapArea& r, Output& out) {
  out.print("{:<16x}  {:<16x}  {:>16x} - {:<16x}  {:>7}\n", r.va, r.vm, r.start, r.end, r.end - r.start);
}

// The busy vmap areas that have a vm_struct, by address. 6.9 split the busy list into
// per-node lists (vmap_nodes[nr_vmap_nodes].busy.head); vmap_area_list before.
Result<std::vector<VmapArea>> vmap_areas(Kernel& k) {
  uint64_t list_off = TRY(k.offset_of("vmap_area", "list"));
  std::vector<uint64_t> areas;
  if (k.symbols().find("vmap_area_list")) {
    for (uint64_t e : TRY(kernel::list_walk(k, TRY(k.symbol("vmap_area_list")), 1u << 22))) areas.push_back(e - list_off);
  } else {
    uint64_t nodes = TRY(k.read_u64(TRY(k.symbol("vmap_nodes"))));
    uint64_t n = TRY(k.read_u32(TRY(k.symbol("nr_vmap_nodes"))));
    if (n > 4096) return Error::make(Errc::bad_data, "nr_vmap_nodes = {}", n);
    uint64_t node_size = TRY(k.types().size_of_name("vmap_node"));
    uint64_t head_off = TRY(k.offset_of("vmap_node", "busy.head"));
    for (uint64_t i = 0; i < n; ++i)
      for (uint64_t e : TRY(kernel::list_walk(k, nodes + i * node_size + head_off, 1u << 22))) areas.push_back(e - list_off);
  }
  std::vector<VmapArea> rows;
  for (uint64_t va : areas) {
    uint64_t vm = TRY(k.member<uint64_t>(va, "vmap_area", "vm"));
    if (!vm) continue;
    rows.push_back({va, vm, TRY(k.member<uint64_t>(va, "vmap_area", "va_start")),
                    TRY(k.member<uint64_t>(va, "vmap_area", "va_end"))});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const VmapArea& x, const VmapArea& y) { return x.start < y.start; });
  return rows;
}

Result<void> kmem_v(Kernel& k, Output& out) {
  vmap_header(out);
  for (const auto& r : TRY(vmap_areas(k))) vmap_line(r, out);
  return ok();
}

// kmem -n: memory nodes, their zones, the sparsemem sections and the memory blocks.
Result<void> kmem_n(Kernel& k, Output& out) {
  auto zs = TRY(kernel::zones(k));
  uint64_t page = k.arch().page_size();
  for (const auto& node : TRY(kernel::online_nodes(k))) {
    uint64_t spanned = TRY(k.member_uint(node.pgdat, "pglist_data", "node_spanned_pages"));
    uint64_t start_pfn = TRY(k.member_uint(node.pgdat, "pglist_data", "node_start_pfn"));
    out.print("NODE    SIZE      PGLIST_DATA       BOOTMEM_DATA       NODE_ZONES   \n");
    bool first = true;
    for (const auto& z : zs) {
      if (z.node != node.id) continue;
      if (first)
        out.print("{:>3}{:>10}   {:x}        ----        {:x}\n", node.id, spanned, node.pgdat, z.addr);
      else
        out.print("{:52}{:x}\n", "", z.addr);
      first = false;
    }
    out.print("    MEM_MAP          START_PADDR    START_MAPNR\n");
    out.print("{:x}  {}  {}\n\n", TRY(pfn_to_page(k, start_pfn)), center(fmt::format("{:x}", start_pfn * page), 16, true),
              center(fmt::format("{}", start_pfn), 11, true));
    out.print("ZONE  NAME         SIZE       MEM_MAP      START_PADDR  START_MAPNR\n");
    for (const auto& z : zs) {
      if (z.node != node.id) continue;
      uint64_t mem_map = z.spanned ? TRY(pfn_to_page(k, z.start_pfn)) : 0;
      out.print(" {:>2}   {:<9} {:>7}  {:>16x}  {:>11x}  {:>11}\n", z.index, z.name, z.spanned, mem_map, z.start_pfn * page,
                z.spanned ? z.start_pfn : 0);
    }
    out.print("\n");
  }
  out.print("-------------------------------------------------------------------\n\n");

  uint64_t pages_per_section = TRY(kernel::pages_per_section(k));
  uint64_t page_struct = TRY(k.types().size_of_name("page"));
  // The flag bits below the encoded mem_map (include/linux/mmzone.h, an enum since 5.12).
  auto last_bit = k.types().enumerator("SECTION_MAP_LAST_BIT");
  uint64_t map_mask = ~((1ull << (last_bit ? *last_bit : 2)) - 1);
  struct Flag {
    const char* enumerator;
    char letter;
  };
  const Flag flags[] = {{"SECTION_MARKED_PRESENT_BIT", 'P'}, {"SECTION_HAS_MEM_MAP_BIT", 'M'},
                        {"SECTION_IS_ONLINE_BIT", 'O'}, {"SECTION_IS_EARLY_BIT", 'E'},
                        {"SECTION_TAINT_ZONE_DEVICE_BIT", 'D'}};
  out.print("NR      SECTION        CODED_MEM_MAP        MEM_MAP       STATE PFN\n");
  for (const auto& sec : TRY(kernel::mem_sections(k))) {
    std::string state;
    for (const auto& f : flags)
      if (auto bit = k.types().enumerator(f.enumerator); bit && (sec.section_mem_map & (1ull << *bit))) state += f.letter;
    uint64_t coded = sec.section_mem_map & map_mask;
    out.print("{:>2}  {:x}  {:x}  {:x}  {:<4}  {:<16}\n", sec.nr, sec.addr, coded,
              coded + sec.nr * pages_per_section * page_struct, state, sec.nr * pages_per_section);
  }
  out.print("\n");

  // Memory blocks: the memory_blocks xarray (5.8+), memory_block.dev names them.
  uint64_t block_sections = TRY(k.read_u64(TRY(k.symbol("sections_per_block"))));
  uint64_t section_bytes = TRY(kernel::pages_per_section(k)) * page;
  uint64_t block_bytes = block_sections * section_bytes;
  out.print("   MEM_BLOCK        NAME        PHYSICAL RANGE     NODE  STATE   START_SECTION_NO\n");
  for (const auto& e : TRY(kernel::xarray_walk(k, TRY(k.symbol("memory_blocks"))))) {
    uint64_t mb = e.entry;
    uint64_t start_nr = TRY(k.member_uint(mb, "memory_block", "start_section_nr"));
    uint64_t state = TRY(k.member_uint(mb, "memory_block", "state"));
    int nid = static_cast<int>(TRY(k.member<int32_t>(mb, "memory_block", "nid")));
    uint64_t name_ptr = TRY(k.member<uint64_t>(mb, "memory_block", "dev.kobj.name"));
    std::string name = TRY(k.read_cstring(name_ptr, 64));
    // MEM_ONLINE.. were bit flags (include/linux/memory.h) until they became enum
    // memory_block_state (values 0..); crash 9.0.2 knows only the bit values and calls every
    // state of the enum's kernels UNKNOWN (e.g. MEM_ONLINE = 0 on 6.12). Named here from the
    // enum when the kernel has it.
    static const char* const kStates[] = {"ONLINE", "GOING_OFFLINE", "OFFLINE", "GOING_ONLINE", "CANCEL_ONLINE",
                                          "CANCEL_OFFLINE"};
    const char* state_name = "UNKNOWN";
    for (size_t i = 0; i < std::size(kStates); ++i) {
      auto v = k.types().enumerator(fmt::format("MEM_{}", kStates[i]));
      if (v ? static_cast<uint64_t>(*v) == state : state == (1ull << i)) state_name = kStates[i];
    }
    uint64_t start = start_nr * section_bytes;
    out.print(" {:x}   {:<11}{:>8x} - {:>8x}  {:<4} {:<7} {:<12}\n", mb, name, start, start + block_bytes - 1, nid, state_name,
              start_nr);
  }
  return ok();
}

// kmem -p: the struct page of every page of every present section, or of one address
// (a struct page pointer, a kernel virtual address, or a physical address).
void page_header(Output& out) { out.print("      PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS\n"); }

struct PageLayout {
  uint64_t size, flags, mapping, index, refcount;
};
Result<PageLayout> page_layout(Kernel& k) {
  return PageLayout{TRY(k.types().size_of_name("page")), TRY(k.offset_of("page", "flags")),
                    TRY(k.offset_of("page", "mapping")), TRY(k.offset_of("page", "index")),
                    TRY(k.offset_of("page", "_refcount"))};
}

void page_line(uint64_t page, uint64_t phys, const uint8_t* bytes, const PageLayout& l,
               const std::vector<kernel::PageFlagName>& names, Output& out) {
  auto word = [&](uint64_t off) {
    uint64_t v;
    std::memcpy(&v, bytes + off, 8);
    return v;
  };
  int32_t count;
  std::memcpy(&count, bytes + l.refcount, 4);
  out.print("{:<16x} {:>8x} {:>16x} {:>8x} {:>2} {}\n", page, phys, word(l.mapping), word(l.index), count,
            kernel::format_page_flags(word(l.flags), names));
}

Result<std::optional<uint64_t>> parse_address(std::string_view s) {
  if (s.substr(0, 2) == "0x" || s.substr(0, 2) == "0X") s.remove_prefix(2);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (s.empty() || s.size() > 16 || ec != std::errc() || p != s.data() + s.size()) return std::optional<uint64_t>();
  return std::optional<uint64_t>(v);
}

Result<void> kmem_p(Kernel& k, const Args& args, Output& out) {
  PageLayout l = TRY(page_layout(k));
  auto names = TRY(kernel::page_flag_names(k));
  uint64_t page_size = k.arch().page_size();
  uint64_t vmemmap = TRY(k.read_u64(TRY(k.symbol("vmemmap_base"))));
  if (!args.positional.empty()) {
    for (const auto& a : args.positional) {
      auto addr = TRY(parse_address(a));
      if (!addr) return Error::make(Errc::usage, "invalid address: {}", a);
      uint64_t pfn;
      if (*addr >= vmemmap && (*addr - vmemmap) / l.size < (1ull << 40)) {
        pfn = (*addr - vmemmap) / l.size;  // a struct page pointer
      } else if (!args.has('P') && *addr >= TRY(k.read_u64(TRY(k.symbol("page_offset_base"))))) {
        std::optional<uint64_t> phys = k.arch().linear_vtop(*addr);
        if (!phys) {
          if (auto w = k.arch().walk(k.arch().kernel_root(), *addr, nullptr)) phys = *w;
        }
        if (!phys) return Error::make(Errc::fault, "cannot translate virtual address {:x}", *addr);
        pfn = *phys / page_size;
      } else {
        pfn = *addr / page_size;  // a physical address
      }
      std::vector<uint8_t> bytes(l.size);
      uint64_t page = vmemmap + pfn * l.size;
      TRY(k.read(page, bytes));
      page_header(out);
      page_line(page, pfn * page_size, bytes.data(), l, names, out);
    }
    return ok();
  }
  uint64_t per_section = TRY(kernel::pages_per_section(k));
  page_header(out);
  std::vector<uint8_t> bytes;
  constexpr uint64_t kChunk = 4096;  // struct pages read at a time
  for (const auto& sec : TRY(kernel::mem_sections(k))) {
    uint64_t first = sec.nr * per_section;
    for (uint64_t base = first; base < first + per_section; base += kChunk) {
      uint64_t n = std::min(kChunk, first + per_section - base);
      bytes.resize(n * l.size);
      TRY(k.read(vmemmap + base * l.size, bytes));
      for (uint64_t i = 0; i < n; ++i)
        page_line(vmemmap + (base + i) * l.size, (base + i) * page_size, bytes.data() + i * l.size, l, names, out);
    }
  }
  return ok();
}

// One page line under its header, for the page of pfn.
Result<void> print_pfn(Kernel& k, uint64_t pfn, Output& out) {
  PageLayout l = TRY(page_layout(k));
  uint64_t page = TRY(pfn_to_page(k, pfn));
  std::vector<uint8_t> bytes(l.size);
  TRY(k.read(page, bytes));
  page_header(out);
  page_line(page, pfn * k.arch().page_size(), bytes.data(), l, TRY(kernel::page_flag_names(k)), out);
  return ok();
}

// One SLUB slab as crash's do_slab_slub() shows it: its counts, then its objects (all of
// them, or only the one holding `only`): free ones bare, "(cpu N cache)" when on that CPU's
// lockless freelist, allocated ones in brackets.
struct SlabView {
  Kernel& k;
  uint64_t cache;
  kernel::SlubCounts counts;
  std::string_view st;  // "slab" (5.17+) or "page"
  uint64_t red_left_pad = 0;
  static Result<SlabView> make(Kernel& k, uint64_t cache) {
    SlabView v{k, cache, TRY(kernel::slub_counts(k, cache)), kernel::slab_struct(k)};
    if (k.types().has_member("kmem_cache", "red_left_pad"))
      v.red_left_pad = TRY(k.member_uint(cache, "kmem_cache", "red_left_pad"));
    return v;
  }
  // `cpu` >= 0: the slab is that CPU's, and its lockless freelist (`cpu_freelist`) counts.
  // `verbose`: the table header, the counts and the objects; else the counts line alone.
  Result<void> print(uint64_t slab, int cpu, uint64_t cpu_freelist, std::optional<uint64_t> only, Output& out,
                     bool verbose = true) {
    uint64_t page_struct = TRY(k.types().size_of_name("page"));
    uint64_t vmemmap = TRY(k.read_u64(TRY(k.symbol("vmemmap_base"))));
    uint64_t slab_pfn = (slab - vmemmap) / page_struct;
    uint64_t page_offset = TRY(k.read_u64(TRY(k.symbol("page_offset_base"))));
    uint64_t base = page_offset + slab_pfn * k.arch().page_size();
    uint64_t objects = TRY(k.member_uint(slab, st, "objects"));
    auto slab_free = TRY(kernel::slab_freelist(k, cache, TRY(k.member<uint64_t>(slab, st, "freelist")), objects, slab));
    std::vector<uint64_t> cpu_free;
    if (cpu >= 0) cpu_free = TRY(kernel::slab_freelist(k, cache, cpu_freelist, objects, slab));
    uint64_t nfree = slab_free.size() + cpu_free.size();
    int node = 0;
    for (const auto& n : TRY(kernel::online_nodes(k))) {
      uint64_t start = TRY(k.member_uint(n.pgdat, "pglist_data", "node_start_pfn"));
      uint64_t span = TRY(k.member_uint(n.pgdat, "pglist_data", "node_spanned_pages"));
      if (slab_pfn >= start && slab_pfn < start + span) node = n.id;
    }
    if (verbose) out.print("  SLAB              MEMORY            NODE  TOTAL  ALLOCATED  FREE\n");
    out.print("  {:<16x}  {:<16x}  {:>4}  {:>5}  {:>9}  {:>4}\n", slab, base, node, objects,
              objects >= nfree ? objects - nfree : 0, nfree);
    if (!verbose) return ok();
    out.print("  FREE / [ALLOCATED]\n");
    for (uint64_t i = 0; i < objects; ++i) {
      uint64_t object = base + red_left_pad + i * counts.size;
      if (only && (*only < object || *only >= object + counts.size)) continue;
      bool free = std::find(cpu_free.begin(), cpu_free.end(), object) != cpu_free.end() ||
                  std::find(slab_free.begin(), slab_free.end(), object) != slab_free.end();
      if (!free)
        out.print("  [{:x}]\n", object);
      else if (cpu >= 0)  // any free object of a CPU's slab, as crash labels them
        out.print("   {:x}  (cpu {} cache)\n", object, cpu);
      else
        out.print("   {:x}  \n", object);
    }
    return ok();
  }
};

// The slab object holding `addr`, if its page belongs to a SLUB cache: the cache line, the
// slab's counts and the object, then (`with_page`) the page.
Result<bool> print_slab_object(Kernel& k, uint64_t addr, bool with_page, Output& out) {
  auto obj = TRY(kernel::slab_object_at(k, addr));
  if (!obj) return false;
  SlabView view = TRY(SlabView::make(k, obj->cache));
  slab_header(out);
  slab_line(obj->cache, view.counts, out);
  TRY(view.print(obj->slab, obj->cpu, obj->cpu_freelist, addr, out));
  if (!with_page) return true;
  out.print("\n");
  TRY(print_pfn(k, *TRY(kernel::kvaddr_to_pfn(k, addr)), out));
  return true;
}

// kmem -S CACHE: the cache line, then each CPU's slab and partial slabs, then each node's
// partial (and, when tracked, full) lists, every object shown.
Result<void> kmem_S_cache(Kernel& k, uint64_t cache, Output& out) {
  SlabView view = TRY(SlabView::make(k, cache));
  slab_header(out);
  slab_line(cache, view.counts, out);
  uint64_t cpu_slab = TRY(k.member<uint64_t>(cache, "kmem_cache", "cpu_slab"));
  std::string_view cpu_member = k.types().has_member("kmem_cache_cpu", "slab") ? "slab" : "page";
  bool has_partial = k.types().has_member("kmem_cache_cpu", "partial");
  std::map<int, uint64_t> per_node_cpu_slabs;
  auto node_of = [&](uint64_t slab) -> Result<int> {
    uint64_t pfn = (slab - TRY(k.read_u64(TRY(k.symbol("vmemmap_base"))))) / TRY(k.types().size_of_name("page"));
    for (const auto& n : TRY(kernel::online_nodes(k))) {
      uint64_t start = TRY(k.member_uint(n.pgdat, "pglist_data", "node_start_pfn"));
      uint64_t span = TRY(k.member_uint(n.pgdat, "pglist_data", "node_spanned_pages"));
      if (pfn >= start && pfn < start + span) return n.id;
    }
    return 0;
  };
  for (int cpu : TRY(k.cpus_in_mask("cpu_present_mask"))) {
    uint64_t kcc = cpu_slab + TRY(k.per_cpu_offset(cpu));
    out.print("CPU {} KMEM_CACHE_CPU:\n  {:x}\n", cpu, kcc);
    uint64_t slab = TRY(k.member<uint64_t>(kcc, "kmem_cache_cpu", cpu_member));
    out.print("CPU {} SLAB:\n{}", cpu, slab ? "" : "  (empty)\n");
    if (slab) {
      per_node_cpu_slabs[TRY(node_of(slab))]++;
      TRY(view.print(slab, cpu, TRY(k.member<uint64_t>(kcc, "kmem_cache_cpu", "freelist")), std::nullopt, out));
    }
    if (!has_partial) continue;
    uint64_t p = TRY(k.member<uint64_t>(kcc, "kmem_cache_cpu", "partial"));
    out.print("CPU {} PARTIAL:\n{}", cpu, p ? "" : "  (empty)\n");
    std::set<uint64_t> seen;
    while (p) {
      if (!seen.insert(p).second) return Error::make(Errc::bad_data, "{}: CPU {} partial list loops at {:x}", view.counts.name, cpu, p);
      TRY(view.print(p, -1, 0, std::nullopt, out));
      p = TRY(k.member<uint64_t>(p, view.st, "next"));
    }
  }
  uint64_t slab_list_off = TRY(k.offset_of(view.st, k.types().has_member(view.st, "slab_list") ? "slab_list" : "lru"));
  uint64_t node_array = cache + TRY(k.offset_of("kmem_cache", "node"));
  // Full slabs are listed only for caches with SLAB_STORE_USER (slub_debug=U); its bit is
  // known from enum _slab_flag_bits (6.8+); before, full lists are reported as not tracked.
  auto store_user = k.types().enumerator("_SLAB_STORE_USER");
  uint64_t flags = TRY(k.member_uint(cache, "kmem_cache", "flags"));
  bool full_tracked = k.types().has_member("kmem_cache_node", "full") && store_user && (flags & (1ull << *store_user));
  for (const auto& n : TRY(kernel::online_nodes(k))) {
    uint64_t node = TRY(k.read_u64(node_array + static_cast<uint64_t>(n.id) * 8));
    uint64_t nr_slabs = node ? TRY(k.member_uint(node, "kmem_cache_node", "nr_slabs.counter")) : 0;
    uint64_t nr_partial = node ? TRY(k.member_uint(node, "kmem_cache_node", "nr_partial")) : 0;
    out.print("KMEM_CACHE_NODE   NODE  SLABS  PARTIAL  PER-CPU\n");
    out.print("{:x}  {:>4}  {:>5}  {:>7}  {:>7}\n", node, n.id, nr_slabs, nr_partial, per_node_cpu_slabs[n.id]);
    for (const char* list : {"partial", "full"}) {
      out.print("NODE {} {}:\n", n.id, list[0] == 'p' ? "PARTIAL" : "FULL");
      if (list[0] == 'f' && !full_tracked) {
        out.print("  (not tracked)\n");
        continue;
      }
      auto entries = node ? TRY(kernel::list_walk(k, node + TRY(k.offset_of("kmem_cache_node", list)), 1u << 24))
                          : std::vector<uint64_t>{};
      // A node's lists show each slab's counts under one header, without objects.
      out.print("{}", entries.empty() ? "  (empty)\n" : "  SLAB              MEMORY            NODE  TOTAL  ALLOCATED  FREE\n");
      for (uint64_t e : entries) TRY(view.print(e - slab_list_off, -1, 0, std::nullopt, out, false));
    }
  }
  out.print("\n");
  return ok();
}

// A task's context block (PID, COMMAND, TASK, CPU, STATE), printed by `set TASK`'s own
// code; the session's current task is left as it was.
Result<void> show_task_context(Session& s, uint64_t task, Output& out) {
  const Command* set = find_command("set");
  if (!set) return Error::make(Errc::not_found, "no set command");
  Args a;
  a.positional.push_back(fmt::format("{:x}", task));
  auto saved = s.current_task;
  auto r = set->run(s, a, out);
  s.current_task = saved;
  return r;
}

// kmem ADDRESS: what a kernel virtual address is: a slab object, a vmalloc area, or a
// page (a struct page pointer, a direct-map address, or a physical address).
Result<void> kmem_address(Session& s, uint64_t addr, bool physical, Output& out) {
  Kernel& k = s.kernel;
  uint64_t page_size = k.arch().page_size();
  uint64_t page_struct = TRY(k.types().size_of_name("page"));
  uint64_t vmemmap = TRY(k.read_u64(TRY(k.symbol("vmemmap_base"))));
  uint64_t page_offset = TRY(k.read_u64(TRY(k.symbol("page_offset_base"))));
  if (physical || addr < page_offset) return print_pfn(k, addr / page_size, out);
  if (addr >= vmemmap && addr - vmemmap < (1ull << 40)) return print_pfn(k, (addr - vmemmap) / page_struct, out);
  for (const auto& r : TRY(vmap_areas(k))) {
    if (addr < r.start || addr >= r.end) continue;
    vmap_header(out);
    vmap_line(r, out);
    out.print("\n");
    auto phys = k.arch().walk(k.arch().kernel_root(), addr, nullptr);
    if (!phys) return phys.error();
    return print_pfn(k, *phys / page_size, out);
  }
  std::optional<uint64_t> phys = k.arch().linear_vtop(addr);
  if (!phys) {
    if (auto w = k.arch().walk(k.arch().kernel_root(), addr, nullptr)) phys = *w;
  }
  if (!phys) return Error::make(Errc::fault, "{:x}: not a mapped kernel address", addr);
  // The kernel image: the symbol, and the task whose task_struct holds the address (the
  // static init_task), with its context as `set` shows it.
  auto text = k.symbols().address_of("_text");
  auto end = k.symbols().address_of("_end");
  if (text && end && addr >= *text && addr < *end) {
    if (auto hit = k.symbols().lookup(addr)) {
      out.print("{:x} ({}) {}", addr, hit->symbol->type, hit->symbol->name);
      if (hit->offset) out.print("+{}", hit->offset);
      out.print("\n\n");
      uint64_t task_size = TRY(k.types().size_of_name("task_struct"));
      for (const auto& t : TRY(kernel::task_table(k))->tasks) {
        if (addr < t.addr || addr >= t.addr + task_size) continue;
        TRY(show_task_context(s, t.addr, out));
        out.print("\n");
        break;
      }
    }
    return print_pfn(k, *phys / page_size, out);
  }
  if (addr >= page_offset && TRY(print_slab_object(k, addr, true, out))) return ok();
  return print_pfn(k, *phys / page_size, out);
}

Result<void> run_kmem(Session& s, const Args& args, Output& out) {
  Kernel& k = s.kernel;
  auto usage = [&]() -> Result<void> {
    out.print("Usage:\n  kmem [-f|-F|-c|-C|-i[=shared]|-v|-V|-n|-z|-o|-h] [-p | -m member[,member]]\n"
              "       [[-s|-S|-S=cpu[s]|-r] [slab] [-I slab[,slab]]] [-g [flags]] [[-P] address]]\n"
              "Enter \"help kmem\" for details.\n");
    return Error{Errc::usage, "", std::nullopt};
  };
  if (args.has('i')) return kmem_i(k, out);
  if (args.has('V')) return kmem_V(k, out);
  if (args.has('z')) return kmem_z(k, out);
  if (args.has('s')) return kmem_s(k, args, out);
  if (args.has('S')) {
    auto caches = TRY(kernel::slab_caches(k));
    if (args.positional.empty()) {
      for (uint64_t cache : caches) TRY(kmem_S_cache(k, cache, out));
      return ok();
    }
    for (const auto& want : args.positional)
      for (uint64_t cache : caches)
        if (TRY(kernel::slab_cache_name(k, cache)) == want) {
          TRY(kmem_S_cache(k, cache, out));
          break;
        }
    return ok();
  }
  if (args.has('h')) return kmem_h(k, out);
  if (args.has('f')) return kmem_f(k, out);
  if (args.has('v')) return kmem_v(k, out);
  if (args.has('n')) return kmem_n(k, out);
  if (args.has('p')) return kmem_p(k, args, out);
  if (args.positional.empty()) return usage();
  for (const auto& a : args.positional)
    if (!TRY(parse_address(a))) return usage();
  for (const auto& a : args.positional) TRY(kmem_address(s, *TRY(parse_address(a)), args.has('P'), out));
  return ok();
}

}  // namespace

static Command kmem_command() {
  return Command{CommandSpec{"kmem",
                             {},
                             "kernel memory",
                             "[-i|-V|-z|-h|-f|-v|-n] | -s [slab|address] | -S slab | -p [address] | [-P] address",
                             {{'i', false, "general memory usage information"},
                              {'V', false, "the vm_stat, vm_node_stat and vm_event_states counters"},
                              {'z', false, "the zones of each memory node and their vm_stat counters"},
                              {'s', false, "SLUB caches: object size, allocated and total objects, slabs"},
                              {'h', false, "hugetlb page pools (hstates)"},
                              {'f', false, "the free lists of each zone, by order and migrate type"},
                              {'v', false, "vmalloc areas (vmap_area, vm_struct, address range, size)"},
                              {'n', false, "memory nodes, their zones, sparsemem sections and memory blocks"},
                              {'p', false, "struct page of every page, or of an address"},
                              {'P', false, "the address is physical"},
                              {'S', false, "SLUB caches with every slab and object: -S CACHE"}},
                             {"kmem -i", "kmem -V", "kmem -z", "kmem -s", "kmem -s dentry", "kmem -h"}},
                 run_kmem};
}

std::vector<Command> kmem_commands() { return {kmem_command()}; }

}  // namespace coroner::commands
