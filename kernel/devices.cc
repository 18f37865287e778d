#include "kernel/devices.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <optional>
#include <set>
#include <tuple>

#include "kernel/kernel.h"
#include "kernel/walkers.h"

namespace coroner::kernel {
namespace {

constexpr size_t kChainLimit = 1u << 16;  // entries on one hash chain or probe list
constexpr int kMinorBits = 20;            // dev_t: MAJOR = dev >> 20, MINOR = dev & 0xfffff

// Elements of a pointer array variable: its symbol size, else `fallback`.
uint64_t array_len(Kernel& k, std::string_view sym, uint64_t fallback) {
  const symbols::Symbol* s = k.symbols().find(sym);
  return s && s->size ? s->size / 8 : fallback;
}

Result<int32_t> read_i32(Kernel& k, uint64_t addr) { return k.read_as<int32_t>(addr); }

// cdev_map->probes[major]: the cdev registered for (major, minor), and its file operations.
// crash indexes probes[] by the major itself, so majors past the array have none.
std::pair<uint64_t, uint64_t> cdev_map_probe(Kernel& k, int major, int minor) {
  auto map_sym = k.symbols().address_of("cdev_map");
  if (!map_sym || major < 0) return {0, 0};
  auto map = k.read_u64(*map_sym);
  auto probes_off = k.offset_of("kobj_map", "probes");
  auto next_off = k.offset_of("probe", "next");
  auto dev_off = k.offset_of("probe", "dev");
  auto data_off = k.offset_of("probe", "data");
  auto ops_off = k.offset_of("cdev", "ops");
  if (!map || !*map || !probes_off || !next_off || !dev_off || !data_off || !ops_off) return {0, 0};
  uint64_t nprobes = 255;
  if (auto t = k.types().find("kobj_map")) {
    if (auto m = k.types().member(*t, "probes")) {
      if (auto a = k.types().array(m->type)) nprobes = a->second;
    }
  }
  if (static_cast<uint64_t>(major) >= nprobes) return {0, 0};
  auto p = k.read_u64(*map + *probes_off + 8 * static_cast<uint64_t>(major));
  uint64_t next = p ? *p : 0;
  for (size_t n = 0; next && n < kChainLimit; ++n) {
    auto dev = k.read_u32(next + *dev_off);
    if (!dev) break;
    if (static_cast<int>(*dev >> kMinorBits) == major && static_cast<int>(*dev & ((1u << kMinorBits) - 1)) == minor) {
      auto data = k.read_u64(next + *data_off);
      if (!data) break;
      auto ops = k.read_u64(*data + *ops_off);
      if (!ops) return {0, 0};
      return {*data, *ops};
    }
    auto nx = k.read_u64(next + *next_off);
    if (!nx) break;
    next = *nx;
  }
  return {0, 0};
}

}  // namespace

Result<std::vector<CharDevice>> char_devices(Kernel& k) {
  uint64_t chrdevs = TRY(k.symbol("chrdevs"));
  uint64_t slots = array_len(k, "chrdevs", 255);
  uint64_t next_off = TRY(k.offset_of("char_device_struct", "next"));
  uint64_t name_off = TRY(k.offset_of("char_device_struct", "name"));
  uint64_t major_off = TRY(k.offset_of("char_device_struct", "major"));
  uint64_t minor_off = TRY(k.offset_of("char_device_struct", "baseminor"));
  auto cdev_off = k.offset_of("char_device_struct", "cdev");
  auto ops_off = k.offset_of("cdev", "ops");
  // char_device_struct.name is char[64] since 2.6.x; crash reads it as a string either way.
  uint64_t name_len = 64;
  if (auto t = k.types().find("char_device_struct"))
    if (auto m = k.types().member(*t, "name"))
      if (auto a = k.types().array(m->type)) name_len = a->second;
  std::vector<CharDevice> out;
  for (uint64_t i = 0; i < slots; ++i) {
    uint64_t p = TRY(k.read_u64(chrdevs + 8 * i));
    std::set<uint64_t> seen;
    for (size_t n = 0; p; ++n) {
      if (n >= kChainLimit || !seen.insert(p).second)
        return Error::make(Errc::bad_data, "chrdevs[{}]: the chain loops or exceeds {} entries at {:#x}", i, kChainLimit, p);
      CharDevice c;
      c.name = TRY(k.read_cstring(p + name_off, name_len ? name_len - 1 : 63));
      c.major = TRY(read_i32(k, p + major_off));
      c.baseminor = TRY(read_i32(k, p + minor_off));
      if (cdev_off && ops_off) {
        c.cdev = TRY(k.read_u64(p + *cdev_off));
        if (c.cdev) c.fops = TRY(k.read_u64(c.cdev + *ops_off));
      }
      if (!c.fops) std::tie(c.cdev, c.fops) = cdev_map_probe(k, c.major, c.baseminor);
      out.push_back(std::move(c));
      p = TRY(k.read_u64(p + next_off));
    }
  }
  return out;
}

namespace {

// Block device inodes of blockdev_superblock (5.11+): their gendisks, in s_inodes order.
// A block_device sits just before its inode in struct bdev_inode.
Result<std::vector<uint64_t>> blockdev_disks(Kernel& k) {
  uint64_t sb = TRY(k.read_u64(TRY(k.symbol("blockdev_superblock"))));
  if (!sb) return std::vector<uint64_t>{};
  uint64_t head = sb + TRY(k.offset_of("super_block", "s_inodes"));
  uint64_t sb_list = TRY(k.offset_of("inode", "i_sb_list"));
  uint64_t inode_in_bdev = 0;
  if (auto off = k.offset_of("bdev_inode", "vfs_inode")) inode_in_bdev = *off;
  else inode_in_bdev = TRY(k.types().size_of_name("block_device"));
  uint64_t bd_disk = TRY(k.offset_of("block_device", "bd_disk"));
  std::vector<uint64_t> disks;
  for (uint64_t node : TRY(list_walk(k, head))) {
    uint64_t inode = node - sb_list;
    auto disk = k.read_u64(inode - inode_in_bdev + bd_disk);
    if (disk && *disk) disks.push_back(*disk);
  }
  return disks;
}

}  // namespace

Result<std::vector<BlockDevice>> block_devices(Kernel& k) {
  uint64_t names = TRY(k.symbol("major_names"));
  uint64_t slots = array_len(k, "major_names", 255);
  uint64_t major_off = TRY(k.offset_of("blk_major_name", "major"));
  uint64_t name_off = TRY(k.offset_of("blk_major_name", "name"));
  uint64_t fops_off = TRY(k.offset_of("gendisk", "fops"));
  uint64_t gd_major_off = TRY(k.offset_of("gendisk", "major"));
  bool use_bdev_map = k.symbols().find("bdev_map") != nullptr;
  std::optional<std::vector<uint64_t>> disks;
  std::vector<BlockDevice> out;
  for (uint64_t i = 0; i < slots; ++i) {
    uint64_t p = TRY(k.read_u64(names + 8 * i));
    if (!p) continue;
    BlockDevice b;
    b.major = static_cast<int>(TRY(k.read_u32(p + major_off)));
    b.name = TRY(k.read_cstring(p + name_off, 16));
    if (use_bdev_map) {
      // Before 5.11: bdev_map->probes[slot], each probe's data a gendisk.
      auto map = k.read_u64(TRY(k.symbol("bdev_map")));
      uint64_t probes = TRY(k.offset_of("kobj_map", "probes"));
      uint64_t next_off = TRY(k.offset_of("probe", "next"));
      uint64_t dev_off = TRY(k.offset_of("probe", "dev"));
      uint64_t data_off = TRY(k.offset_of("probe", "data"));
      int key = b.major == static_cast<int>(i) ? b.major : static_cast<int>(i);
      auto first = map ? k.read_u64(*map + probes + 8 * static_cast<uint64_t>(key)) : map;
      uint64_t next = first ? *first : 0;
      for (size_t n = 0; next && n < kChainLimit; ++n) {
        auto data = k.read_u64(next + data_off);
        auto dev = k.read_u32(next + dev_off);
        if (!data || !dev) break;
        if (*data && static_cast<int>(*dev >> kMinorBits) == key) {
          auto fops = k.read_u64(*data + fops_off);
          if (!fops) break;
          if (*fops) {
            b.gendisk = *data;
            b.fops = *fops;
            break;
          }
        }
        auto nx = k.read_u64(next + next_off);
        if (!nx) break;
        next = *nx;
      }
    } else if (k.symbols().find("blockdev_superblock")) {
      if (!disks) disks = TRY(blockdev_disks(k));
      for (uint64_t d : *disks) {
        auto major = k.read_as<int32_t>(d + gd_major_off);
        if (!major || *major != b.major) continue;
        auto fops = k.read_u64(d + fops_off);
        if (fops && *fops) {
          b.gendisk = d;
          b.fops = *fops;
          break;
        }
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::vector<Resource>> resource_walk(const ReadWord& read, const ReadName& read_name,
                                            const ResourceLayout& layout, uint64_t root) {
  constexpr size_t kMaxEntries = 1u << 20;
  constexpr int kMaxDepth = 64;
  std::vector<Resource> out;
  std::set<uint64_t> seen;
  std::function<Result<void>(uint64_t, int)> walk = [&](uint64_t entry, int depth) -> Result<void> {
    while (entry) {
      if (!seen.insert(entry).second)
        return Error::make(Errc::bad_data, "resource tree: a cycle at {:#x}", entry);
      if (out.size() >= kMaxEntries || depth > kMaxDepth)
        return Error::make(Errc::bad_data, "resource tree: more than {} levels or {} entries at {:#x}", kMaxDepth,
                           kMaxEntries, entry);
      Resource r;
      r.address = entry;
      r.depth = depth;
      r.start = TRY(read(entry + layout.start));
      r.end = TRY(read(entry + layout.end));
      uint64_t name = TRY(read(entry + layout.name));
      r.name = read_name(name).value_or("(unknown)");
      uint64_t child = TRY(read(entry + layout.child));
      uint64_t sibling = TRY(read(entry + layout.sibling));
      out.push_back(std::move(r));
      if (child && child != entry) TRY(walk(child, depth + 1));
      entry = sibling;
    }
    return ok();
  };
  TRY(walk(root, 0));
  return out;
}

Result<std::vector<Resource>> resource_tree(Kernel& k, std::string_view root_symbol) {
  uint64_t root = TRY(k.symbol(root_symbol));
  ResourceLayout l;
  l.name = TRY(k.offset_of("resource", "name"));
  l.start = TRY(k.offset_of("resource", "start"));
  l.end = TRY(k.offset_of("resource", "end"));
  l.child = TRY(k.offset_of("resource", "child"));
  l.sibling = TRY(k.offset_of("resource", "sibling"));
  auto read = [&](uint64_t a) { return k.read_u64(a); };
  auto name = [&](uint64_t a) -> std::optional<std::string> {
    auto s = k.read_cstring(a, 1499);
    if (!s) return std::nullopt;
    return *s;
  };
  auto r = resource_walk(read, name, l, root);
  if (!r) return Error::make(r.error().code, "{}: {}", root_symbol, r.error().message);
  return r;
}

namespace {

// The kobject name of an embedded struct device.
std::string device_name(Kernel& k, uint64_t dev) {
  auto off = k.offset_of("device", "kobj.name");
  if (!off) return "";
  auto p = k.read_u64(dev + *off);
  if (!p) return "";
  auto s = k.read_cstring(*p, 1499);
  return s ? *s : "";
}

Result<PciDevice> read_pci_dev(Kernel& k, uint64_t pdev) {
  PciDevice d;
  d.address = pdev;
  d.name = device_name(k, pdev + TRY(k.offset_of("pci_dev", "dev")));
  d.class_code = TRY(k.read_u32(pdev + TRY(k.offset_of("pci_dev", "class")))) >> 8;
  d.vendor = static_cast<uint16_t>(TRY(k.member_uint(pdev, "pci_dev", "vendor")));
  d.device = static_cast<uint16_t>(TRY(k.member_uint(pdev, "pci_dev", "device")));
  uint64_t hdr_type = TRY(k.member_uint(pdev, "pci_dev", "hdr_type"));
  // PCIe capability flags (include/uapi/linux/pci_regs.h PCI_EXP_FLAGS_TYPE); crash names
  // the port type and marks bridge and CardBus headers.
  if (k.types().has_member("pci_dev", "pcie_flags_reg")) {
    uint64_t flags = TRY(k.member_uint(pdev, "pci_dev", "pcie_flags_reg"));
    static const char* const kTypes[] = {"ENDPOINT", "LEG_END", "", "", "ROOT_PORT", "UPSTREAM",
                                         "DOWNSTREAM", "PCI_BRIDGE", "PCIE_BRIDGE", "RC_END", "RC_EC"};
    uint64_t t = (flags & 0xf0) >> 4;
    if (t < std::size(kTypes)) d.type = kTypes[t];
  }
  constexpr uint64_t kHeaderBridge = 1, kHeaderCardbus = 2;
  if (hdr_type == kHeaderBridge || hdr_type == kHeaderCardbus) d.type += " [BRIDGE]";
  return d;
}

constexpr size_t kMaxPci = 1u << 16;

Result<PciBus> read_pci_bus(Kernel& k, uint64_t bus, int depth) {
  if (depth > 64) return Error::make(Errc::bad_data, "PCI bus {:#x}: buses nested too deep", bus);
  PciBus b;
  b.address = bus;
  b.parent = TRY(k.read_u64(bus + TRY(k.offset_of("pci_bus", "parent"))));
  b.name = device_name(k, bus + TRY(k.offset_of("pci_bus", "dev")));
  uint64_t self = TRY(k.read_u64(bus + TRY(k.offset_of("pci_bus", "self"))));
  if (self) b.devices.push_back(TRY(read_pci_dev(k, self)));
  uint64_t bus_list = TRY(k.offset_of("pci_dev", "bus_list"));
  for (uint64_t node : TRY(list_walk(k, bus + TRY(k.offset_of("pci_bus", "devices")), kMaxPci)))
    b.devices.push_back(TRY(read_pci_dev(k, node - bus_list)));
  uint64_t node_off = TRY(k.offset_of("pci_bus", "node"));
  for (uint64_t node : TRY(list_walk(k, bus + TRY(k.offset_of("pci_bus", "children")), kMaxPci)))
    b.children.push_back(TRY(read_pci_bus(k, node - node_off, depth + 1)));
  return b;
}

}  // namespace

Result<std::vector<PciBus>> pci_root_buses(Kernel& k) {
  uint64_t head = TRY(k.symbol("pci_root_buses"));
  uint64_t node_off = TRY(k.offset_of("pci_bus", "node"));
  std::vector<PciBus> out;
  for (uint64_t node : TRY(list_walk(k, head, kMaxPci))) out.push_back(TRY(read_pci_bus(k, node - node_off, 0)));
  return out;
}

namespace {

// The subsys_private of a class: class.p before 6.4; since 6.4 ("driver core: class: remove
// subsystem private pointer from struct class") the one on class_kset whose .class is it.
Result<uint64_t> class_subsys(Kernel& k, uint64_t cls) {
  if (auto p = k.offset_of("class", "p")) return k.read_u64(cls + *p);
  uint64_t kset = TRY(k.read_u64(TRY(k.symbol("class_kset"))));
  uint64_t entry = TRY(k.offset_of("subsys_private", "subsys.kobj.entry"));
  uint64_t class_off = TRY(k.offset_of("subsys_private", "class"));
  for (uint64_t node : TRY(list_walk(k, kset + TRY(k.offset_of("kset", "list")), 1u << 16))) {
    uint64_t sp = node - entry;
    if (TRY(k.read_u64(sp + class_off)) == cls) return sp;
  }
  return Error::make(Errc::not_found, "no subsys_private for the class at {:#x} on class_kset", cls);
}

// Requests in flight on a blk-mq queue, counted as crash 9 counts them: every busy tag of
// every hardware context whose request belongs to this queue and is MQ_RQ_IN_FLIGHT.
Result<std::pair<uint64_t, uint64_t>> mq_in_flight(Kernel& k, uint64_t q) {
  std::vector<uint64_t> hctxs;
  if (auto table = k.offset_of("request_queue", "hctx_table")) {  // 5.19+: an xarray
    for (const XaEntry& e : TRY(xarray_walk(k, q + *table, 1u << 16))) hctxs.push_back(e.entry);
  } else {
    uint64_t n = TRY(k.member_uint(q, "request_queue", "nr_hw_queues"));
    uint64_t arr = TRY(k.read_u64(q + TRY(k.offset_of("request_queue", "queue_hw_ctx"))));
    for (uint64_t i = 0; i < std::min<uint64_t>(n, 1u << 16); ++i) hctxs.push_back(TRY(k.read_u64(arr + 8 * i)));
  }
  auto& types = k.types();
  uint64_t tags_off = TRY(k.offset_of("blk_mq_hw_ctx", "tags"));
  uint64_t nr_res_off = TRY(k.offset_of("blk_mq_tags", "nr_reserved_tags"));
  uint64_t bitmap_off = TRY(k.offset_of("blk_mq_tags", "bitmap_tags"));
  auto bres_off = k.offset_of("blk_mq_tags", "breserved_tags");
  uint64_t rqs_off = TRY(k.offset_of("blk_mq_tags", "rqs"));
  bool bitmap_is_ptr = false;
  if (auto t = types.find("blk_mq_tags"))
    if (auto m = types.member(*t, "bitmap_tags")) bitmap_is_ptr = types.kind(types.resolve(m->type)) == symbols::TypeKind::pointer;
  uint64_t sb_off = TRY(k.offset_of("sbitmap_queue", "sb"));
  uint64_t depth_off = TRY(k.offset_of("sbitmap", "depth"));
  uint64_t shift_off = TRY(k.offset_of("sbitmap", "shift"));
  uint64_t map_nr_off = TRY(k.offset_of("sbitmap", "map_nr"));
  uint64_t map_off = TRY(k.offset_of("sbitmap", "map"));
  uint64_t word_size = TRY(types.size_of_name("sbitmap_word"));
  uint64_t word_off = TRY(k.offset_of("sbitmap_word", "word"));
  auto cleared_off = k.offset_of("sbitmap_word", "cleared");
  uint64_t rq_q = TRY(k.offset_of("request", "q"));
  uint64_t rq_flags = TRY(k.offset_of("request", "cmd_flags"));
  uint64_t rq_state = TRY(k.offset_of("request", "state"));
  constexpr uint32_t kInFlight = 1;  // enum mq_rq_state MQ_RQ_IN_FLIGHT
  constexpr uint32_t kOpMask = (1u << 8) - 1;
  uint64_t reads = 0, writes = 0;
  auto for_each = [&](uint64_t tags, uint64_t sbq, bool reserved, uint32_t nr_reserved) -> Result<void> {
    uint64_t sb = sbq + sb_off;
    uint32_t depth = TRY(k.read_u32(sb + depth_off));
    uint32_t shift = TRY(k.read_u32(sb + shift_off));
    uint32_t map_nr = TRY(k.read_u32(sb + map_nr_off));
    uint64_t map = TRY(k.read_u64(sb + map_off));
    if (shift >= 64 || map_nr > (1u << 16)) return Error::make(Errc::bad_data, "sbitmap at {:#x}: shift {} map_nr {}", sb, shift, map_nr);
    uint64_t rqs = TRY(k.read_u64(tags + rqs_off));
    for (uint32_t i = 0; i < map_nr; ++i) {
      uint64_t w = map + i * word_size;
      uint64_t word = TRY(k.read_u64(w + word_off));
      if (cleared_off) word &= ~TRY(k.read_u64(w + *cleared_off));
      uint64_t base = static_cast<uint64_t>(i) << shift;
      uint64_t bits = std::min<uint64_t>(uint64_t{1} << shift, depth > base ? depth - base : 0);
      for (uint64_t b = 0; b < bits && b < 64; ++b) {
        if (!(word >> b & 1)) continue;
        uint64_t bitnr = base + b + (reserved ? 0 : nr_reserved);
        uint64_t rq = TRY(k.read_u64(rqs + 8 * bitnr));
        if (rq < (uint64_t{1} << 63)) continue;
        if (TRY(k.read_u64(rq + rq_q)) != q) continue;
        if (TRY(k.read_u32(rq + rq_state)) != kInFlight) continue;
        if ((TRY(k.read_u32(rq + rq_flags)) & kOpMask) & 1) ++writes;
        else ++reads;
      }
    }
    return ok();
  };
  for (uint64_t h : hctxs) {
    uint64_t tags = TRY(k.read_u64(h + tags_off));
    uint32_t nr_reserved = TRY(k.read_u32(tags + nr_res_off));
    if (nr_reserved && bres_off) {
      uint64_t a = tags + *bres_off;
      if (bitmap_is_ptr) a = TRY(k.read_u64(a));
      TRY(for_each(tags, a, true, nr_reserved));
    }
    uint64_t a = tags + bitmap_off;
    if (bitmap_is_ptr) a = TRY(k.read_u64(a));
    TRY(for_each(tags, a, false, nr_reserved));
  }
  return std::make_pair(reads, writes);
}

}  // namespace

Result<DiskIoTable> disk_io(Kernel& k) {
  DiskIoTable t;
  t.sync_labels = k.types().enumerator("BLK_RW_SYNC").has_value();
  uint64_t block_class = TRY(k.symbol("block_class"));
  uint64_t disk_type = TRY(k.symbol("disk_type"));
  uint64_t sp = TRY(class_subsys(k, block_class));
  uint64_t head = sp + TRY(k.offset_of("subsys_private", "klist_devices.k_list"));
  uint64_t n_node = TRY(k.offset_of("klist_node", "n_node"));
  uint64_t n_klist = TRY(k.offset_of("klist_node", "n_klist"));
  // The class klist links device_private.knode_class (5.1+), device.knode_class before.
  auto priv_knode = k.offset_of("device_private", "knode_class");
  auto priv_device = k.offset_of("device_private", "device");
  auto dev_knode = k.offset_of("device", "knode_class");
  if (!(priv_knode && priv_device) && !dev_knode) return dev_knode.error();
  uint64_t dev_type = TRY(k.offset_of("device", "type"));
  // A disk's device is its part0's: block_device.bd_device (5.11+), hd_struct.__dev before.
  auto bd_device = k.offset_of("block_device", "bd_device");
  auto bd_disk = k.offset_of("block_device", "bd_disk");
  auto hd_dev = k.offset_of("hd_struct", "__dev");
  auto part0 = k.offset_of("gendisk", "part0");
  if (!(hd_dev && part0) && !(bd_device && bd_disk)) return bd_device.error();
  uint64_t name_off = TRY(k.offset_of("gendisk", "disk_name"));
  uint64_t queue_off = TRY(k.offset_of("gendisk", "queue"));
  uint64_t major_off = TRY(k.offset_of("gendisk", "major"));
  bool mq_ops = k.types().has_member("request_queue", "mq_ops");
  for (uint64_t node : TRY(list_walk(k, head, 1u << 20))) {
    uint64_t kn = node - n_node;
    if (TRY(k.read_u64(kn + n_klist)) & 1) continue;  // a dead klist_node
    uint64_t dev = priv_knode && priv_device ? TRY(k.read_u64(kn - *priv_knode + *priv_device)) : kn - *dev_knode;
    if (TRY(k.read_u64(dev + dev_type)) != disk_type) continue;
    uint64_t gendisk = hd_dev && part0 ? dev - *hd_dev - *part0 : TRY(k.read_u64(dev - *bd_device + *bd_disk));
    DiskIo d;
    d.gendisk = gendisk;
    d.name = TRY(k.read_cstring(gendisk + name_off, 32));
    if (d.name.rfind("ram", 0) == 0 || d.name.rfind("loop", 0) == 0) continue;
    d.queue = TRY(k.read_u64(gendisk + queue_off));
    d.major = TRY(k.read_as<int32_t>(gendisk + major_off));
    if (mq_ops && TRY(k.read_u64(d.queue + TRY(k.offset_of("request_queue", "mq_ops"))))) {
      auto [r, w] = TRY(mq_in_flight(k, d.queue));
      d.reads = r;
      d.writes = w;
    }
    t.disks.push_back(std::move(d));
  }
  return t;
}

}  // namespace coroner::kernel
