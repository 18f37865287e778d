// Networking as crash's `net` shows it: the devices of a network namespace with their IPv4
// and IPv6 addresses, the ARP cache (arp_tbl), and a task's open sockets with their family,
// type and addresses. Every layout comes from the type layer: net.dev_base_head and
// net_device.dev_list (2.6.24+ namespaces), in_device.ifa_list/in_ifaddr.ifa_next,
// inet6_dev.addr_list/inet6_ifaddr.if_list, neigh_table.nht (2.6.37+), socket_alloc,
// sock_common and inet_sock.
//
//   uint64_t ns = TRY(task_net_namespace(k, task.addr));   // nsproxy->net_ns
//   for (auto& d : TRY(net_devices(k, ns))) fmt::print("{:x} {}\n", d.addr, d.name);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace coroner::kernel {

struct NetDevice {
  uint64_t addr = 0;  // struct net_device *
  std::string name;
  std::vector<std::string> ipv4;  // dotted quads, in ifa_list order
  std::vector<std::string> ipv6;  // inet_ntop text, in addr_list order
  uint16_t type = 0;              // ARPHRD_*
  uint8_t addr_len = 0;
};

// The struct net of a task's namespace (task->nsproxy->net_ns); init_net when nsproxy has no
// net_ns (kernels without network namespaces).
Result<uint64_t> task_net_namespace(Kernel& k, uint64_t task);
// The devices on `net`'s dev_base_head, in list order.
Result<std::vector<NetDevice>> net_devices(Kernel& k, uint64_t net);
// One device's name, type and hardware address length.
Result<NetDevice> net_device_info(Kernel& k, uint64_t dev);

struct Neighbour {
  uint64_t addr = 0;  // struct neighbour *
  uint32_t ip = 0;    // primary_key, network byte order as stored
  std::vector<uint8_t> ha;  // the whole ha[] array
  uint64_t dev = 0;
  uint8_t nud_state = 0;
};
// The IPv4 neighbour (ARP) cache, bucket by bucket; nullopt when the kernel's neigh_table
// layout is one this reader does not know.
Result<std::optional<std::vector<Neighbour>>> arp_cache(Kernel& k);

struct OpenSocket {
  uint64_t fd = 0;
  uint64_t socket = 0;  // struct socket * (the socket_alloc holding the file's inode)
  uint64_t sock = 0;    // socket->sk
  uint16_t family = 0, type = 0;
  // AF_INET: addresses and ports as stored (network byte order).
  uint32_t saddr = 0, daddr = 0;
  uint16_t sport = 0, dport = 0;
  // AF_INET6: the 16-byte addresses, when they could be read.
  std::optional<std::vector<uint8_t>> saddr6, daddr6;
};
// The sockets among a task's open files, in fd order; nullopt when it has no file table.
Result<std::optional<std::vector<OpenSocket>>> task_sockets(Kernel& k, uint64_t task);

}  // namespace coroner::kernel
