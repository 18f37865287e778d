// One struct page as crash's dump_mem_map() prints it for a given address (vtop, files -p):
//
//         PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS
//   fffff673c0bc1100 2f044000 ffff8de9c1cf9778        0  3 fffffc008003e referenced,uptodate,...
//
// and the page cache of an inode (inode->i_mapping->i_pages, an xarray since 4.20, a radix tree
// with the same encoding before), as crash's `files -p` walks it. The struct page comes from
// the vmemmap (sparsemem-vmemmap, x86_64's only memory model since 4.x); sections absent from
// mem_section (SPARSEMEM_EXTREME, 4.15+) have none.
//
//   auto page = TRY(page_of_phys(k, paddr, &warning));      // nullopt: no struct page
//   if (page) out += TRY(format_page_line(k, TRY(read_page_info(k, *page))));
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct PageInfo {
  uint64_t page = 0;  // struct page *
  uint64_t phys = 0;  // the physical page it describes
  uint64_t mapping = 0, index = 0, flags = 0;
  int32_t count = 0;  // _refcount
};

// The struct page of the physical page holding `paddr`; nullopt when sparsemem has no section
// for it. A section number beyond NR_MEM_SECTIONS sets `warning` to crash's message.
Result<std::optional<uint64_t>> page_of_phys(Kernel& k, uint64_t paddr, std::string* warning);
// The physical address a struct page pointer describes; nullopt when `page` is not a struct
// page address in the vmemmap (crash's is_page_ptr()).
Result<std::optional<uint64_t>> phys_of_page(Kernel& k, uint64_t page);
Result<PageInfo> read_page_info(Kernel& k, uint64_t page, uint64_t phys);
// crash's line for one page (no header), ending in a newline.
Result<std::string> format_page_line(Kernel& k, const PageInfo& p);
// crash's "PAGE PHYSICAL MAPPING INDEX CNT FLAGS" header line.
std::string page_header();

// The page-cache entries of an address_space that are struct pages, in index order: its
// i_pages xarray (4.20+), else its radix tree (page_tree, i_pages in 4.17-4.19:
// kernel/radix_tree.h). Value and exceptional entries (shadow and swap entries) are skipped,
// as crash skips them. Bounded by `limit` entries; a cycle or an absurd tree is an error
// naming the node.
struct CachedPage {
  uint64_t index = 0;
  uint64_t page = 0;
};
struct PageCache {
  bool xarray = true;  // false: a radix tree (crash's messages say do_radix_tree, radix tree)
  std::vector<CachedPage> pages;
};
Result<PageCache> mapping_pages(Kernel& k, uint64_t mapping, size_t limit = 1u << 22);

}  // namespace coroner::kernel
