// kmem: kernel memory as crash 9 shows it: the memory summary (-i), the vm_stat counters
// (-V), the zones of each node (-z), SLUB caches with their object counts (-s [CACHE]),
// hugetlb page pools (-h) and vmalloc areas (-v).
#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <set>

#include "commands/builtin.h"
#include "commands/support/json.h"
#include "commands/support/parse.h"
#include "kernel/kernel.h"
#include "kernel/mm.h"
#include "kernel/modules.h"
#include "kernel/session_flags.h"
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

// crash's IS_KVADDR on x86_64: the kernel half of the address space. Any other address
// argument is taken as physical.
bool is_kvaddr(uint64_t addr) { return (addr >> 63) != 0; }

Result<uint64_t> read_ulong_symbol(Kernel& k, std::string_view name) { return k.read_u64(TRY(k.symbol(name))); }

// The struct page of pfn 0 (kernel/mm.h).
Result<uint64_t> vmemmap_base(Kernel& k) { return kernel::vmemmap_of(k); }

// A physical address's direct-map (linear-map) virtual address.
Result<uint64_t> direct_map(Kernel& k, uint64_t paddr) {
  if (auto v = k.arch().ptov(paddr)) return *v;
  return Error::make(Errc::out_of_bounds, "physical address {:x} has no direct-map address", paddr);
}

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

template <typename Fn>
Result<void> for_each_page(Kernel& k, Fn&& fn);

// Pages in use by more than one user, as crash's -i=shared counts them: not PG_reserved,
// with a reference count above 1.
Result<uint64_t> shared_pages(Kernel& k) {
  auto reserved_bit = k.types().enumerator("PG_reserved");
  if (!reserved_bit) return Error::make(Errc::no_debug_info, "no enumerator PG_reserved (enum pageflags)");
  uint64_t flags_off = TRY(k.offset_of("page", "flags"));
  uint64_t count_off = TRY(k.offset_of("page", "_refcount"));
  uint64_t shared = 0;
  TRY(for_each_page(k, [&](uint64_t, uint64_t, const uint8_t* bytes) {
    uint64_t flags;
    int32_t count;
    std::memcpy(&flags, bytes + flags_off, 8);
    std::memcpy(&count, bytes + count_off, 4);
    if (!(flags & (1ull << *reserved_bit)) && count > 1) ++shared;
  }));
  return shared;
}

// kmem -i's rows: printed as they come in text (crash's table), or gathered into one JSON
// document: {"rows":[{label, pages, bytes, size (the text's TOTAL), percent, of}]}, percent
// and of null where the text shows "----".
class MemInfoSink {
 public:
  MemInfoSink(Kernel& k, Output& out, bool json_out) : k_(k), out_(out) {
    if (!json_out) return;
    w_.emplace();
    w_->object().field("command", "kmem").key("rows").array();
  }
  void header() {
    if (!w_) out_.print("                 PAGES        TOTAL      PERCENTAGE\n");
  }
  void row(std::string_view label, uint64_t pages, std::string_view of, uint64_t whole) {
    if (w_) {
      w_->object().field("label", label).field("pages", pages).field("bytes", pages * k_.arch().page_size());
      w_->field("size", pages_to_size(k_, pages));
      if (of.empty()) w_->null_field("percent").null_field("of");
      else w_->field("percent", percent(pages, whole)).field("of", of);
      w_->end();
    } else if (of.empty()) {
      out_.print("{:>13}  {:>7}  {:>11}         ----\n", label, pages, pages_to_size(k_, pages));
    } else {
      out_.print("{:>13}  {:>7}  {:>11}  {:>3}% of {}\n", label, pages, pages_to_size(k_, pages), percent(pages, whole), of);
    }
  }
  void gap() {
    if (!w_) out_.print("\n");
  }
  void finish() {
    if (w_) w_->end().end().print_line(out_);
  }

 private:
  Kernel& k_;
  Output& out_;
  std::optional<json::Writer> w_;
};

Result<void> kmem_i(Kernel& k, bool with_shared, bool json_out, Output& out) {
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

  MemInfoSink sink(k, out, json_out);
  auto row = [&](std::string_view label, uint64_t pages, std::string_view of, uint64_t whole) {
    sink.row(label, pages, of, whole);
  };
  sink.header();
  row("TOTAL MEM", total, "", 0);
  row("FREE", free, "TOTAL MEM", total);
  row("USED", used, "TOTAL MEM", total);
  if (with_shared) row("SHARED", TRY(shared_pages(k)), "TOTAL MEM", total);
  row("BUFFERS", buffers, "TOTAL MEM", total);
  row("CACHED", cached_pages, "TOTAL MEM", total);
  row("SLAB", static_cast<uint64_t>(std::max<int64_t>(0, slab)), "TOTAL MEM", total);
  sink.gap();

  uint64_t huge_total = 0, huge_free = 0;
  for (const auto& p : TRY(huge_pools(k))) {
    huge_total += p.nr << p.order;
    huge_free += p.free << p.order;
  }
  row("TOTAL HUGE", huge_total, "", 0);
  row("HUGE FREE", huge_free, "TOTAL HUGE", huge_total);
  sink.gap();

  auto [swap_total, swap_used] = TRY(swap_totals(k));
  row("TOTAL SWAP", swap_total, "", 0);
  row("SWAP USED", swap_used, "TOTAL SWAP", swap_total);
  row("SWAP FREE", swap_total - std::min(swap_used, swap_total), "TOTAL SWAP", swap_total);
  sink.gap();

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
  sink.finish();
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

Result<bool> print_slab_object(Kernel& k, uint64_t addr, bool with_page, Output& out);

// -I: the caches to leave out, a comma-separated list of names.
std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t c = s.find(',', pos);
    if (c == std::string_view::npos) c = s.size();
    if (c > pos) out.emplace_back(s.substr(pos, c - pos));
    pos = c + 1;
  }
  return out;
}

void slab_ignored_line(uint64_t cache, std::string_view name, Output& out) {
  out.print("{:<62}{}\n", fmt::format("{:x} [IGNORED]", cache), name);  // the name in the NAME column
}

