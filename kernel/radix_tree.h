// The page cache's radix tree before the XArray (4.20 turned address_space.i_pages into a
// struct xarray): address_space.page_tree (renamed i_pages in 4.17, still a radix tree until 4.20), a
// struct radix_tree_root, walked as crash's do_radix_tree() walks it (filesys.c, tools.c).
//
// Two layouts, told apart by the type data (include/linux/radix-tree.h):
//   4.7-4.19 ("radix-tree: replace node->height with node->shift"): radix_tree_node.shift, the bits below each slot;
//     a slot or rnode holding a node pointer is tagged RADIX_TREE_INTERNAL_NODE (low bits 01);
//     internal entries that are not nodes (sibling entries pointing into their own node's
//     slots, RADIX_TREE_RETRY) are skipped.
//   before 4.7: radix_tree_root.height, the number of levels; only rnode is tagged (the
//     RADIX_TREE_INDIRECT_PTR bit, 01) and inner slots hold plain node pointers, so the level
//     says what a slot holds.
// Both: RADIX_TREE_MAP_SIZE is the length of radix_tree_node.slots[] (64, or 16 with
// CONFIG_BASE_SMALL), MAP_SHIFT its log2; leaves may be exceptional entries (low bits 10:
// shmem swap entries since 3.1, workingset shadows since 3.15), returned with the rest.
//
//   auto entries = TRY(radix_tree_walk(k, mapping + TRY(k.offset_of("address_space", "page_tree"))));
//   for (auto& e : entries) if (!radix_tree_exceptional(e.entry)) ...   // a struct page *
#pragma once

#include <cstdint>
#include <vector>

#include "kernel/kernel.h"
#include "kernel/walkers.h"

namespace coroner::kernel {

struct RadixLayout {
  bool shift_nodes = true;   // 4.7-4.19 (radix_tree_node.shift); false: root.height (older)
  uint64_t root_rnode = 0;   // radix_tree_root.rnode
  uint64_t root_height = 0;  // radix_tree_root.height (older layout only)
  uint64_t node_shift = 0;   // radix_tree_node.shift (u8)
  uint64_t node_slots = 0;   // radix_tree_node.slots[]
  uint32_t map_size = 64;    // RADIX_TREE_MAP_SIZE: the length of slots[], a power of two
  uint32_t map_shift = 6;    // its log2
};

// From the kernel's types: which layout, the offsets and the slots array's length.
Result<RadixLayout> radix_layout(Kernel& k);

// Every non-empty leaf entry of the tree whose struct radix_tree_root is at `root`, in index
// order, exceptional entries included. Bounded by `limit` entries; a cycle, a depth the index
// cannot have or an unreadable node is an error naming the node.
Result<std::vector<XaEntry>> radix_tree_walk(const ReadU64& read, uint64_t root, const RadixLayout& layout,
                                             size_t limit = 1u << 22);
Result<std::vector<XaEntry>> radix_tree_walk(Kernel& k, uint64_t root, size_t limit = 1u << 22);

// An exceptional entry (low bits 10): a swap or shadow entry, not a pointer.
constexpr bool radix_tree_exceptional(uint64_t entry) { return (entry & 3) == 2; }

}  // namespace coroner::kernel
