// Guarded walks over kernel linked structures: every walk stops at a cycle, at an absurd
// length or depth, or at an unreadable pointer, and says where.
//
//   auto nodes = TRY(list_walk(k, head_addr, /*limit=*/1 << 20));   // list_head addresses
//   auto vmas  = TRY(maple_walk(k, mm + TRY(k.offset_of("mm_struct", "mm_mt"))));
//
// The tree and hash walkers are written over a memory-reading callback (`ReadU64`) and a
// layout (member offsets taken from the type layer by the Kernel overloads), so they can be
// tested over a fake memory.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

// The list_head addresses on the circular list whose head is at `head` (head excluded).
Result<std::vector<uint64_t>> list_walk(Kernel& k, uint64_t head, size_t limit = 1u << 22);

// Reads the 8-byte little-endian word at a kernel virtual address.
using ReadU64 = std::function<Result<uint64_t>(uint64_t)>;

// hlist: the hlist_node addresses of the list whose hlist_head is at `head`
// (hlist_head.first, hlist_node.next, both at offset 0).
Result<std::vector<uint64_t>> hlist_walk(const ReadU64& read, uint64_t head, size_t limit = 1u << 22);
Result<std::vector<uint64_t>> hlist_walk(Kernel& k, uint64_t head, size_t limit = 1u << 22);

// rbtree: the rb_node addresses of the tree whose rb_root is at `root`, in order (leftmost
// first). Depth is capped at 128 (a red-black tree of 2^64 nodes is less than 128 deep).
struct RbLayout {
  uint64_t rb_node = 0;   // rb_root.rb_node
  uint64_t rb_left = 0;   // rb_node.rb_left
  uint64_t rb_right = 0;  // rb_node.rb_right
};
Result<RbLayout> rb_layout(Kernel& k);
Result<std::vector<uint64_t>> rbtree_walk(const ReadU64& read, uint64_t root, const RbLayout& layout,
                                          size_t limit = 1u << 22);
Result<std::vector<uint64_t>> rbtree_walk(Kernel& k, uint64_t root, size_t limit = 1u << 22);

// xarray (4.20+) and the radix tree before it share one encoding: a head pointer that is
// either an entry (index 0) or an internal node pointer (low bits 10, above 4096), nodes
// with a shift and XA_CHUNK_SIZE slots. Returns the present entries with their indices,
// value entries included, internal (sibling, retry) entries skipped.
struct XaLayout {
  uint64_t node_shift = 0;  // xa_node.shift (u8)
  uint64_t node_slots = 0;  // xa_node.slots[]
  uint32_t chunk = 64;      // XA_CHUNK_SIZE: the length of slots[]
};
struct XaEntry {
  uint64_t index;
  uint64_t entry;
};
Result<XaLayout> xa_layout(Kernel& k);
Result<std::vector<XaEntry>> xarray_walk(const ReadU64& read, uint64_t head, const XaLayout& layout,
                                         size_t limit = 1u << 22);
// `xarray` is the address of a struct xarray (or radix_tree_root).
Result<std::vector<XaEntry>> xarray_walk(Kernel& k, uint64_t xarray, size_t limit = 1u << 22);

// Maple tree (6.1+: mm_struct.mm_mt, vmap areas...): the ranges [first, last] holding a
// non-NULL entry, in order. Node pointers carry the node type in bits 3-6 and nodes are
// 256-byte aligned (lib/maple_tree.c, MAPLE_NODE_MASK, since 6.1).
struct MapleLayout {
  uint64_t range64_pivot = 0, range64_slot = 0;  // maple_range_64 (also the leaf layout)
  uint32_t range64_slots = 16;
  uint64_t arange64_pivot = 0, arange64_slot = 0;  // maple_arange_64
  uint32_t arange64_slots = 10;
  uint64_t dense_slot = 0;  // maple_node.slot[] for dense nodes
  uint32_t dense_slots = 31;
  int64_t type_dense = 0, type_leaf64 = 1, type_range64 = 2, type_arange64 = 3;  // enum maple_type
};
struct MapleEntry {
  uint64_t first, last, entry;
};
Result<MapleLayout> maple_layout(Kernel& k);
Result<std::vector<MapleEntry>> maple_walk(const ReadU64& read, uint64_t root_entry, const MapleLayout& layout,
                                           size_t limit = 1u << 22);
// `tree` is the address of a struct maple_tree.
Result<std::vector<MapleEntry>> maple_walk(Kernel& k, uint64_t tree, size_t limit = 1u << 22);

}  // namespace coroner::kernel