Result<void> kmem_S_cache(Kernel& k, uint64_t cache, bool header, const std::vector<int>* cpus, Output& out);

// kmem -s / -S [CACHE]: every cache or the one named (a name that is no cache prints nothing,
// as in crash); -I's caches get an [IGNORED] line. With -S, each cache's header is left out
// after an ignored cache, as crash does.
Result<void> kmem_caches(Kernel& k, const std::optional<std::string>& want, const std::vector<std::string>& ignore,
                         bool verbose, const std::vector<int>* cpus, Output& out) {
  bool header = true;
  for (uint64_t cache : TRY(kernel::slab_caches(k))) {
    std::string name = TRY(kernel::slab_cache_name(k, cache));
    if (want && name != *want) continue;
    if (header) slab_header(out);
    bool ignored = std::find(ignore.begin(), ignore.end(), name) != ignore.end();
    if (ignored) {
      slab_ignored_line(cache, name, out);
      header = false;
      continue;
    }
    if (verbose) {
      TRY(kmem_S_cache(k, cache, false, cpus, out));
      header = true;
    } else {
      slab_line(cache, TRY(kernel::slub_counts(k, cache)), out);
      header = false;
    }
  }
  return ok();
}

// kmem -s [CACHE] [-I ...] under --json: {"caches":[{cache, name, objsize, allocated, total,
// slabs, ssize}]}, ssize the slab's size in bytes (the text's column is in KiB); a cache left
// out with -I is {cache, name, ignored: true}.
Result<void> kmem_caches_json(Kernel& k, const std::optional<std::string>& want, const std::vector<std::string>& ignore,
                              Output& out) {
  json::Writer w;
  w.object().field("command", "kmem").key("caches").array();
  for (uint64_t cache : TRY(kernel::slab_caches(k))) {
    std::string name = TRY(kernel::slab_cache_name(k, cache));
    if (want && name != *want) continue;
    w.object().address_field("cache", cache).field("name", name);
    if (std::find(ignore.begin(), ignore.end(), name) != ignore.end()) {
      w.field("ignored", true).end();
      continue;
    }
    auto c = TRY(kernel::slub_counts(k, cache));
    w.field("objsize", c.object_size).field("allocated", c.allocated()).field("total", c.total);
    w.field("slabs", c.slabs).field("ssize", c.slab_bytes).end();
  }
  w.end().end().print_line(out);
  return ok();
}

// kmem -s list: each cache's address and name.
Result<void> kmem_cache_list(Kernel& k, Output& out) {
  for (uint64_t cache : TRY(kernel::slab_caches(k))) out.print("{:x} {}\n", cache, TRY(kernel::slab_cache_name(k, cache)));
  return ok();
}

