#include "kernel/radix_tree.h"

#include <functional>
#include <unordered_set>

namespace coroner::kernel {
namespace {

// Low bits of an entry (include/linux/radix-tree.h): 01 an internal entry (a node pointer,
// RADIX_TREE_INTERNAL_NODE since 4.7, RADIX_TREE_INDIRECT_PTR on rnode before), 10 an
// exceptional entry. Internal values below a page are not pointers (RADIX_TREE_RETRY is 1).
constexpr uint64_t kInternalTag = 1, kTagMask = 3, kNotAPointer = 4096;
bool internal_entry(uint64_t e) { return (e & kTagMask) == kInternalTag; }

Result<uint64_t> node_read(const ReadU64& read, uint64_t addr, uint64_t root, uint64_t node) {
  auto v = read(addr);
  if (!v)
    return Error::make(Errc::fault, "radix tree at {:#x}: node {:#x}: cannot read {:#x}: {}", root, node, addr,
                       v.error().message);
  return *v;
}

}  // namespace

Result<RadixLayout> radix_layout(Kernel& k) {
  RadixLayout l;
  auto& types = k.types();
  l.root_rnode = TRY(k.offset_of("radix_tree_root", "rnode"));
  l.node_slots = TRY(k.offset_of("radix_tree_node", "slots"));
  if (auto shift = k.offset_of("radix_tree_node", "shift")) {
    l.shift_nodes = true;
    l.node_shift = *shift;
  } else {
    l.shift_nodes = false;
    l.root_height = TRY(k.offset_of("radix_tree_root", "height"));
  }
  symbols::TypeRef node = TRY(types.find("struct radix_tree_node"));
  auto slots = TRY(types.member(node, "slots"));
  auto arr = types.array(types.resolve(slots.type));
  if (!arr || arr->second < 2 || arr->second > 256 || (arr->second & (arr->second - 1)))
    return Error::make(Errc::no_debug_info, "radix_tree_node.slots: not an array of a power-of-two length");
  l.map_size = static_cast<uint32_t>(arr->second);
  l.map_shift = static_cast<uint32_t>(__builtin_ctz(l.map_size));
  return l;
}

Result<std::vector<XaEntry>> radix_tree_walk(const ReadU64& read, uint64_t root, const RadixLayout& l, size_t limit) {
  std::vector<XaEntry> out;
  uint64_t rnode = TRY(node_read(read, root + l.root_rnode, root, root));
  if (!rnode) return out;
  // No node: the tree holds one entry, at index 0.
  if (!internal_entry(rnode)) {
    out.push_back({0, rnode});
    return out;
  }
  if (rnode < kNotAPointer) return out;  // RADIX_TREE_RETRY and the like: nothing stored
  // Levels below the root node: the index has 64 bits, so at most ceil(64 / MAP_SHIFT).
  const int max_levels = static_cast<int>((64 + l.map_shift - 1) / l.map_shift);
  int levels = 0;  // older layout: root.height
  if (!l.shift_nodes) {
    uint64_t height = TRY(node_read(read, root + l.root_height, root, root)) & 0xffffffff;
    if (height == 0 || height > static_cast<uint64_t>(max_levels))
      return Error::make(Errc::bad_data, "radix tree at {:#x}: height {} (at most {} levels)", root, height, max_levels);
    levels = static_cast<int>(height);
  }
  std::unordered_set<uint64_t> seen;
  // `shift` is the bits below each slot of `node`; recursion is bounded by the checks on it.
  std::function<Result<void>(uint64_t, uint64_t, int)> visit = [&](uint64_t node, uint64_t base,
                                                                   int parent_shift) -> Result<void> {
    if (!seen.insert(node).second) return Error::make(Errc::bad_data, "radix tree at {:#x}: node {:#x} is reached twice (a cycle)", root, node);
    int shift;
    if (l.shift_nodes) {
      shift = static_cast<int>(TRY(node_read(read, node + l.node_shift, root, node)) & 0xff);
      if (shift >= 64 || shift % static_cast<int>(l.map_shift) || (parent_shift >= 0 && shift >= parent_shift))
        return Error::make(Errc::bad_data, "radix tree at {:#x}: node {:#x}: shift {} under a node of shift {}", root,
                           node, shift, parent_shift);
    } else {
      shift = parent_shift < 0 ? (levels - 1) * static_cast<int>(l.map_shift) : parent_shift - static_cast<int>(l.map_shift);
    }
    for (uint32_t i = 0; i < l.map_size; ++i) {
      uint64_t slot = node + l.node_slots + 8ull * i;
      uint64_t e = TRY(node_read(read, slot, root, node));
      if (!e) continue;
      uint64_t index = base + (static_cast<uint64_t>(i) << shift);
      if (l.shift_nodes && internal_entry(e)) {
        uint64_t child = e & ~kTagMask;
        // A sibling entry points into this node's own slots (multi-order entries), RETRY
        // below a page: neither is a node.
        if (e < kNotAPointer || (child >= node + l.node_slots && child < node + l.node_slots + 8ull * l.map_size))
          continue;
        if (shift == 0)
          return Error::make(Errc::bad_data, "radix tree at {:#x}: node {:#x}: node pointer {:#x} in a leaf", root, node, e);
        TRY(visit(child, index, shift));
        continue;
      }
      if (!l.shift_nodes && shift > 0) {  // older layout: an inner slot holds a plain node pointer
        if (e & kTagMask)
          return Error::make(Errc::bad_data, "radix tree at {:#x}: node {:#x}: slot {} holds {:#x}, not a node", root,
                             node, i, e);
        TRY(visit(e, index, shift));
        continue;
      }
      if (out.size() >= limit) return Error::make(Errc::out_of_bounds, "radix tree at {:#x}: more than {} entries", root, limit);
      out.push_back({index, e});
    }
    return ok();
  };
  TRY(visit(rnode & ~kTagMask, 0, -1));
  return out;
}

Result<std::vector<XaEntry>> radix_tree_walk(Kernel& k, uint64_t root, size_t limit) {
  RadixLayout l = TRY(radix_layout(k));
  return radix_tree_walk([&k](uint64_t addr) { return k.read_u64(addr); }, root, l, limit);
}

}  // namespace coroner::kernel
