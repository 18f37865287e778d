// Devices as the kernel registers them: character-device majors (the chrdevs[] hash and the
// cdev_map probes), block-device majors (major_names[] and the gendisk found for each), the
// I/O port and memory resource trees, PCI buses and devices, and the disks of the block
// class with their in-flight requests. What `dev` prints, gathered the way crash 9 gathers it.
//
//   for (const CharDevice& c : TRY(char_devices(k))) fmt::print("{} {}\n", c.major, c.name);
//   auto io = TRY(resource_tree(k, "ioport_resource"));   // pre-order, with depth
//
// Every walk is bounded (hash chains, lists, trees) and fails naming the address it could
// not read. Layouts come from the type layer; the version notes say which kernels need which.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace coroner::kernel {

class Kernel;

// One char_device_struct of the chrdevs[] hash (CHRDEV_MAJOR_HASH_SIZE chains), in hash
// order then chain order. `cdev` and `fops` are 0 when neither the struct's cdev nor a
// cdev_map probe for (major, baseminor) gives them.
struct CharDevice {
  int major = 0;
  int baseminor = 0;
  std::string name;
  uint64_t cdev = 0;
  uint64_t fops = 0;
};
Result<std::vector<CharDevice>> char_devices(Kernel& k);

// The first blk_major_name of each major_names[] slot (crash does not follow `next`), with
// a gendisk of that major and its fops: from bdev_map probes before 5.11, from the block
// device inodes of blockdev_superblock since (bdev_map was removed in 5.11).
struct BlockDevice {
  int major = 0;
  std::string name;
  uint64_t gendisk = 0;
  uint64_t fops = 0;
};
Result<std::vector<BlockDevice>> block_devices(Kernel& k);

// A struct resource tree (ioport_resource, iomem_resource) in pre-order: child before
// sibling. `depth` is 0 for the root.
struct Resource {
  uint64_t address = 0;
  uint64_t start = 0;
  uint64_t end = 0;
  std::string name;  // "(unknown)" when the name cannot be read
  int depth = 0;
};
Result<std::vector<Resource>> resource_tree(Kernel& k, std::string_view root_symbol);

// The same walk over a memory-reading callback and struct resource's member offsets, so it
// can be tested over a fake memory. Stops with an error naming the entry on a cycle, past
// 64 levels or 2^20 entries, or at an unreadable entry.
struct ResourceLayout {
  uint64_t name = 0, start = 0, end = 0, child = 0, sibling = 0;
};
using ReadWord = std::function<Result<uint64_t>(uint64_t)>;
using ReadName = std::function<std::optional<std::string>(uint64_t)>;
Result<std::vector<Resource>> resource_walk(const ReadWord& read, const ReadName& read_name,
                                            const ResourceLayout& layout, uint64_t root);

// PCI (2.6.26+: pci_root_buses, each bus's devices and child buses).
struct PciDevice {
  uint64_t address = 0;
  std::string name;   // the device's kobject name, "0000:00:01.0"
  uint32_t class_code = 0;  // pci_dev.class >> 8
  uint16_t vendor = 0, device = 0;
  std::string type;   // "ENDPOINT", "ROOT_PORT", ... plus " [BRIDGE]"
};
struct PciBus {
  uint64_t address = 0;
  uint64_t parent = 0;
  std::string name;                 // root buses: "0000:00"
  std::vector<PciDevice> devices;   // bus->self first when it has one
  std::vector<PciBus> children;
};
Result<std::vector<PciBus>> pci_root_buses(Kernel& k);

// One disk of the block class (ram* and loop* skipped as crash skips them) with the
// requests the block layer has in flight for it.
struct DiskIo {
  int major = 0;
  uint64_t gendisk = 0;
  std::string name;
  uint64_t queue = 0;
  uint64_t reads = 0, writes = 0;  // in flight: (ASYNC, SYNC) or (READ, WRITE)
};
struct DiskIoTable {
  bool sync_labels = false;       // the kernel has BLK_RW_SYNC: columns are ASYNC/SYNC
  std::vector<DiskIo> disks;
};
Result<DiskIoTable> disk_io(Kernel& k);

}  // namespace coroner::kernel