// kmem -s/-S ADDRESS: a kmem_cache address shows that cache; any other address the slab
// object holding it. A physical address is looked up at its direct-map address.
Result<void> kmem_s_address(Kernel& k, uint64_t addr, bool physical, bool verbose, const std::vector<int>* cpus,
                            Output& out) {
  if (physical || !is_kvaddr(addr)) {
    uint64_t high_memory = TRY(k.read_u64(TRY(k.symbol("high_memory"))));
    auto high_phys = k.arch().linear_vtop(high_memory);  // the end of the direct map, physically
    if (high_phys && addr < *high_phys)
      addr = TRY(direct_map(k, addr));
    else
      out.print("WARNING: cannot make virtual-to-physical translation: {:x}\n", addr);
  }
  auto caches = TRY(kernel::slab_caches(k));
  if (std::find(caches.begin(), caches.end(), addr) != caches.end()) {
    if (verbose) return kmem_S_cache(k, addr, true, cpus, out);
    slab_header(out);
    slab_line(addr, TRY(kernel::slub_counts(k, addr)), out);
    return ok();
  }
  bool mapped = TRY(kernel::kvaddr_to_pfn(k, addr)).has_value();
  if (!mapped) out.print("WARNING: cannot find mem_map page for address: {:x}\n", addr);
  if (!mapped || !TRY(print_slab_object(k, addr, false, out)))
    return Error::make(Errc::not_found, "address is not allocated in slab subsystem: {:x}", addr);
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

// The zones' free lists: zone.free_area[order].free_list[migratetype] (list_heads linking
// the first page of each free block through page.lru).
struct FreeLists {
  uint64_t free_area_off, free_area_size, free_list_off, list_head_size, lru_off, orders, types;
  uint64_t head(const kernel::Zone& z, uint64_t order, uint64_t mt) const {
    return z.addr + free_area_off + order * free_area_size + free_list_off + mt * list_head_size;
  }
};
Result<FreeLists> free_lists(Kernel& k) {
  FreeLists f{};
  f.free_area_off = TRY(k.offset_of("zone", "free_area"));
  f.free_area_size = TRY(k.types().size_of_name("free_area"));
  f.free_list_off = TRY(k.offset_of("free_area", "free_list"));
  f.list_head_size = TRY(k.types().size_of_name("list_head"));
  f.lru_off = TRY(k.offset_of("page", "lru"));
  symbols::TypeRef zone_t = TRY(k.types().find("struct zone"));
  auto orders = k.types().array(k.types().resolve(TRY(k.types().member(zone_t, "free_area")).type));
  symbols::TypeRef fa_t = TRY(k.types().find("struct free_area"));
  auto types = k.types().array(k.types().resolve(TRY(k.types().member(fa_t, "free_list")).type));
  if (!orders || !types || orders->second == 0 || orders->second > 64 || types->second == 0 || types->second > 16)
    return Error::make(Errc::no_debug_info, "zone.free_area / free_area.free_list: not arrays of plausible length");
  f.orders = orders->second;
  f.types = types->second;
  return f;
}

// A zone's NR_FREE_PAGES counter (zone.vm_stat), as crash's -f prints it.
Result<uint64_t> zone_free_pages(Kernel& k, const kernel::Zone& z) {
  auto item = k.types().enumerator("NR_FREE_PAGES");
  if (!item) return Error::make(Errc::no_debug_info, "no enumerator NR_FREE_PAGES (enum zone_stat_item)");
  int64_t v = TRY(k.read_as<int64_t>(z.addr + TRY(k.offset_of("zone", "vm_stat")) + static_cast<uint64_t>(*item) * 8));
  return static_cast<uint64_t>(std::max<int64_t>(0, v));
}

constexpr std::string_view kZoneHeader = "ZONE  NAME        SIZE    FREE      MEM_MAP       START_PADDR  START_MAPNR\n";

// Each zone with its -f line (mem_map, start address and mapnr columns as crash fills them).
struct ZoneRow {
  kernel::Zone zone;
  uint64_t free;
  std::string line;
};
Result<std::vector<ZoneRow>> zone_rows(Kernel& k) {
  std::vector<ZoneRow> rows;
  uint64_t cum_size = 0;
  for (const auto& z : TRY(kernel::zones(k))) {
    uint64_t zone_free = TRY(zone_free_pages(k, z));
    uint64_t mem_map = z.spanned ? TRY(pfn_to_page(k, z.start_pfn)) : 0;
    uint64_t paddr = z.spanned ? z.start_pfn * k.arch().page_size() : 0;
    uint64_t mapnr = z.spanned ? cum_size : 0;
    cum_size += z.spanned;
    rows.push_back({z, zone_free,
                    fmt::format("{:>3}   {:<9}{:>7} {:>7}  {}  {}  {}\n", z.index, z.name, z.spanned, zone_free,
                                center(fmt::format("{:x}", mem_map), 16, false), center(fmt::format("{:x}", paddr), 11, true),
                                center(fmt::format("{}", mapnr), 11, true))});
  }
  return rows;
}

std::string area_line(Kernel& k, uint64_t order, uint64_t head) {
  return fmt::format("{:>3}  {:>6}k  {:x}  ", order, (k.arch().page_size() << order) / 1024, head);
}

// kmem -f: each zone's free_area[order].free_list[migratetype] lists, counted; -F (verbose)
// lists the first page of every free block under its list instead of counting.
Result<void> kmem_f(Kernel& k, bool verbose, Output& out) {
  FreeLists fl = TRY(free_lists(k));
  uint64_t total_pages = 0;
  for (const auto& row : TRY(zone_rows(k))) {
    out.print("{}{}", kZoneHeader, row.line);
    if (row.free) {  // crash looks at the lists of zones with free pages only
      if (!verbose) out.print("AREA    SIZE  FREE_AREA_STRUCT  BLOCKS  PAGES\n");
      for (uint64_t order = 0; order < fl.orders; ++order) {
        for (uint64_t mt = 0; mt < fl.types; ++mt) {
          uint64_t head = fl.head(row.zone, order, mt);
          auto entries = TRY(kernel::list_walk(k, head, 1u << 24));
          uint64_t blocks = entries.size();
          total_pages += blocks << order;
          if (!verbose) {
            out.print("{}{:>6} {:>6}\n", area_line(k, order, head), blocks, blocks << order);
            continue;
          }
          out.print("AREA    SIZE  FREE_AREA_STRUCT\n{}\n", area_line(k, order, head));
          for (uint64_t e : entries) out.print("{:x}\n", e - fl.lru_off);
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

// crash's ordinal(): 1st, 2nd, 3rd, 4th, ... 11th, 12th, 13th, 21st.
std::string ordinal(uint64_t n) {
  const char* suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    else if (n % 10 == 2) suffix = "nd";
    else if (n % 10 == 3) suffix = "rd";
  }
  return fmt::format("{}{}", n, suffix);
}

// The free block holding physical address `phys`, shown as crash's `kmem -f ADDRESS` shows
// it: the zone, the free list, the block's first page and which of its pages this is. `spec`
// is the address as given, `physical` whether it was given as a physical address. False
// when the page is on no free list.
Result<bool> free_block_search(Kernel& k, uint64_t phys, uint64_t spec, bool physical, Output& out) {
  FreeLists fl = TRY(free_lists(k));
  uint64_t page_size = k.arch().page_size();
  uint64_t page_struct = TRY(k.types().size_of_name("page"));
  uint64_t vmemmap = TRY(vmemmap_base(k));
  for (const auto& row : TRY(zone_rows(k))) {
    const auto& z = row.zone;
    if (!row.free || phys < z.start_pfn * page_size || phys >= (z.start_pfn + z.spanned) * page_size) continue;
    for (uint64_t order = 0; order < fl.orders; ++order) {
      for (uint64_t mt = 0; mt < fl.types; ++mt) {
        uint64_t head = fl.head(z, order, mt);
        for (uint64_t e : TRY(kernel::list_walk(k, head, 1u << 24))) {
          uint64_t page = e - fl.lru_off;
          if (page < vmemmap) continue;
          uint64_t block = (page - vmemmap) / page_struct * page_size;
          if (phys < block || phys >= block + (page_size << order)) continue;
          out.print("{}{}AREA    SIZE  FREE_AREA_STRUCT\n{}\n{:x}  ", kZoneHeader, row.line, area_line(k, order, head), page);
          if (order) {
            if (physical)
              out.print("({:x} is {}", spec, spec % page_size ? "in " : "");
            else
              out.print("({:x} is ", spec);
            out.print("{} of {} pages)", ordinal((phys - block) / page_size + 1), uint64_t{1} << order);
          }
          out.print("\n");
          return true;
        }
      }
    }
  }
  return false;
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

// kmem -v [ADDRESS...]: the vmap areas, or (one header) those holding each address: a
// kernel virtual address inside the area, or a physical address one of its pages maps.
Result<void> kmem_v(Kernel& k, const std::vector<uint64_t>& addrs, bool physical, Output& out) {
  vmap_header(out);
  auto areas = TRY(vmap_areas(k));
  if (addrs.empty()) {
    for (const auto& r : areas) vmap_line(r, out);
    return ok();
  }
  uint64_t page_size = k.arch().page_size();
  for (uint64_t addr : addrs) {
    for (const auto& r : areas) {
      bool holds = false;
      if (!physical && is_kvaddr(addr)) {
        holds = addr >= r.start && addr < r.end;
      } else {
        constexpr uint64_t kMaxAreaPages = 1u << 20;
        for (uint64_t v = r.start; v < r.end && (v - r.start) / page_size < kMaxAreaPages && !holds; v += page_size) {
          auto p = k.arch().walk(k.arch().kernel_root(), v, nullptr);
          holds = p && *p / page_size == addr / page_size;
        }
      }
      if (holds) vmap_line(r, out);
    }
  }
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


// Whether a pfn's sparsemem section is present (so it has a struct page).
Result<bool> pfn_present(Kernel& k, uint64_t pfn) {
  uint64_t per_section = TRY(kernel::pages_per_section(k));
  auto sections = TRY(kernel::mem_sections(k));
  return std::any_of(sections.begin(), sections.end(), [&](const auto& sec) { return sec.nr == pfn / per_section; });
}

// A struct page pointer: inside the vmemmap array (one struct page per pfn below
// 1 << (MAX_PHYSMEM_BITS - PAGE_SHIFT)), at the start of a struct page.
Result<std::optional<uint64_t>> page_pointer_pfn(Kernel& k, uint64_t addr) {
  uint64_t page_struct = TRY(k.types().size_of_name("page"));
  uint64_t vmemmap = TRY(vmemmap_base(k));
  auto bits = k.vmcoreinfo().number("NUMBER(MAX_PHYSMEM_BITS)");
  uint64_t page_shift = static_cast<uint64_t>(__builtin_ctzll(k.arch().page_size()));
  uint64_t max_pfn = bits && *bits > page_shift && *bits < 64 ? 1ull << (*bits - page_shift) : 1ull << 40;
  if (addr < vmemmap || (addr - vmemmap) % page_struct || (addr - vmemmap) / page_struct >= max_pfn)
    return std::optional<uint64_t>();
  return std::optional<uint64_t>((addr - vmemmap) / page_struct);
}

// The pfn an address argument of -p/-m names: a struct page pointer, a kernel virtual address
// (not with -P), or a physical address. nullopt when a virtual address does not translate.
Result<std::optional<uint64_t>> address_pfn(Kernel& k, uint64_t addr, bool physical) {
  if (!physical)
    if (auto pfn = TRY(page_pointer_pfn(k, addr))) return pfn;
  if (!physical && is_kvaddr(addr)) {
    std::optional<uint64_t> phys = k.arch().linear_vtop(addr);
    if (!phys) {
      if (auto w = k.arch().walk(k.arch().kernel_root(), addr, nullptr)) phys = *w;
    }
    if (!phys) return std::optional<uint64_t>();
    return std::optional<uint64_t>(*phys / k.arch().page_size());
  }
  return std::optional<uint64_t>(addr / k.arch().page_size());
}

// Every struct page of every present section, read in chunks: fn(page, pfn, bytes).
template <typename Fn>
Result<void> for_each_page(Kernel& k, Fn&& fn) {
  uint64_t page_struct = TRY(k.types().size_of_name("page"));
  uint64_t vmemmap = TRY(vmemmap_base(k));
  uint64_t per_section = TRY(kernel::pages_per_section(k));
  std::vector<uint8_t> bytes;
  constexpr uint64_t kChunk = 4096;  // struct pages read at a time
  for (const auto& sec : TRY(kernel::mem_sections(k))) {
    uint64_t first = sec.nr * per_section;
    for (uint64_t base = first; base < first + per_section; base += kChunk) {
      uint64_t n = std::min(kChunk, first + per_section - base);
      bytes.resize(n * page_struct);
      TRY(k.read(vmemmap + base * page_struct, bytes));
      for (uint64_t i = 0; i < n; ++i) fn(vmemmap + (base + i) * page_struct, base + i, bytes.data() + i * page_struct);
    }
  }
  return ok();
}

// kmem -m: struct page members as crash's show_page_member_data() prints them.
struct PageMember {
  enum Kind { pointer, integer, boolean, structure } kind = integer;
  std::string name;
  uint64_t offset = 0, size = 0;
  uint32_t bit_pos = 0, bit_size = 0;
  bool is_signed = false;
};

Result<std::vector<PageMember>> page_members(Kernel& k, std::string_view list) {
  if (list.empty() || list.back() == ',' || list.back() == '.') return Error::make(Errc::usage, "invalid format: {}", list);
  symbols::TypeRef page_t = TRY(k.types().find("struct page"));
  std::vector<PageMember> members;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string name(list.substr(pos, comma - pos));
    pos = comma + 1;
    if (name.empty()) continue;
    if (members.size() >= 256) return Error::make(Errc::usage, "too many members in comma-separated list");
    auto info = k.types().member(page_t, name);
    if (!info) return Error::make(Errc::usage, "invalid page struct member: {}", name);
    PageMember m;
    m.name = name;
    symbols::TypeRef t = k.types().resolve(info->type);
    m.size = TRY(k.types().size_of(t));
    std::string tname = k.types().name(t);
    switch (k.types().kind(t)) {
      case symbols::TypeKind::pointer: m.kind = PageMember::pointer; break;
      case symbols::TypeKind::integer:
        m.kind = (tname == "_Bool" || tname == "bool") ? PageMember::boolean : PageMember::integer;
        m.is_signed = tname.find("unsigned") == std::string::npos;
        break;
      case symbols::TypeKind::structure: m.kind = PageMember::structure; break;
      default: return Error::make(Errc::unsupported, "unsupported page member reference: page.{}", name);
    }
    if (m.kind == PageMember::integer && m.size != 1 && m.size != 2 && m.size != 4 && m.size != 8)
      return Error::make(Errc::unsupported, "unsupported page member reference: page.{}", name);
    if (m.kind == PageMember::structure && m.size > 80)  // crash copies at most ten longs
      return Error::make(Errc::unsupported, "unsupported page member reference: page.{}", name);
    if (info->bit_size) {  // a bit field: the storage unit of the member's type holding it
      uint64_t unit_bits = m.size * 8;
      m.offset = info->bit_offset / unit_bits * m.size;
      m.bit_pos = static_cast<uint32_t>(info->bit_offset % unit_bits);
      m.bit_size = info->bit_size;
    } else {
      m.offset = info->offset();
    }
    if (m.offset + m.size > TRY(k.types().size_of(page_t)))
      return Error::make(Errc::bad_data, "page.{}: beyond struct page", name);
    members.push_back(std::move(m));
  }
  if (members.empty()) return Error::make(Errc::usage, "invalid page struct member list format: {}", list);
  return members;
}

void page_members_header(const std::vector<PageMember>& members, Output& out) {
  std::string h = center("PAGE", 16, false);
  for (const auto& m : members) h += "  " + m.name;
  out.print("{}\n", h);
}

// One line: the page, then each member. The separators are crash's, including where it
// prints none (a 4-byte struct such as atomic_t _refcount, a signed long in hex).
void page_members_line(uint64_t page, const uint8_t* bytes, const std::vector<PageMember>& members, Output& out) {
  std::string line = fmt::format("{:x}  ", page);
  for (const auto& m : members) {
    const uint8_t* p = bytes + m.offset;
    auto word = [&](size_t size) {
      uint64_t v = 0;
      std::memcpy(&v, p, size);
      return v;
    };
    switch (m.kind) {
      case PageMember::pointer:
        line += fmt::format("{:016x}  ", word(8));
        break;
      case PageMember::boolean: {
        uint8_t b = p[0];
        line += b <= 1 ? fmt::format("{}  ", b ? "true" : "false") : fmt::format("{}", b);
        break;
      }
      case PageMember::integer: {
        uint64_t v = word(m.size);
        if (m.bit_size) v = (v >> m.bit_pos) & (m.bit_size >= 64 ? ~0ull : (1ull << m.bit_size) - 1);
        int radix = m.name == "flags" ? 16 : 10;  // crash: flags in hex; others in gdb's radix (10)
        int digits = static_cast<int>(m.size * 2);
        if (!m.is_signed) {
          line += radix == 10 ? fmt::format("{}  ", v) : fmt::format("{:0{}x}  ", v, digits);
        } else if (m.size == 8) {
          line += radix == 10 ? fmt::format("{}  ", static_cast<int64_t>(v)) : fmt::format("{:016x}", v);
        } else {
          int64_t sv = m.size == 4 ? static_cast<int32_t>(v) : m.size == 2 ? static_cast<int16_t>(v) : static_cast<int8_t>(v);
          uint64_t mask = m.size == 4 ? 0xffffffffull : m.size == 2 ? 0xffffull : 0xffull;
          line += radix == 10 ? fmt::format("{}  ", sv) : fmt::format("{:0{}x}  ", static_cast<uint64_t>(sv) & mask, digits);
        }
        break;
      }
      case PageMember::structure:
        if (m.name.starts_with("_count") || m.name.starts_with("_mapcount")) {
          line += fmt::format("{}  ", static_cast<int32_t>(word(4)));
        } else if (m.size % 8 == 0) {
          for (uint64_t i = 0; i < m.size / 8; ++i) {
            uint64_t v;
            std::memcpy(&v, p + i * 8, 8);
            line += fmt::format("{:016x}{}", v, i + 1 < m.size / 8 ? "," : "");
          }
          line += "  ";
        } else if (m.size % 4 == 0) {
          for (uint64_t i = 0; i < m.size / 4; ++i) {
            uint32_t v;
            std::memcpy(&v, p + i * 4, 4);
            line += fmt::format("{:08x}{}", v, i + 1 < m.size / 4 ? "," : "");
          }
        } else if (m.size == 2) {
          line += fmt::format("{:04x}  ", word(2));
        } else {
          line += "??  ";
        }
        break;
    }
  }
  out.print("{}\n", line);
}

// kmem -p / -m [ADDRESS...]: the struct page of each address (one header), or of every page.
Result<void> kmem_p(Kernel& k, const std::vector<uint64_t>& addrs, bool physical, const std::vector<PageMember>* members,
                    Output& out) {
  PageLayout l = TRY(page_layout(k));
  auto names = TRY(kernel::page_flag_names(k));
  uint64_t page_size = k.arch().page_size();
  auto header = [&] {
    kernel::take_page_header(k);  // dump_mem_map() marks crash's page header printed
    if (members)
      page_members_header(*members, out);
    else
      page_header(out);
  };
  auto line = [&](uint64_t page, uint64_t pfn, const uint8_t* bytes) {
    if (members)
      page_members_line(page, bytes, *members, out);
    else
      page_line(page, pfn * page_size, bytes, l, names, out);
  };
  if (!addrs.empty()) {
    bool printed = false;
    for (uint64_t addr : addrs) {
      auto pfn = TRY(address_pfn(k, addr, physical));
      if (!pfn || !TRY(pfn_present(k, *pfn))) continue;  // crash says nothing of an address without a page
      std::vector<uint8_t> bytes(l.size);
      uint64_t page = TRY(pfn_to_page(k, *pfn));
      TRY(k.read(page, bytes));
      if (!printed) header();
      printed = true;
      line(page, *pfn, bytes.data());
    }
    return ok();
  }
  header();
  return for_each_page(k, line);
}

// One page line under its header, for the page of pfn.
Result<void> print_pfn(Kernel& k, uint64_t pfn, Output& out) {
  PageLayout l = TRY(page_layout(k));
  uint64_t page = TRY(pfn_to_page(k, pfn));
  std::vector<uint8_t> bytes(l.size);
  TRY(k.read(page, bytes));
  kernel::take_page_header(k);  // crash prints it for each address, and marks it printed
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
    uint64_t vmemmap = TRY(vmemmap_base(k));
    uint64_t slab_pfn = (slab - vmemmap) / page_struct;
    uint64_t base = TRY(direct_map(k, slab_pfn * k.arch().page_size()));
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
Result<void> kmem_S_cache(Kernel& k, uint64_t cache, bool header, const std::vector<int>* cpus, Output& out) {
  SlabView view = TRY(SlabView::make(k, cache));
  if (header) slab_header(out);
  slab_line(cache, view.counts, out);
  uint64_t cpu_slab = TRY(k.member<uint64_t>(cache, "kmem_cache", "cpu_slab"));
  std::string_view cpu_member = k.types().has_member("kmem_cache_cpu", "slab") ? "slab" : "page";
  bool has_partial = k.types().has_member("kmem_cache_cpu", "partial");
  std::map<int, uint64_t> per_node_cpu_slabs;
  auto node_of = [&](uint64_t slab) -> Result<int> {
    uint64_t pfn = (slab - TRY(vmemmap_base(k))) / TRY(k.types().size_of_name("page"));
    for (const auto& n : TRY(kernel::online_nodes(k))) {
      uint64_t start = TRY(k.member_uint(n.pgdat, "pglist_data", "node_start_pfn"));
      uint64_t span = TRY(k.member_uint(n.pgdat, "pglist_data", "node_spanned_pages"));
      if (pfn >= start && pfn < start + span) return n.id;
    }
    return 0;
  };
  // -S=CPUS: only those CPUs' slabs, which are all the PER-CPU column then counts.
  auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
  for (int cpu : cpus ? *cpus : present) {
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

// The symbol line crash's kmem prints for an address: a kernel-image symbol (text with its
// source line), or a module symbol with " [module]" (and, for text, the space where a source
// line would follow). False when the address has no symbol.
Result<bool> print_address_symbol(Kernel& k, uint64_t addr, Output& out) {
  auto text = k.symbols().address_of("_text");
  auto end = k.symbols().address_of("_end");
  if (text && end && addr >= *text && addr < *end) {
    auto hit = k.symbols().lookup(addr);
    if (!hit) return false;
    const auto& sym = *hit->symbol;
    std::string line = hit->offset ? fmt::format("{:x} ({}) {}+{}", addr, sym.type, sym.name, hit->offset)
                                   : fmt::format("{:x} ({}) {}", addr, sym.type, sym.name);
    if (sym.type == 't' || sym.type == 'T')
      if (auto loc = k.source_lines().lookup(sym.link_addr + hit->offset)) line += fmt::format(" {}: {}", loc->file, loc->line);
    out.print("{}\n", line);
    return true;
  }
  const kernel::ModuleTable* mods = TRY(kernel::modules(k));
  const kernel::Module* m = mods ? mods->containing(addr) : nullptr;
  if (!m) return false;
  auto hit = kernel::symbol_at(k, addr);
  if (!hit || hit->region_end) return false;
  std::string line = hit->offset ? fmt::format("{:x} ({}) {}+{} [{}]", addr, hit->type, hit->name, hit->offset, m->name)
                                 : fmt::format("{:x} ({}) {} [{}]", addr, hit->type, hit->name, m->name);
  if (m->in_text(addr)) line += " ";
  out.print("{}\n", line);
  return true;
}

// The task whose task_struct or kernel stack holds a kernel virtual address.
Result<std::optional<uint64_t>> task_holding(Kernel& k, uint64_t addr) {
  uint64_t task_size = TRY(k.types().size_of_name("task_struct"));
  // THREAD_SIZE: the init task's stack as the linker script lays it out (init_stack ..
  // __end_init_stack, __end_init_task before 6.2); BTF has no union thread_union.
  auto lo = k.symbols().address_of("init_stack");
  auto hi = k.symbols().address_of("__end_init_stack");
  if (!hi) hi = k.symbols().address_of("__end_init_task");
  uint64_t stack_size = lo && hi && *hi > *lo ? *hi - *lo : TRY(k.types().size_of_name("thread_union"));
  for (const auto& t : TRY(kernel::task_table(k))->tasks) {
    if ((addr >= t.addr && addr < t.addr + task_size) || (t.stack && addr >= t.stack && addr < t.stack + stack_size))
      return std::optional<uint64_t>(t.addr);
  }
  return std::optional<uint64_t>();
}

// kmem ADDRESS: everything crash's kmem_search() finds an address to be, in its order: the
// symbol; the slab object; the task whose task_struct or stack holds it; the vmalloc area;
// the free block; then the page. A physical address (or -P) is looked at through the direct
// map; a struct page pointer shows its page.
Result<void> kmem_address(Session& s, uint64_t addr, bool physical, Output& out) {
  Kernel& k = s.kernel;
  uint64_t page_size = k.arch().page_size();
  physical = physical || !is_kvaddr(addr);
  uint64_t pfn;
  uint64_t kv = addr;  // the address the slab, task and vmalloc searches look at
  bool page_pointer = false;
  if (physical) {
    pfn = addr / page_size;
    kv = k.arch().ptov(addr).value_or(addr);
  } else if (auto pp = TRY(page_pointer_pfn(k, addr))) {
    pfn = *pp;
    page_pointer = true;
  } else {
    if (TRY(print_address_symbol(k, addr, out))) out.print("\n");
    std::optional<uint64_t> phys = k.arch().linear_vtop(addr);
    if (!phys) {
      if (auto w = k.arch().walk(k.arch().kernel_root(), addr, nullptr)) phys = *w;
    }
    if (!phys) {
      out.print("WARNING: cannot make virtual-to-physical translation: {:x}\n", addr);
      out.print("{:x}: kernel virtual address not found in mem map\n", addr);
      return ok();
    }
    pfn = *phys / page_size;
  }
  if (!TRY(pfn_present(k, pfn))) {  // no struct page: not in a present sparsemem section
    out.print("kmem: cannot determine page for {:x}\n", addr);
    out.print("{:x}: {} address not found in mem map\n", addr, physical ? "physical" : "kernel virtual");
    return ok();
  }
  if (!page_pointer) {
    if (TRY(print_slab_object(k, kv, false, out))) out.print("\n");
    if (auto task = TRY(task_holding(k, kv))) {
      TRY(show_task_context(s, *task, out));
      out.print("\n");
    }
    if (!physical) {
      for (const auto& r : TRY(vmap_areas(k))) {
        if (addr < r.start || addr >= r.end) continue;
        vmap_header(out);
        vmap_line(r, out);
        out.print("\n");
        break;
      }
    }
  }
  if (TRY(free_block_search(k, pfn * page_size + addr % page_size, addr, physical, out))) out.print("\n");
  return print_pfn(k, pfn, out);
}

// kmem -g [FLAGS]: the page-flag enumerators (enum pageflags, aliases included) with their
// bit and value; with FLAGS, those whose bit FLAGS has, under a "FLAGS:" line.
Result<void> kmem_g(Kernel& k, std::optional<uint64_t> flags, Output& out) {
  auto all = TRY(kernel::enum_values(k, "pageflags"));
  std::vector<std::pair<std::string, int64_t>> bits;
  size_t width = 9;  // "PAGE-FLAG"
  for (auto& [name, bit] : all) {
    if (name == "__NR_PAGEFLAGS" || bit < 0 || bit >= 64) continue;
    bits.emplace_back(name, bit);
    width = std::max(width, name.size());
  }
  std::string indent = flags ? "  " : "";
  if (flags) out.print("FLAGS: {:x}\n", *flags);
  out.print("{}{:<{}} BIT  VALUE\n", indent, "PAGE-FLAG", width);
  for (const auto& [name, bit] : bits) {
    uint64_t value = 1ull << bit;
    if (flags && !(*flags & value)) continue;
    out.print("{}{:<{}} {:>3}  {:07x}\n", indent, name, width, bit, value);
  }
  return ok();
}

// kmem -o: each CPU's per-CPU offset (__per_cpu_offset[cpu]).
Result<void> kmem_o(Kernel& k, Output& out) {
  auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
  int ncpus = present.empty() ? 1 : present.back() + 1;
  out.print("PER-CPU OFFSET VALUES:\n");
  for (int cpu = 0; cpu < ncpus; ++cpu) out.print("  CPU {}: {:x}\n", cpu, TRY(k.per_cpu_offset(cpu)));
  return ok();
}

Error option_not_supported(char flag) {
  return Error::make(Errc::unsupported, "-{} option not supported or applicable on this architecture or kernel", flag);
}

// kmem -c / -C: the page cache hash table of kernels before 2.6 (page_hash_table), or the
// page cache size from nr_pagecache (2.6 kernels before vm_stat); neither on newer kernels.
Result<void> kmem_c(Kernel& k, bool verbose, bool address, Output& out) {
  if (k.symbols().find("page_hash_table"))
    return Error::make(Errc::unsupported, "-{}: the page_hash_table of kernels before 2.6 is not supported", verbose ? 'C' : 'c');
  if (verbose || !k.symbols().find("nr_pagecache")) return option_not_supported(verbose ? 'C' : 'c');
  int64_t cached = static_cast<int32_t>(TRY(k.read_u32(TRY(k.symbol("nr_pagecache")))));
  out.print("page cache size: {}\n", cached - static_cast<int64_t>(TRY(blockdev_pages(k))));
  if (address) return option_not_supported('c');
  return ok();
}

// --json / -j: kmem -i (-i=shared) and kmem -s [CACHE] [-I CACHES] only.
Result<void> run_kmem_json(Kernel& k, const Args& args, Output& out) {
  std::set<char> flags;
  for (const auto& [flag, value] : args.options)
    if (flag != 'j') flags.insert(flag);
  const auto& pos = args.positional;
  bool shared = args.has('=') && args.value('=') == "shared";
  if (pos.empty() && (flags == std::set<char>{'i'} || (flags == std::set<char>{'i', '='} && shared)))
    return kmem_i(k, shared, true, out);
  if (pos.size() <= 1 && (flags == std::set<char>{'s'} || flags == std::set<char>{'s', 'I'})) {
    std::optional<std::string> want;
    if (!pos.empty()) {
      if (pos[0] == "list" || parse_hex(pos[0]))
        return Error::make(Errc::usage, "kmem -s list and kmem -s ADDRESS have no JSON output");
      want = pos[0][0] == '\\' ? pos[0].substr(1) : pos[0];
    }
    return kmem_caches_json(k, want, args.has('I') ? split_commas(args.value('I')) : std::vector<std::string>{}, out);
  }
  return Error::make(Errc::usage, "JSON output is for kmem -i and kmem -s [CACHE] [-I CACHES] only");
}

Result<void> run_kmem(Session& s, const Args& args, Output& out) {
  Kernel& k = s.kernel;
  // crash's cmd_kmem() first clears HEADER_PRINTED: the next page header is printed
  // (kernel/session_flags.h).
  kernel::forget_page_header(k);
  if (json::wanted(s, args)) return run_kmem_json(k, args, out);
  auto usage = [&]() -> Result<void> {
    out.print("Usage:\n  kmem [-f|-F|-c|-C|-i[=shared]|-v|-V|-n|-z|-o|-h] [-p | -m member[,member]]\n"
              "       [[-s|-S|-S=cpu[s]|-r] [slab] [-I slab[,slab]]] [-g [flags]] [[-P] address]]\n"
              "Enter \"help kmem\" for details.\n");
    return Error{Errc::usage, "", std::nullopt};
  };
  // crash's later flag of a pair wins (-s/-S, -f/-F, -c/-C); the order is not kept here,
  // so the verbose one does.
  bool S = args.has('S'), s_ = args.has('s') && !S, F = args.has('F'), f = args.has('f') && !F;
  bool C = args.has('C'), c = args.has('c') && !C, m = args.has('m'), p = args.has('p') || m;
  bool i = args.has('i'), v = args.has('v'), V = args.has('V'), o = args.has('o'), g = args.has('g'),
       h = args.has('h'), n = args.has('n'), z = args.has('z'), r = args.has('r'), P = args.has('P');
  // "=" is what follows -i or -S in -i=shared and -S=CPUS.
  std::optional<std::string> eq;
  if (args.has('=')) eq = args.value('=');
  if (s_ + S + p + f + F + V + o + v + C + c + i + g + h + r > 1) {
    out.print("kmem: only one flag allowed!\n");
    return usage();
  }
  if (r && !k.symbols().find("slab_root_caches")) return option_not_supported('r');
  if (r) return Error::make(Errc::unsupported, "-r: slab_root_caches (memcg root caches, 4.15-5.8) are not supported");
  if (eq && !(i && *eq == "shared") && !S) return usage();
  std::vector<int> cpu_list;
  const std::vector<int>* cpus = nullptr;
  if (S && eq) {
    auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
    int ncpus = present.empty() ? 1 : present.back() + 1;
    if (*eq == "a" || *eq == "all") {
      for (int cpu = 0; cpu < ncpus; ++cpu) cpu_list.push_back(cpu);
    } else {
      for (char ch : *eq)
        if (!(ch >= '0' && ch <= '9') && ch != ',' && ch != '-')
          return Error::make(Errc::usage, "cpu: \"{}\" is not a digit 0 - 9", ch);
      cpu_list = TRY(parse_cpu_ranges(*eq, ncpus));
    }
    cpus = &cpu_list;
  }
  std::vector<PageMember> members;
  if (m) members = TRY(page_members(k, args.value('m')));
  std::vector<std::string> ignore;
  if (args.has('I')) ignore = split_commas(args.value('I'));

  std::vector<uint64_t> addrs;
  std::optional<std::string> reqname;
  bool escaped = false;
  for (const auto& a : args.positional) {
    if (auto addr = parse_hex(a)) {
      addrs.push_back(*addr);
      continue;
    }
    if (reqname) return Error::make(Errc::usage, "only one kmem_cache reference is allowed");
    escaped = !a.empty() && a[0] == '\\';
    reqname = escaped ? a.substr(1) : a;
    if (!s_ && !S) return usage();
  }

  int calls = 0;  // crash separates the outputs of successive addresses with an empty line
  bool searched = false;
  for (size_t n_addr = 0; n_addr < addrs.size(); ++n_addr) {
    uint64_t addr = addrs[n_addr];
    bool physical = P || !is_kvaddr(addr);
    if (f) {
      if (calls++) out.print("\n");
      uint64_t page_size = k.arch().page_size();
      auto pfn = TRY(address_pfn(k, addr, P));
      if (pfn && !TRY(pfn_present(k, *pfn)))
        out.print("kmem: cannot determine page for {:x}\n", addr);
      else if (pfn)
        TRY(free_block_search(k, *pfn * page_size + (physical ? addr % page_size : 0), addr, physical, out));
    }
    if (s_ || S) {
      if (calls++) out.print("\n");
      TRY(kmem_s_address(k, addr, P, S, cpus, out));
    }
    if (g) {
      if (n_addr) out.print("\n");
      TRY(kmem_g(k, addr ? std::optional<uint64_t>(addr) : std::nullopt, out));
    }
    if (c) TRY(kmem_c(k, false, true, out));
    if (z || n || i || F || C || V || o || h) {
      out.print("kmem: no address arguments allowed with this option\n");
      return usage();
    }
    if (!(s_ || S || p || f || v || c || g)) {
      if (calls++) out.print("\n");
      TRY(kmem_address(s, addr, P, out));
      searched = true;
    }
  }
  if (!addrs.empty()) {
    if (p) TRY(kmem_p(k, addrs, P, m ? &members : nullptr, out));
    if (v) TRY(kmem_v(k, addrs, P, out));
  }
  bool none = addrs.empty();
  if (i && none) TRY(kmem_i(k, eq.has_value(), false, out));
  if (p && none) TRY(kmem_p(k, {}, P, m ? &members : nullptr, out));
  if (f && none) TRY(kmem_f(k, false, out));
  if (F) TRY(kmem_f(k, true, out));
  if (h) TRY(kmem_h(k, out));
  if ((s_ || S) && none) {
    if (!escaped && reqname == "list")
      TRY(kmem_cache_list(k, out));
    else
      TRY(kmem_caches(k, reqname, ignore, S, cpus, out));
  }
  if (v && none) TRY(kmem_v(k, {}, P, out));
  if (C || (c && none)) TRY(kmem_c(k, C, false, out));
  if (n) TRY(kmem_n(k, out));
  if (z) TRY(kmem_z(k, out));
  if (V) TRY(kmem_V(k, out));
  if (o) TRY(kmem_o(k, out));
  if (g && none) TRY(kmem_g(k, std::nullopt, out));
  if (!(s_ || S || p || f || F || v || V || z || o || c || C || i || n || g || h || searched || calls)) return usage();
  return ok();
}

}  // namespace

static Command kmem_command() {
  return Command{CommandSpec{"kmem",
                             {},
                             "kernel memory",
                             "[-f|-F|-c|-C|-i[=shared]|-v|-V|-n|-z|-o|-h] [-p | -m member[,member]]\n"
                             "       [[-s|-S|-S=cpu[s]|-r] [slab] [-I slab[,slab]]] [-g [flags]] [[-P] address]]",
                             {{'i', false, "general memory usage information (-i=shared: with SHARED pages)"},
                              {'V', false, "the vm_stat, vm_node_stat and vm_event_states counters"},
                              {'z', false, "the zones of each memory node and their vm_stat counters"},
                              {'s', false, "SLUB caches: object size, allocated and total objects, slabs (-s list: names)"},
                              {'S', false, "SLUB caches with every slab and object (-S=CPUS: those CPUs' slabs)"},
                              {'I', true, "with -s/-S: caches to ignore, comma-separated"},
                              {'r', false, "root caches with their children (slab_root_caches kernels)"},
                              {'h', false, "hugetlb page pools (hstates)"},
                              {'f', false, "the free lists of each zone, by order and migrate type; ADDRESS: its free block"},
                              {'F', false, "as -f, with the first page of every free block"},
                              {'c', false, "the page cache (page_hash_table / nr_pagecache kernels)"},
                              {'C', false, "as -c, with every page"},
                              {'o', false, "each CPU's per-CPU offset"},
                              {'g', false, "the page-flag bits, or those set in a flags value: -g [FLAGS]"},
                              {'v', false, "vmalloc areas (vmap_area, vm_struct, address range, size)"},
                              {'n', false, "memory nodes, their zones, sparsemem sections and memory blocks"},
                              {'p', false, "struct page of every page, or of an address"},
                              {'m', true, "struct page members of every page, or of an address: -m MEMBER[,MEMBER]"},
                              {'P', false, "the address is physical"},
                              {'=', true, "the value after -i or -S (-i=shared, -S=CPUS)"},
                              {'j', false, "JSON: -i's rows or -s's caches as one document"}},
                             {"kmem -i", "kmem -V", "kmem -z", "kmem -s", "kmem -s dentry", "kmem -h", "kmem -F",
                              "kmem -g 4080", "kmem -m flags,_refcount", "kmem -o"}},
                 run_kmem};
}

std::vector<Command> kmem_commands() { return {json::capable(kmem_command())}; }

}  // namespace coroner::commands
