// mm: the kernel's memory-management bookkeeping read from a dump: the vm_stat counters
// (names from the kernel's own enums), memory nodes and their zones, and SLUB caches with
// their object counts, as crash's `kmem` reads them.
//
//   auto names = TRY(enum_names(k, "zone_stat_item", "NR_VM_ZONE_STAT_ITEMS"));
//   auto free  = TRY(vm_stat(k, "NR_FREE_PAGES"));            // vm_zone_stat / vm_node_stat
//   for (const Zone& z : TRY(zones(k))) ...;                    // every zone of every online node
//   for (uint64_t c : TRY(slab_caches(k))) auto n = TRY(slub_counts(k, c));
//   if (auto o = TRY(slab_object_at(k, addr))) fmt::print("[{}]", o->cache_name);  // bt -F
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

// The names of an enum's values 0 .. COUNT-1, where `count_enumerator` (e.g.
// NR_VM_ZONE_STAT_ITEMS) is one of the enum's own enumerators. Where two names share a
// value (NR_ZONE_LRU_BASE = NR_ZONE_INACTIVE_ANON) the later one is kept, as crash does.
Result<std::vector<std::string>> enum_names(Kernel& k, std::string_view enum_type, std::string_view count_enumerator);

// Every enumerator of an enum with its value, in declaration order (aliases included).
Result<std::vector<std::pair<std::string, int64_t>>> enum_values(Kernel& k, std::string_view enum_type);

// `n` signed longs at `addr` (atomic_long_t arrays such as vm_zone_stat or zone->vm_stat).
Result<std::vector<int64_t>> read_longs(Kernel& k, uint64_t addr, size_t n);

// The global counters: vm_zone_stat[] (enum zone_stat_item) and vm_node_stat[]
// (enum node_stat_item, 4.8+), as name/value pairs in enum order.
struct VmStat {
  std::vector<std::string> names;
  std::vector<int64_t> values;
};
Result<VmStat> vm_zone_stat(Kernel& k);
Result<VmStat> vm_node_stat(Kernel& k);
// vm_event_states summed over the present CPUs (enum vm_event_item).
Result<VmStat> vm_event_states(Kernel& k);
// One counter by name from either global array; not_found if the kernel has no such item.
Result<int64_t> vm_stat(Kernel& k, std::string_view item);

// pglist_data addresses of the online nodes, by node id: node_data[] when NUMA, else
// contig_page_data.
struct Node {
  int id;
  uint64_t pgdat;
};
Result<std::vector<Node>> online_nodes(Kernel& k);

struct Zone {
  int node = 0;
  int index = 0;  // in node_zones[]
  uint64_t addr = 0;
  std::string name;
  uint64_t spanned = 0, present = 0, managed = 0, start_pfn = 0;
  uint64_t watermark[3] = {0, 0, 0};  // WMARK_MIN, WMARK_LOW, WMARK_HIGH
};
Result<std::vector<Zone>> zones(Kernel& k);

// SLUB: the caches on slab_caches, newest first (the list's order).
Result<std::vector<uint64_t>> slab_caches(Kernel& k);
struct SlubCounts {
  std::string name;
  uint64_t object_size = 0;   // kmem_cache.object_size
  uint64_t size = 0;          // kmem_cache.size (object plus metadata)
  uint64_t slab_bytes = 0;    // PAGE_SIZE << order of kmem_cache.oo
  uint64_t objects_per_slab = 0;
  uint64_t slabs = 0;         // over all nodes
  uint64_t total = 0;         // objects in those slabs
  uint64_t free = 0;          // free objects: node partial lists, per-CPU slabs and partials
  uint64_t allocated() const { return total >= free ? total - free : 0; }
};
Result<std::string> slab_cache_name(Kernel& k, uint64_t cache);
Result<SlubCounts> slub_counts(Kernel& k, uint64_t cache);

// The kernel's names of page flags (mm/debug.c pageflag_names, {mask, name} pairs ending
// with a NULL name, 4.6+), in table order.
struct PageFlagName {
  uint64_t mask;
  std::string name;
};
Result<std::vector<PageFlagName>> page_flag_names(Kernel& k);
// "flags name,name" as crash prints page flags: the hex value, then the names of its bits.
std::string format_page_flags(uint64_t flags, const std::vector<PageFlagName>& names);

