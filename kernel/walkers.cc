#include "kernel/walkers.h"

#include <unordered_set>

namespace coroner::kernel {

Result<std::vector<uint64_t>> list_walk(Kernel& k, uint64_t head, size_t limit) {
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> seen;
  uint64_t prev = head;
  uint64_t next = TRY(k.read_u64(head));
  while (next != head) {
    if (next == 0)
      return Error::make(Errc::bad_data, "list at {:#x}: NULL next pointer in entry {:#x}", head, prev);
    if (!seen.insert(next).second)
      return Error::make(Errc::bad_data, "list at {:#x}: cycle: entry {:#x} points back to {:#x}", head, prev, next);
    if (out.size() >= limit)
      return Error::make(Errc::out_of_bounds, "list at {:#x}: more than {} entries", head, limit);
    out.push_back(next);
    prev = next;
    auto n = k.read_u64(next);
    if (!n) return Error::make(Errc::fault, "list at {:#x}: entry {:#x}: {}", head, next, n.error().message);
    next = *n;
  }
  return out;
}

}  // namespace coroner::kernel

namespace coroner::kernel {
namespace {

// XArray entry encoding (include/linux/xarray.h, 4.20+): internal entries have the low bits
// 10; those above 4096 point at a node (the pointer plus 2).
constexpr uint64_t kInternalLimit = 4096;
bool xa_internal(uint64_t e, uint64_t tag) { return (e & 3) == tag; }
bool xa_node(uint64_t e, uint64_t tag) { return xa_internal(e, tag) && e > kInternalLimit; }

ReadU64 kernel_reader(Kernel& k) {
  return [&k](uint64_t addr) { return k.read_u64(addr); };
}

// A read for a walk over the structure at `where`: a failure names the structure, the node
// being read (`node`, the start of the node whose member is at `addr`) and the address.
Result<uint64_t> checked_read(const ReadU64& read, uint64_t addr, std::string_view what, uint64_t where,
                              uint64_t node = 0) {
  auto v = read(addr);
  if (!v && node && node != where)
    return Error::make(Errc::fault, "{} at {:#x}: node {:#x}: cannot read {:#x}: {}", what, where, node, addr,
                       v.error().message);
  if (!v) return Error::make(Errc::fault, "{} at {:#x}: cannot read {:#x}: {}", what, where, addr, v.error().message);
  return *v;
}

}  // namespace

Result<std::vector<uint64_t>> hlist_walk(const ReadU64& read, uint64_t head, size_t limit) {
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> seen;
  uint64_t node = TRY(checked_read(read, head, "hlist", head));
  while (node) {
    if (!seen.insert(node).second)
      return Error::make(Errc::bad_data, "hlist at {:#x}: cycle: entry {:#x} is reached twice", head, node);
    if (out.size() >= limit) return Error::make(Errc::out_of_bounds, "hlist at {:#x}: more than {} entries", head, limit);
    out.push_back(node);
    node = TRY(checked_read(read, node, "hlist", head));
  }
  return out;
}

Result<std::vector<uint64_t>> hlist_walk(Kernel& k, uint64_t head, size_t limit) {
  return hlist_walk(kernel_reader(k), head, limit);
}

Result<RbLayout> rb_layout(Kernel& k) {
  return RbLayout{TRY(k.offset_of("rb_root", "rb_node")), TRY(k.offset_of("rb_node", "rb_left")),
                  TRY(k.offset_of("rb_node", "rb_right"))};
}

Result<std::vector<uint64_t>> rbtree_walk(const ReadU64& read, uint64_t root, const RbLayout& layout, size_t limit) {
  constexpr size_t kMaxDepth = 128;
  std::vector<uint64_t> out, stack;
  std::unordered_set<uint64_t> seen;
  uint64_t node = TRY(checked_read(read, root + layout.rb_node, "rbtree", root));
  while (node || !stack.empty()) {
    while (node) {
      if (!seen.insert(node).second)
        return Error::make(Errc::bad_data, "rbtree at {:#x}: cycle: node {:#x} is reached twice", root, node);
      if (stack.size() >= kMaxDepth)
        return Error::make(Errc::bad_data, "rbtree at {:#x}: deeper than {} at node {:#x}", root, kMaxDepth, node);
      stack.push_back(node);
      node = TRY(checked_read(read, node + layout.rb_left, "rbtree", root, node));
    }
    node = stack.back();
    stack.pop_back();
    if (out.size() >= limit) return Error::make(Errc::out_of_bounds, "rbtree at {:#x}: more than {} nodes", root, limit);
    out.push_back(node);
    node = TRY(checked_read(read, node + layout.rb_right, "rbtree", root, node));
  }
  return out;
}

Result<std::vector<uint64_t>> rbtree_walk(Kernel& k, uint64_t root, size_t limit) {
  return rbtree_walk(kernel_reader(k), root, TRY(rb_layout(k)), limit);
}

Result<XaLayout> xa_layout(Kernel& k) {
  XaLayout l;
  l.node_shift = TRY(k.offset_of("xa_node", "shift"));
  l.node_slots = TRY(k.offset_of("xa_node", "slots"));
  symbols::TypeRef node = TRY(k.types().find("struct xa_node"));
  auto slots = TRY(k.types().member(node, "slots"));
  auto arr = k.types().array(k.types().resolve(slots.type));
  if (!arr || arr->second == 0 || arr->second > 256)
    return Error::make(Errc::no_debug_info, "xa_node.slots: not an array of a plausible length");
  l.chunk = static_cast<uint32_t>(arr->second);
  return l;
}

Result<std::vector<XaEntry>> xarray_walk(const ReadU64& read, uint64_t head, const XaLayout& layout, size_t limit) {
  constexpr uint64_t tag = 2;
  std::vector<XaEntry> out;
  if (!head) return out;
  if (!xa_node(head, tag)) {
    if (!xa_internal(head, tag)) out.push_back({0, head});
    return out;
  }
  std::unordered_set<uint64_t> seen;
  // Recursion depth is bounded: every child's shift is below its parent's, and shifts are < 64.
  std::function<Result<void>(uint64_t, uint64_t, int)> visit = [&](uint64_t entry, uint64_t base,
                                                                   int parent_shift) -> Result<void> {
    uint64_t node = entry - tag;
    if (!seen.insert(node).second) return Error::make(Errc::bad_data, "xarray node {:#x} is reached twice (a cycle)", node);
    int shift = static_cast<int>(TRY(checked_read(read, node + layout.node_shift, "xarray node", node)) & 0xff);
    if (shift >= 64 || (parent_shift >= 0 && shift >= parent_shift))
      return Error::make(Errc::bad_data, "xarray node {:#x}: shift {} under a node of shift {}", node, shift, parent_shift);
    for (uint32_t i = 0; i < layout.chunk; ++i) {
      uint64_t e = TRY(checked_read(read, node + layout.node_slots + 8ull * i, "xarray node", node));
      if (!e) continue;
      uint64_t index = base + (static_cast<uint64_t>(i) << shift);
      if (xa_node(e, tag)) {
        if (shift == 0) return Error::make(Errc::bad_data, "xarray node {:#x}: node pointer {:#x} in a leaf", node, e);
        TRY(visit(e, index, shift));
      } else if (!xa_internal(e, tag)) {  // sibling, retry and zero entries are internal
        if (out.size() >= limit) return Error::make(Errc::out_of_bounds, "xarray: more than {} entries", limit);
        out.push_back({index, e});
      }
    }
    return ok();
  };
  TRY(visit(head, 0, -1));
  return out;
}

Result<std::vector<XaEntry>> xarray_walk(Kernel& k, uint64_t xarray, size_t limit) {
  uint64_t head = TRY(k.read_u64(xarray + TRY(k.offset_of("xarray", "xa_head"))));
  return xarray_walk(kernel_reader(k), head, TRY(xa_layout(k)), limit);
}

Result<MapleLayout> maple_layout(Kernel& k) {
  MapleLayout l;
  auto count = [&](std::string_view type, std::string_view member) -> Result<uint32_t> {
    symbols::TypeRef t = TRY(k.types().find(type));
    auto m = TRY(k.types().member(t, member));
    auto arr = k.types().array(k.types().resolve(m.type));
    if (!arr || arr->second == 0 || arr->second > 256)
      return Error::make(Errc::no_debug_info, "{}.{}: not an array of a plausible length", type, member);
    return static_cast<uint32_t>(arr->second);
  };
  l.range64_pivot = TRY(k.offset_of("maple_range_64", "pivot"));
  l.range64_slot = TRY(k.offset_of("maple_range_64", "slot"));
  l.range64_slots = TRY(count("struct maple_range_64", "slot"));
  l.arange64_pivot = TRY(k.offset_of("maple_arange_64", "pivot"));
  l.arange64_slot = TRY(k.offset_of("maple_arange_64", "slot"));
  l.arange64_slots = TRY(count("struct maple_arange_64", "slot"));
  l.dense_slot = TRY(k.offset_of("maple_node", "slot"));
  l.dense_slots = TRY(count("struct maple_node", "slot"));
  auto e = [&](const char* name, int64_t& out) -> Result<void> {
    auto v = k.types().enumerator(name);
    if (!v) return Error::make(Errc::no_debug_info, "no enumerator {} (enum maple_type)", name);
    out = *v;
    return ok();
  };
  TRY(e("maple_dense", l.type_dense));
  TRY(e("maple_leaf_64", l.type_leaf64));
  TRY(e("maple_range_64", l.type_range64));
  TRY(e("maple_arange_64", l.type_arange64));
  return l;
}

Result<std::vector<MapleEntry>> maple_walk(const ReadU64& read, uint64_t root_entry, const MapleLayout& l, size_t limit) {
  // lib/maple_tree.c (6.1+): a node pointer ("enode") is the 256-byte aligned node with the
  // node type in bits 3-6; the root holds it tagged as an XArray node (low bits 10).
  constexpr uint64_t kNodeMask = 255, kTypeShift = 3, kTypeMask = 0xf;
  constexpr int kMaxHeight = 31;  // MAPLE_HEIGHT_MAX
  std::vector<MapleEntry> out;
  if (!root_entry) return out;
  if (!xa_node(root_entry, 2)) {
    if (!xa_internal(root_entry, 2)) out.push_back({0, 0, root_entry});
    return out;
  }
  std::unordered_set<uint64_t> seen;
  auto emit = [&](uint64_t first, uint64_t last, uint64_t e) -> Result<void> {
    if (!e || (xa_internal(e, 2) && e < kInternalLimit)) return ok();  // reserved values
    if (out.size() >= limit) return Error::make(Errc::out_of_bounds, "maple tree: more than {} entries", limit);
    out.push_back({first, last, e});
    return ok();
  };
  std::function<Result<void>(uint64_t, uint64_t, uint64_t, int)> visit =
      [&](uint64_t enode, uint64_t min, uint64_t max, int depth) -> Result<void> {
    uint64_t node = enode & ~kNodeMask;
    if (depth > kMaxHeight) return Error::make(Errc::bad_data, "maple tree node {:#x}: deeper than {}", node, kMaxHeight);
    if (node < kInternalLimit) return Error::make(Errc::bad_data, "maple tree: bad node pointer {:#x}", enode);
    if (!seen.insert(node).second)
      return Error::make(Errc::bad_data, "maple tree node {:#x} is reached twice (a cycle)", node);
    int64_t type = static_cast<int64_t>((enode >> kTypeShift) & kTypeMask);
    if (type == l.type_dense) {
      for (uint32_t i = 0; i < l.dense_slots && min + i <= max; ++i)
        TRY(emit(min + i, min + i, TRY(checked_read(read, node + l.dense_slot + 8ull * i, "maple node", node))));
      return ok();
    }
    uint64_t pivot_off, slot_off;
    uint32_t slots;
    if (type == l.type_leaf64 || type == l.type_range64) {
      pivot_off = l.range64_pivot, slot_off = l.range64_slot, slots = l.range64_slots;
    } else if (type == l.type_arange64) {
      pivot_off = l.arange64_pivot, slot_off = l.arange64_slot, slots = l.arange64_slots;
    } else {
      return Error::make(Errc::bad_data, "maple tree node {:#x}: unknown node type {}", node, type);
    }
    bool leaf = type == l.type_leaf64;
    uint64_t prev = min;
    for (uint32_t i = 0; i < slots; ++i) {
      uint64_t piv = max;
      if (i + 1 < slots) {
        piv = TRY(checked_read(read, node + pivot_off + 8ull * i, "maple node", node));
        if (i > 0 && piv == 0) piv = max;  // an unused pivot: the last slot reaches max
      }
      if (piv < prev || piv > max)
        return Error::make(Errc::bad_data, "maple tree node {:#x}: pivot {} is {:#x}, outside [{:#x}, {:#x}]", node, i, piv,
                           prev, max);
      uint64_t slot = TRY(checked_read(read, node + slot_off + 8ull * i, "maple node", node));
      if (leaf)
        TRY(emit(prev, piv, slot));
      else if (slot)
        TRY(visit(slot, prev, piv, depth + 1));
      if (piv >= max) break;
      prev = piv + 1;
    }
    return ok();
  };
  TRY(visit(root_entry, 0, ~0ull, 0));
  return out;
}

Result<std::vector<MapleEntry>> maple_walk(Kernel& k, uint64_t tree, size_t limit) {
  uint64_t root = TRY(k.read_u64(tree + TRY(k.offset_of("maple_tree", "ma_root"))));
  return maple_walk(kernel_reader(k), root, TRY(maple_layout(k)), limit);
}

}  // namespace coroner::kernel
