// dev: character and block device majors (`dev`), I/O port and memory resources (`-i`),
// PCI buses and devices (`-p`) and disk I/O in flight (`-d`, `-D`), in crash 9's layout.
#include "commands/builtin.h"
#include "commands/support/json.h"
#include "commands/support/symstr.h"
#include "kernel/devices.h"
#include "kernel/modules.h"

namespace coroner::commands {
namespace {

constexpr int kAddrWidth = 16;  // crash's VADDR_PRLEN on 64-bit kernels

// crash's mkstring(): `s` centred in `width` (the odd space goes right, or left with
// `bias_right`), left- or right-justified; never cut.
std::string center(std::string_view s, size_t width, bool bias_right = false) {
  if (s.size() >= width) return std::string(s);
  size_t extra = width - s.size(), left = extra / 2, right = extra / 2;
  if (extra % 2) (bias_right ? left : right)++;
  return std::string(left, ' ') + std::string(s) + std::string(right, ' ');
}
std::string ljust(std::string_view s, size_t width) {
  return s.size() >= width ? std::string(s) : std::string(s) + std::string(width - s.size(), ' ');
}
std::string rjust(std::string_view s, size_t width) {
  return s.size() >= width ? std::string(s) : std::string(width - s.size(), ' ') + std::string(s);
}

// crash's value_to_symstr() for an operations pointer: "name" or "name+off" in the kernel
// image or a module, nothing elsewhere.
std::string ops_name(kernel::Kernel& k, uint64_t v) {
  if (auto s = value_to_symstr(k, v)) return *s;
  if (auto m = kernel::symbol_at(k, v); m && !m->module.empty() && !m->region_end)
    return m->offset ? fmt::format("{}+{}", m->name, m->offset) : m->name;
  return "";
}

// --json / -j: {"chrdev":[...],"blkdev":[...]}, each {major, name, cdev|gendisk, operations
// (the symbol, null when none), operations_address (null when the major has none)}.
Result<void> print_majors_json(Session& s, Output& out) {
  auto& k = s.kernel;
  auto chr = TRY(kernel::char_devices(k));
  auto blk = TRY(kernel::block_devices(k));
  json::Writer w;
  auto device = [&](int major, const std::string& name, const char* what, uint64_t addr, uint64_t fops) {
    w.object().field("major", major);
    if (name.empty()) w.null_field("name");  // the text's "(unknown)"
    else w.field("name", name);
    if (addr) w.address_field(what, addr);
    else w.null_field(what);
    if (fops) {
      std::string sym = ops_name(k, fops);
      if (sym.empty()) w.null_field("operations");
      else w.field("operations", sym);
      w.address_field("operations_address", fops);
    } else {
      w.null_field("operations").null_field("operations_address");
    }
    w.end();
  };
  w.object().field("command", "dev").key("chrdev").array();
  for (const auto& c : chr) device(c.major, c.name, "cdev", c.cdev, c.fops);
  w.end().key("blkdev").array();
  for (const auto& b : blk) device(b.major, b.name, "gendisk", b.gendisk, b.fops);
  w.end().end().print_line(out);
  return ok();
}

Result<void> print_majors(Session& s, Output& out) {
  auto& k = s.kernel;
  out.print("CHRDEV    NAME           {}  {}\n", center("CDEV", kAddrWidth), ljust("OPERATIONS", kAddrWidth));
  auto none = center("(none)", kAddrWidth);
  auto line = [&](int major, const std::string& name, uint64_t addr, uint64_t fops) {
    if (!fops) {
      out.print(" {:3}      {:<13}  {}\n", major, name, none);
      return;
    }
    std::string sym = ops_name(k, fops);
    out.print(" {:3}      {:<13}  {:16x}  {}\n", major, name, addr, sym.empty() ? fmt::format("{:x}", fops) : sym);
  };
  for (const auto& c : TRY(kernel::char_devices(k))) line(c.major, c.name, c.cdev, c.fops);
  out.print("\n");
  out.print("BLKDEV    NAME           {}  {}\n", center("GENDISK", kAddrWidth, true), ljust("OPERATIONS", kAddrWidth));
  for (const auto& b : TRY(kernel::block_devices(k))) line(b.major, b.name.empty() ? "(unknown)" : b.name, b.gendisk, b.fops);
  return ok();
}

// crash wraps a long resource name at a space so that the line fits 80 columns, the rest
// on the next line under the name column.
void print_resources(Output& out, const std::vector<kernel::Resource>& rs, int size) {
  size_t wrap = kAddrWidth + 2 + (size * 2 + 1) + 2;
  for (const auto& r : rs) {
    out.print("{:8x}  {:0{}x}-{:0{}x}", r.address, r.start, size, r.end, size);
    std::string name = r.name;
    if (wrap + name.size() <= 80) {
      out.print("  {}\n", name);
      continue;
    }
    size_t over = wrap + name.size() - 80;
    std::optional<size_t> cut;
    for (size_t p = name.size() - 1, c = 0; p > 0; --p, ++c) {
      if (name[p] != ' ') continue;
      if (c >= over) {
        cut = p;
        break;
      }
    }
    if (!cut) {
      out.print("  {}\n", name);
      continue;
    }
    out.print("  {}\n{}{}\n", name.substr(0, *cut), std::string(wrap, ' '), name.substr(*cut + 1));
  }
}

Result<void> do_io(Session& s, Output& out) {
  auto& k = s.kernel;
  bool first = true;
  for (const char* root : {"ioport_resource", "iomem_resource"}) {
    auto tree = TRY(kernel::resource_tree(k, root));
    uint64_t end = tree.empty() ? 0 : tree.front().end;
    int size = end > 0xffff ? 8 : 4;
    out.print("{}{}  {}  NAME\n", first ? "" : "\n", center("RESOURCE", kAddrWidth), center("RANGE", size * 2 + 1));
    first = false;
    print_resources(out, tree, size);
  }
  return ok();
}

void print_pci_devices(Output& out, const kernel::PciBus& bus) {
  out.print("  {} {} {} {} {}\n", center("PCI DEV", kAddrWidth), center("DO:BU:SL.FN", 12), center("CLASS", 6),
            center("PCI_ID", 9), center("TYPE", 10));
  for (const auto& d : bus.devices)
    out.print("  {:<16x} {} {} {} {}\n", d.address, center(d.name, 12), center(fmt::format("{:04x}", d.class_code), 6),
              center(fmt::format("{:x}:{:x}", d.vendor, d.device), 9), center(d.type, 10));
}

void print_pci_children(Output& out, const kernel::PciBus& bus) {
  for (const auto& c : bus.children) {
    out.print("  {} {}\n", center("PCI BUS", kAddrWidth), center("PARENT BUS", kAddrWidth));
    out.print("  {:<16x} {:<16x}\n", c.address, c.parent);
    print_pci_devices(out, c);
    out.print("\n");
    print_pci_children(out, c);
  }
}

Result<void> do_pci(Session& s, Output& out) {
  auto roots = TRY(kernel::pci_root_buses(s.kernel));
  if (roots.empty()) return Error::make(Errc::not_found, "no PCI devices found on this system.");
  for (const auto& r : roots) {
    out.print("{} {}\n", center("ROOT BUS", kAddrWidth), center("BUSNAME", 7));
    out.print("{:<16x} {}\n", r.address, center(r.name, 7));
    print_pci_devices(out, r);
    print_pci_children(out, r);
    out.print("\n");
  }
  return ok();
}

Result<void> do_diskio(Session& s, Output& out, bool nonzero_only) {
  auto t = TRY(kernel::disk_io(s.kernel));
  out.print("MAJOR {} NAME       {} {} {} {} \n", ljust("GENDISK", kAddrWidth + 2), ljust("REQUEST_QUEUE", kAddrWidth + 2),
            rjust("TOTAL", 5), rjust(t.sync_labels ? "ASYNC" : "READ", 5), rjust(t.sync_labels ? "SYNC" : "WRITE", 5));
  for (const auto& d : t.disks) {
    if (nonzero_only && d.reads + d.writes == 0) continue;
    out.print("{:5} {:<16x}   {:<10} {:<16x}   {:5} {:5} {:5} \n", d.major, d.gendisk, d.name, d.queue, d.reads + d.writes,
              d.reads, d.writes);
  }
  return ok();
}

// dev -d / -D under --json: every disk (-D: those with requests in flight).
Result<void> print_diskio_json(Session& s, Output& out, bool nonzero_only) {
  auto t = TRY(kernel::disk_io(s.kernel));
  json::Writer w;
  w.object().field("command", "dev").key("disks").array();
  for (const auto& d : t.disks) {
    if (nonzero_only && d.reads + d.writes == 0) continue;
    w.object().field("major", d.major).address_field("gendisk", d.gendisk).field("name", d.name);
    w.address_field("request_queue", d.queue).field("total", d.reads + d.writes);
    // The kernel's own labels: async/sync where it counts by sync flag, else read/write.
    w.field(t.sync_labels ? "async" : "read", d.reads).field(t.sync_labels ? "sync" : "write", d.writes).end();
  }
  w.end().end().print_line(out);
  return ok();
}

Result<void> run_dev(Session& s, const Args& a, Output& out) {
  if (!a.positional.empty()) return Error::make(Errc::usage, "invalid argument: {}", a.positional[0]);
  if (json::wanted(s, a)) {
    if (a.has('d') || a.has('D')) return print_diskio_json(s, out, a.has('D'));
    if (a.has('i') || a.has('p')) return Error::make(Errc::usage, "-i and -p have no JSON output");
    return print_majors_json(s, out);
  }
  if (a.has('d')) return do_diskio(s, out, false);
  if (a.has('D')) return do_diskio(s, out, true);
  if (a.has('i')) return do_io(s, out);
  if (a.has('p')) return do_pci(s, out);
  return print_majors(s, out);
}

}  // namespace

std::vector<Command> dev_commands() {
  return {json::capable(Command{CommandSpec{"dev",
                              {},
                              "device data",
                              "[-i | -p | -d | -D ] [-V | -v index [file]]",
                              {{'i', false, "display I/O port and I/O memory usage"},
                               {'p', false, "display PCI device data"},
                               {'d', false, "display disk I/O statistics (requests in flight)"},
                               {'D', false, "same as -d, but only disks with requests in flight"},
                               {'j', false, "JSON: the character and block devices (or -d/-D's disks) as one document"}},
                              {"dev", "dev -i", "dev -p", "dev -d"}},
                  run_dev})};
}

}  // namespace coroner::commands
