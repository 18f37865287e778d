#include "kernel/mm.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "kernel/walkers.h"

namespace coroner::kernel {
namespace {

// Counts read from a dump are capped before they size anything.
constexpr int64_t kMaxEnumCount = 4096;
constexpr size_t kMaxNodes = 1024;      // MAX_NUMNODES is at most 1 << 10 on x86_64
constexpr size_t kMaxSlabs = 1u << 24;  // slabs on one list
constexpr int kMaxCpus = 8192;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == ',' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

Result<int> present_cpu_count(Kernel& k) {
  auto present = TRY(k.cpus_in_mask("cpu_present_mask"));
  int n = present.empty() ? 1 : present.back() + 1;
  return std::min(n, kMaxCpus);
}

// The struct a SLUB slab is described by: struct slab since 5.17 (an overlay of struct
// page), struct page before.
std::string_view slab_type(Kernel& k) {  // has_member is cached by the type layer
  return k.types().has_member("slab", "slab_cache") ? "slab" : "page";
}

// Free objects in one slab: objects - inuse (both bit fields of the slab's counters word).
Result<uint64_t> slab_free_objects(Kernel& k, uint64_t slab) {
  std::string_view t = slab_type(k);
  uint64_t objects = TRY(k.member_uint(slab, t, "objects"));
  uint64_t inuse = TRY(k.member_uint(slab, t, "inuse"));
  return objects >= inuse ? objects - inuse : 0;
}

// SLUB's free pointer: stored at `offset` in a free object; with
// CONFIG_SLAB_FREELIST_HARDENED (kmem_cache.random exists) it is stored as
// ptr ^ random ^ swab(address it is stored at) (5.7+, commit 1ad53d9fa3f6).
struct FreelistDecoder {
  uint64_t offset;
  bool hardened = false;
  uint64_t random = 0;
  uint64_t next(uint64_t stored, uint64_t stored_at) const {
    return hardened ? stored ^ random ^ __builtin_bswap64(stored_at) : stored;
  }
};

Result<uint64_t> count_freelist(Kernel& k, const FreelistDecoder& d, uint64_t object, std::string_view cache) {
  constexpr uint64_t kMaxObjects = 0xffff;  // a slab's object count is a 15/16-bit field
  uint64_t n = 0;
  std::unordered_set<uint64_t> seen;
  while (object) {
    if (!seen.insert(object).second)
      return Error::make(Errc::bad_data, "{}: freelist loops at object {:#x}", cache, object);
    if (++n > kMaxObjects) return Error::make(Errc::bad_data, "{}: freelist longer than {} objects", cache, kMaxObjects);
    auto stored = k.read_u64(object + d.offset);
    if (!stored)
      return Error::make(Errc::fault, "{}: freelist object {:#x}: {}", cache, object, stored.error().message);
    object = d.next(*stored, object + d.offset);
  }
  return n;
}

}  // namespace

Result<std::vector<std::string>> enum_names(Kernel& k, std::string_view enum_type, std::string_view count_enumerator) {
  auto count = k.types().enumerator(count_enumerator);
  if (!count) return Error::make(Errc::no_debug_info, "no enumerator {} in the kernel's types", count_enumerator);
  if (*count < 0 || *count > kMaxEnumCount)
    return Error::make(Errc::bad_data, "{} = {}: not a plausible count", count_enumerator, *count);
  symbols::TypeRef t = TRY(k.types().find(fmt::format("enum {}", enum_type)));
  std::string def = TRY(k.types().definition(t, false, {}));
  std::vector<std::string> names(static_cast<size_t>(*count));
  size_t pos = 0;
  while (pos < def.size()) {
    size_t eol = def.find('\n', pos);
    if (eol == std::string::npos) eol = def.size();
    std::string_view line(def.data() + pos, eol - pos);
    pos = eol + 1;
    size_t eq = line.find(" = ");
    if (eq == std::string_view::npos) continue;
    std::string name(trim(line.substr(0, eq)));
    auto v = k.types().enumerator(name);
    if (v && *v >= 0 && *v < *count) names[static_cast<size_t>(*v)] = name;
  }
  return names;
}

Result<std::vector<std::pair<std::string, int64_t>>> enum_values(Kernel& k, std::string_view enum_type) {
  symbols::TypeRef t = TRY(k.types().find(fmt::format("enum {}", enum_type)));
  std::string def = TRY(k.types().definition(t, false, {}));
  std::vector<std::pair<std::string, int64_t>> out;
  size_t pos = 0;
  while (pos < def.size() && out.size() < static_cast<size_t>(kMaxEnumCount)) {
    size_t eol = def.find('\n', pos);
    if (eol == std::string::npos) eol = def.size();
    std::string_view line(def.data() + pos, eol - pos);
    pos = eol + 1;
    size_t eq = line.find(" = ");
    if (eq == std::string_view::npos) continue;
    std::string name(trim(line.substr(0, eq)));
    if (auto v = k.types().enumerator(name)) out.emplace_back(std::move(name), *v);
  }
  return out;
}

Result<std::vector<int64_t>> read_longs(Kernel& k, uint64_t addr, size_t n) {
  if (n > static_cast<size_t>(kMaxEnumCount)) return Error::make(Errc::out_of_bounds, "{} counters at {:#x}", n, addr);
  std::vector<int64_t> v(n);
  if (n) TRY(k.read(addr, std::span(reinterpret_cast<uint8_t*>(v.data()), n * sizeof(int64_t))));
  return v;
}

static Result<VmStat> global_stat(Kernel& k, std::string_view symbol, std::string_view enum_type, std::string_view count) {
  VmStat s;
  s.names = TRY(enum_names(k, enum_type, count));
  s.values = TRY(read_longs(k, TRY(k.symbol(symbol)), s.names.size()));
  return s;
}

// vm_zone_stat / vm_node_stat split vm_stat in 4.8 (commit 75ef71840539).
Result<VmStat> vm_zone_stat(Kernel& k) { return global_stat(k, "vm_zone_stat", "zone_stat_item", "NR_VM_ZONE_STAT_ITEMS"); }
Result<VmStat> vm_node_stat(Kernel& k) { return global_stat(k, "vm_node_stat", "node_stat_item", "NR_VM_NODE_STAT_ITEMS"); }

Result<VmStat> vm_event_states(Kernel& k) {
  VmStat s;
  s.names = TRY(enum_names(k, "vm_event_item", "NR_VM_EVENT_ITEMS"));
  s.values.assign(s.names.size(), 0);
  uint64_t event_off = TRY(k.offset_of("vm_event_state", "event"));
  int ncpus = TRY(present_cpu_count(k));
  for (int cpu = 0; cpu < ncpus; ++cpu) {
    auto v = TRY(read_longs(k, TRY(k.per_cpu("vm_event_states", cpu)) + event_off, s.names.size()));
    for (size_t i = 0; i < v.size(); ++i) s.values[i] += v[i];
  }
  return s;
}

Result<int64_t> vm_stat(Kernel& k, std::string_view item) {
  auto v = k.types().enumerator(item);
  if (!v) return Error::make(Errc::not_found, "no vm_stat item {} in this kernel", item);
  // The array that holds it is the one whose enum names it (both count from 0).
  for (auto [sym, type, count] : {std::tuple{"vm_zone_stat", "zone_stat_item", "NR_VM_ZONE_STAT_ITEMS"},
                                   std::tuple{"vm_node_stat", "node_stat_item", "NR_VM_NODE_STAT_ITEMS"}}) {
    auto names = enum_names(k, type, count);
    if (!names || *v < 0 || static_cast<size_t>(*v) >= names->size() || (*names)[*v] != item) continue;
    return TRY(k.read_as<int64_t>(TRY(k.symbol(sym)) + static_cast<uint64_t>(*v) * sizeof(int64_t)));
  }
  return Error::make(Errc::not_found, "no vm_stat item {} in this kernel", item);
}

Result<std::vector<Node>> online_nodes(Kernel& k) {
  std::vector<Node> nodes;
  if (!k.symbols().find("node_data")) {  // !CONFIG_NUMA: one node
    nodes.push_back({0, TRY(k.symbol("contig_page_data"))});
    return nodes;
  }
  const symbols::Symbol* nd = k.symbols().find("node_data");
  size_t max_nodes = nd->size ? std::min<size_t>(nd->size / 8, kMaxNodes) : 1;
  auto online = k.types().enumerator("N_ONLINE");
  if (!online) return Error::make(Errc::no_debug_info, "no enumerator N_ONLINE (enum node_states)");
  uint64_t mask_size = TRY(k.types().size_of_name("nodemask_t"));
  if (mask_size == 0 || mask_size > kMaxNodes / 8) return Error::make(Errc::bad_data, "nodemask_t is {} bytes", mask_size);
  uint64_t mask_addr = TRY(k.symbol("node_states")) + static_cast<uint64_t>(*online) * mask_size;
  std::vector<uint8_t> mask(mask_size);
  TRY(k.read(mask_addr, mask));
  uint64_t base = TRY(k.symbol("node_data"));
  for (size_t id = 0; id < std::min<size_t>(max_nodes, mask_size * 8); ++id) {
    if (!(mask[id / 8] & (1u << (id % 8)))) continue;
    uint64_t pgdat = TRY(k.read_u64(base + id * 8));
    if (pgdat) nodes.push_back({static_cast<int>(id), pgdat});
  }
  return nodes;
}

Result<std::vector<Zone>> zones(Kernel& k) {
  auto max_zones = k.types().enumerator("__MAX_NR_ZONES");
  if (!max_zones || *max_zones <= 0 || *max_zones > 16)
    return Error::make(Errc::no_debug_info, "no plausible __MAX_NR_ZONES (enum zone_type)");
  uint64_t zones_off = TRY(k.offset_of("pglist_data", "node_zones"));
  uint64_t zone_size = TRY(k.types().size_of_name("zone"));
  // _watermark[] since 5.0 (commit 1c30844d2dfe, watermark boosting), watermark[] before.
  bool new_wm = k.types().has_member("zone", "_watermark");
  uint64_t wm_off = TRY(k.offset_of("zone", new_wm ? "_watermark" : "watermark"));
  int64_t wm_index[3] = {0, 1, 2};
  const char* wm_names[3] = {"WMARK_MIN", "WMARK_LOW", "WMARK_HIGH"};
  for (int i = 0; i < 3; ++i)
    if (auto v = k.types().enumerator(wm_names[i])) wm_index[i] = *v;
  std::vector<Zone> out;
  for (const Node& n : TRY(online_nodes(k))) {
    for (int i = 0; i < *max_zones; ++i) {
      Zone z;
      z.node = n.id;
      z.index = i;
      z.addr = n.pgdat + zones_off + static_cast<uint64_t>(i) * zone_size;
      uint64_t name = TRY(k.member<uint64_t>(z.addr, "zone", "name"));
      auto s = name ? k.read_cstring(name, 64) : Result<std::string>(std::string());
      z.name = s ? *s : "(unknown)";
      z.spanned = TRY(k.member_uint(z.addr, "zone", "spanned_pages"));
      z.present = TRY(k.member_uint(z.addr, "zone", "present_pages"));
      z.managed = TRY(k.member_uint(z.addr, "zone", k.types().has_member("zone", "managed_pages.counter")
                                                        ? "managed_pages.counter"
                                                        : "managed_pages"));
      z.start_pfn = TRY(k.member_uint(z.addr, "zone", "zone_start_pfn"));
      for (int w = 0; w < 3; ++w) z.watermark[w] = TRY(k.read_u64(z.addr + wm_off + wm_index[w] * 8));
      out.push_back(std::move(z));
    }
  }
  return out;
}

Result<std::vector<uint64_t>> slab_caches(Kernel& k) {
  uint64_t list_off = TRY(k.offset_of("kmem_cache", "list"));
  auto entries = TRY(list_walk(k, TRY(k.symbol("slab_caches")), 1u << 16));
  for (auto& e : entries) e -= list_off;
  return entries;
}

Result<std::string> slab_cache_name(Kernel& k, uint64_t cache) {
  uint64_t name = TRY(k.member<uint64_t>(cache, "kmem_cache", "name"));
  return k.read_cstring(name, 128);
}

Result<SlubCounts> slub_counts(Kernel& k, uint64_t cache) {
  SlubCounts c;
  c.name = TRY(slab_cache_name(k, cache));
  c.object_size = TRY(k.member_uint(cache, "kmem_cache", "object_size"));
  c.size = TRY(k.member_uint(cache, "kmem_cache", "size"));
  // kmem_cache_order_objects packs the order above OO_SHIFT (16) and the objects below
  // (mm/slub.c since 2.6.26).
  uint64_t oo = TRY(k.member_uint(cache, "kmem_cache", "oo.x"));
  c.slab_bytes = k.arch().page_size() << (oo >> 16);
  c.objects_per_slab = oo & 0xffff;

  std::string_view st = slab_type(k);
  uint64_t slab_list_off = TRY(k.offset_of(st, k.types().has_member(st, "slab_list") ? "slab_list" : "lru"));
  uint64_t node_array = cache + TRY(k.offset_of("kmem_cache", "node"));
  uint64_t partial_off = TRY(k.offset_of("kmem_cache_node", "partial"));
  for (const Node& n : TRY(online_nodes(k))) {
    uint64_t node = TRY(k.read_u64(node_array + static_cast<uint64_t>(n.id) * 8));
    if (!node) continue;
    c.slabs += TRY(k.member_uint(node, "kmem_cache_node", "nr_slabs.counter"));
    c.total += TRY(k.member_uint(node, "kmem_cache_node", "total_objects.counter"));
    for (uint64_t entry : TRY(list_walk(k, node + partial_off, kMaxSlabs)))
      c.free += TRY(slab_free_objects(k, entry - slab_list_off));
  }

  // Per-CPU slabs, as crash counts them (and as slab_objects() does for sysfs): the free
  // objects of each CPU's slab, those on the CPU's lockless freelist, and those of the
  // CPU's partial slabs (looked at only when the CPU has a slab).
  uint64_t cpu_slab = TRY(k.member<uint64_t>(cache, "kmem_cache", "cpu_slab"));
  std::string_view cpu_slab_member = k.types().has_member("kmem_cache_cpu", "slab") ? "slab" : "page";
  bool has_partial = k.types().has_member("kmem_cache_cpu", "partial");
  FreelistDecoder decode;
  decode.offset = TRY(k.member_uint(cache, "kmem_cache", "offset"));
  decode.hardened = k.types().has_member("kmem_cache", "random");
  if (decode.hardened) decode.random = TRY(k.member_uint(cache, "kmem_cache", "random"));
  int ncpus = TRY(present_cpu_count(k));
  for (int cpu = 0; cpu < ncpus; ++cpu) {
    uint64_t kcc = cpu_slab + TRY(k.per_cpu_offset(cpu));
    uint64_t slab = TRY(k.member<uint64_t>(kcc, "kmem_cache_cpu", cpu_slab_member));
    if (!slab) continue;
    c.free += TRY(slab_free_objects(k, slab));
    uint64_t freelist = TRY(k.member<uint64_t>(kcc, "kmem_cache_cpu", "freelist"));
    c.free += TRY(count_freelist(k, decode, freelist, c.name));
    if (!has_partial) continue;
    uint64_t p = TRY(k.member<uint64_t>(kcc, "kmem_cache_cpu", "partial"));
    std::unordered_set<uint64_t> seen;
    while (p) {
      if (!seen.insert(p).second || seen.size() > kMaxSlabs)
        return Error::make(Errc::bad_data, "{}: CPU {} partial slab list loops at {:#x}", c.name, cpu, p);
      c.free += TRY(slab_free_objects(k, p));
      p = TRY(k.member<uint64_t>(p, st, "next"));
    }
  }
  return c;
}

Result<std::vector<PageFlagName>> page_flag_names(Kernel& k) {
  uint64_t table = TRY(k.symbol("pageflag_names"));
  uint64_t entry_size = TRY(k.types().size_of_name("trace_print_flags"));
  uint64_t mask_off = TRY(k.offset_of("trace_print_flags", "mask"));
  uint64_t name_off = TRY(k.offset_of("trace_print_flags", "name"));
  std::vector<PageFlagName> names;
  for (int i = 0; i < 128; ++i) {  // the kernel has fewer than 64 page flags
    uint64_t e = table + i * entry_size;
    uint64_t mask = TRY(k.read_u64(e + mask_off));
    uint64_t name = TRY(k.read_u64(e + name_off));
    if (!name) return names;
    names.push_back({mask, TRY(k.read_cstring(name, 64))});
  }
  return Error::make(Errc::bad_data, "pageflag_names at {:#x}: no end marker in 128 entries", table);
}

std::string format_page_flags(uint64_t flags, const std::vector<PageFlagName>& names) {
  std::string out = fmt::format("{:x}", flags);
  if (!flags) return out;
  bool first = true;
  for (const auto& f : names)
    if (flags & f.mask) {
      out += (first ? " " : ",") + f.name;
      first = false;
    }
  return out;
}

Result<uint64_t> pages_per_section(Kernel& k) {
  auto bits = k.vmcoreinfo().number("NUMBER(SECTION_SIZE_BITS)");
  uint64_t page_shift = static_cast<uint64_t>(__builtin_ctzll(k.arch().page_size()));
  if (!bits || *bits <= page_shift || *bits >= 64)
    return Error::make(Errc::no_debug_info, "VMCOREINFO lacks a plausible SECTION_SIZE_BITS");
  return 1ull << (*bits - page_shift);
}

Result<std::vector<MemSection>> mem_sections(Kernel& k) {
  const auto& vi = k.vmcoreinfo();
  auto section_bits = vi.number("NUMBER(SECTION_SIZE_BITS)");
  auto physmem_bits = vi.number("NUMBER(MAX_PHYSMEM_BITS)");
  if (!section_bits || !physmem_bits || *section_bits <= 12 || *physmem_bits > 64 || *physmem_bits <= *section_bits)
    return Error::make(Errc::no_debug_info, "VMCOREINFO lacks the sparsemem layout (SECTION_SIZE_BITS, MAX_PHYSMEM_BITS)");
  uint64_t roots = TRY(k.read_u64(TRY(k.symbol("mem_section"))));
  uint64_t section_size = TRY(k.types().size_of_name("mem_section"));
  uint64_t map_off = TRY(k.offset_of("mem_section", "section_mem_map"));
  if (section_size == 0 || section_size > k.arch().page_size() || map_off + 8 > section_size)
    return Error::make(Errc::bad_data, "struct mem_section is {} bytes, section_mem_map at {}: not a sparsemem layout",
                       section_size, map_off);
  // The section count comes from the dump's VMCOREINFO: capped before the root array is
  // allocated. No architecture has more than 2^27 sections (ppc64: MAX_PHYSMEM_BITS 51,
  // SECTION_SIZE_BITS 24; x86_64 with 5-level paging: 52 and 27).
  constexpr uint64_t kMaxSectionCountBits = 28;
  if (*physmem_bits - *section_bits > kMaxSectionCountBits)
    return Error::make(Errc::bad_data,
                       "VMCOREINFO note: NUMBER(MAX_PHYSMEM_BITS)={} and NUMBER(SECTION_SIZE_BITS)={} give 2^{} memory sections, more than 2^{}",
                       *physmem_bits, *section_bits, *physmem_bits - *section_bits, kMaxSectionCountBits);
  uint64_t per_root = k.arch().page_size() / section_size;
  uint64_t nr_sections = 1ull << (*physmem_bits - *section_bits);
  uint64_t nr_roots = (nr_sections + per_root - 1) / per_root;  // NR_SECTION_ROOTS: 2^17 on x86_64 5-level
  if (nr_roots > (1u << 20))
    return Error::make(Errc::bad_data, "{} mem_section roots ({} sections, {} per root): more than 2^20", nr_roots, nr_sections,
                       per_root);
  std::vector<MemSection> out;
  std::vector<uint64_t> root_ptrs(nr_roots);
  TRY(k.read(roots, std::span(reinterpret_cast<uint8_t*>(root_ptrs.data()), root_ptrs.size() * 8)));
  // Each root is its own page: garbage roots repeating one page of "present" entries would
  // make sections without end, so the output stays in proportion to the pages read.
  std::unordered_set<uint64_t> seen_roots;
  for (uint64_t r = 0; r < root_ptrs.size(); ++r) {
    if (!root_ptrs[r]) continue;
    if (!seen_roots.insert(root_ptrs[r]).second)
      return Error::make(Errc::bad_data, "mem_section roots at {:#x}: roots {} and an earlier one both point at {:#x}", roots, r,
                         root_ptrs[r]);
    std::vector<uint8_t> block(per_root * section_size);
    TRY(k.read(root_ptrs[r], block));
    for (uint64_t i = 0; i < per_root; ++i) {
      uint64_t map;
      std::memcpy(&map, block.data() + i * section_size + map_off, 8);
      if (map & 1) out.push_back({r * per_root + i, root_ptrs[r] + i * section_size, map});  // SECTION_MARKED_PRESENT
    }
  }
  return out;
}

// What slab_object_at looks up on every call, read once per Kernel (a dump does not change):
// the present sparsemem sections and the caches on slab_caches.
namespace {
struct SlabLookupCache {
  bool loaded = false;
  uint64_t pages_per_section = 0;
  std::unordered_set<uint64_t> sections;
  std::unordered_set<uint64_t> caches;
};

Result<SlabLookupCache*> slab_lookup_cache(Kernel& k) {
  auto& c = k.extension<SlabLookupCache>();
  if (c.loaded) return &c;
  c.pages_per_section = TRY(pages_per_section(k));
  for (const auto& sec : TRY(mem_sections(k))) c.sections.insert(sec.nr);
  for (uint64_t cache : TRY(slab_caches(k))) c.caches.insert(cache);
  c.loaded = true;
  return &c;
}
}  // namespace

// The struct page of pfn 0: the arch's `vmemmap` (arm64, from VMCOREINFO), else x86_64's
// vmemmap_base variable (4.8+, randomized by KASLR).
Result<uint64_t> vmemmap_of(Kernel& k) {
  if (auto v = k.arch().vmemmap(TRY(k.types().size_of_name("page")))) return *v;
  return k.read_u64(TRY(k.symbol("vmemmap_base")));
}

Result<uint64_t> pfn_to_page(Kernel& k, uint64_t pfn) {
  uint64_t vmemmap = TRY(vmemmap_of(k));
  return vmemmap + pfn * TRY(k.types().size_of_name("page"));
}

Result<std::optional<uint64_t>> kvaddr_to_pfn(Kernel& k, uint64_t addr) {
  std::optional<uint64_t> phys = k.arch().linear_vtop(addr);
  if (!phys) {
    if (auto w = k.arch().walk(k.arch().kernel_root(), addr, nullptr)) phys = *w;
  }
  if (!phys) return std::optional<uint64_t>();
  SlabLookupCache* c = TRY(slab_lookup_cache(k));
  uint64_t pfn = *phys / k.arch().page_size();
  if (!c->sections.count(pfn / c->pages_per_section)) return std::optional<uint64_t>();
  return std::optional<uint64_t>(pfn);
}

std::string_view slab_struct(Kernel& k) { return slab_type(k); }

Result<std::vector<uint64_t>> decode_freelist(const std::function<Result<uint64_t>(uint64_t)>& read,
                                              const FreePointerCoding& coding, uint64_t first, uint64_t limit) {
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> seen;
  for (uint64_t p = first; p;) {
    if (!seen.insert(p).second) return Error::make(Errc::bad_data, "freelist loops at object {:#x}", p);
    if (out.size() >= limit) return Error::make(Errc::bad_data, "freelist longer than {} objects at object {:#x}", limit, p);
    out.push_back(p);
    auto stored = read(p + coding.offset);
    if (!stored) return Error::make(Errc::fault, "freelist object {:#x}: {}", p, stored.error().message);
    p = coding.hardened ? *stored ^ coding.random ^ __builtin_bswap64(p + coding.offset) : *stored;
  }
  return out;
}

Result<std::vector<uint64_t>> slab_freelist(Kernel& k, uint64_t cache, uint64_t first, uint64_t limit, uint64_t slab) {
  FreePointerCoding c;
  c.offset = TRY(k.member_uint(cache, "kmem_cache", "offset"));
  c.hardened = k.types().has_member("kmem_cache", "random");
  if (c.hardened) c.random = TRY(k.member_uint(cache, "kmem_cache", "random"));
  auto r = decode_freelist([&](uint64_t a) { return k.read_u64(a); }, c, first, limit);
  if (!r) return Error::make(r.error().code, "{}: slab {:x}: {}", TRY(slab_cache_name(k, cache)), slab, r.error().message);
  return r;
}

std::optional<uint64_t> slab_object_start(uint64_t addr, uint64_t base, uint64_t pad, uint64_t size, uint64_t objects) {
  if (!size || addr < base + pad || (addr - base - pad) / size >= objects) return std::nullopt;
  return base + pad + (addr - base - pad) / size * size;
}

Result<std::pair<int, uint64_t>> slab_cpu_owner(Kernel& k, uint64_t cache, uint64_t slab) {
  uint64_t cpu_slab = TRY(k.member<uint64_t>(cache, "kmem_cache", "cpu_slab"));
  std::string_view cpu_member = k.types().has_member("kmem_cache_cpu", "slab") ? "slab" : "page";
  for (int cpu : TRY(k.cpus_in_mask("cpu_present_mask"))) {
    uint64_t kcc = cpu_slab + TRY(k.per_cpu_offset(cpu));
    if (TRY(k.member<uint64_t>(kcc, "kmem_cache_cpu", cpu_member)) == slab)
      return std::pair{cpu, TRY(k.member<uint64_t>(kcc, "kmem_cache_cpu", "freelist"))};
  }
  return std::pair{-1, uint64_t{0}};
}

Result<std::optional<SlabObject>> slab_object_at(Kernel& k, uint64_t addr) {
  auto pfn = TRY(kvaddr_to_pfn(k, addr));
  if (!pfn) return std::optional<SlabObject>();
  std::string_view st = slab_type(k);
  uint64_t page = TRY(pfn_to_page(k, *pfn));
  // A tail page of a compound slab points at its head with bit 0 set (compound_head).
  uint64_t head_word = TRY(k.member<uint64_t>(page, "page", "compound_head"));
  SlabObject o;
  o.slab = (head_word & 1) ? head_word - 1 : page;
  o.cache = TRY(k.member<uint64_t>(o.slab, st, "slab_cache"));
  if (!TRY(slab_lookup_cache(k))->caches.count(o.cache)) return std::optional<SlabObject>();
  o.cache_name = TRY(slab_cache_name(k, o.cache));
  o.object_size = TRY(k.member_uint(o.cache, "kmem_cache", "size"));
  o.objects = TRY(k.member_uint(o.slab, st, "objects"));
  uint64_t page_struct = TRY(k.types().size_of_name("page"));
  uint64_t vmemmap = TRY(vmemmap_of(k));
  uint64_t slab_pfn = (o.slab - vmemmap) / page_struct;
  auto base = k.arch().ptov(slab_pfn * k.arch().page_size());  // the direct map's address of the page
  if (!base) return Error::make(Errc::bad_data, "slab {:#x}: pfn {:#x} is not in the direct map", o.slab, slab_pfn);
  o.slab_base = *base;
  // With SLAB_RED_ZONE each object starts after a left red zone (red_left_pad, 4.6+).
  uint64_t pad = k.types().has_member("kmem_cache", "red_left_pad") ? TRY(k.member_uint(o.cache, "kmem_cache", "red_left_pad")) : 0;
  auto [cpu, cpu_freelist] = TRY(slab_cpu_owner(k, o.cache, o.slab));
  o.cpu = cpu;
  o.cpu_freelist = cpu_freelist;
  auto start = slab_object_start(addr, o.slab_base, pad, o.object_size, o.objects);
  if (!start) return std::optional<SlabObject>(std::move(o));  // in the slab's pages, outside every object
  o.object = *start;
  auto slab_free = TRY(slab_freelist(k, o.cache, TRY(k.member<uint64_t>(o.slab, st, "freelist")), o.objects, o.slab));
  bool free = std::find(slab_free.begin(), slab_free.end(), o.object) != slab_free.end();
  if (!free && cpu >= 0) {
    auto cpu_free = TRY(slab_freelist(k, o.cache, cpu_freelist, o.objects, o.slab));
    free = std::find(cpu_free.begin(), cpu_free.end(), o.object) != cpu_free.end();
  }
  o.allocated = !free;
  return std::optional<SlabObject>(std::move(o));
}

}  // namespace coroner::kernel