// Sparsemem sections present in the dump (SPARSEMEM_EXTREME: mem_section is an array of
// root pointers; VMCOREINFO gives SECTION_SIZE_BITS and MAX_PHYSMEM_BITS).
struct MemSection {
  uint64_t nr;
  uint64_t addr;             // the struct mem_section
  uint64_t section_mem_map;  // encoded: mem_map minus the section's first pfn, flag bits below
};
Result<std::vector<MemSection>> mem_sections(Kernel& k);
Result<uint64_t> pages_per_section(Kernel& k);

// Pages (SPARSEMEM_VMEMMAP, x86_64's only memory model since 4.x): the struct page of a pfn,
// and the pfn of a kernel virtual address (direct map, else the kernel page tables), if it is
// mapped and its sparsemem section is present.
Result<uint64_t> pfn_to_page(Kernel& k, uint64_t pfn);
// The struct page of pfn 0 (the kernel's `vmemmap`): the arch's (arm64: VMEMMAP_START and
// memstart_addr), else x86_64's vmemmap_base variable (4.8+, randomized by KASLR).
Result<uint64_t> vmemmap_of(Kernel& k);
Result<std::optional<uint64_t>> kvaddr_to_pfn(Kernel& k, uint64_t addr);

// The struct describing a SLUB slab: "slab" (struct slab, 5.17+) or "page".
std::string_view slab_struct(Kernel& k);

// SLUB's free pointer, stored at `offset` in each free object; with
// CONFIG_SLAB_FREELIST_HARDENED (kmem_cache.random exists, 5.7+, commit 1ad53d9fa3f6) it is
// stored as next ^ random ^ swab(address it is stored at).
struct FreePointerCoding {
  uint64_t offset = 0;
  bool hardened = false;
  uint64_t random = 0;
};
// The objects of a freelist from its first one, over a memory-reading callback: an error
// naming the object when the list loops, is longer than `limit`, or cannot be read.
Result<std::vector<uint64_t>> decode_freelist(const std::function<Result<uint64_t>(uint64_t)>& read,
                                              const FreePointerCoding& coding, uint64_t first, uint64_t limit);
// The same for a cache of the dump (its coding read from the kmem_cache).
Result<std::vector<uint64_t>> slab_freelist(Kernel& k, uint64_t cache, uint64_t first, uint64_t limit, uint64_t slab);

// The start of the object holding `addr` in a slab of `objects` objects of `size` bytes
// (kmem_cache.size) from `base`, each after a left red zone of `pad` bytes; nullopt when
// the address lies in no object.
std::optional<uint64_t> slab_object_start(uint64_t addr, uint64_t base, uint64_t pad, uint64_t size, uint64_t objects);

// The CPU whose current slab `slab` is, with that CPU's lockless freelist; {-1, 0} if none.
Result<std::pair<int, uint64_t>> slab_cpu_owner(Kernel& k, uint64_t cache, uint64_t slab);

// The SLUB object holding a kernel virtual address: nullopt when the address is not mapped,
// its page is not in a present section, or the page is not a slab of a cache on slab_caches.
// `allocated` is false when the object is on the slab's freelist or on the lockless freelist
// of the CPU whose slab it is.
struct SlabObject {
  uint64_t cache = 0;        // struct kmem_cache
  std::string cache_name;
  uint64_t slab = 0;         // struct slab (or struct page) of the slab's head page
  uint64_t slab_base = 0;    // address of the slab's first object
  uint64_t objects = 0;      // objects in the slab
  uint64_t object = 0;       // start of the object holding the address; 0 if in no object
  uint64_t object_size = 0;  // kmem_cache.size: the stride between objects, metadata included
  bool allocated = false;
  int cpu = -1;              // the CPU whose current slab this is, else -1
  uint64_t cpu_freelist = 0; // that CPU's lockless freelist
};
Result<std::optional<SlabObject>> slab_object_at(Kernel& k, uint64_t addr);

}  // namespace coroner::kernel
