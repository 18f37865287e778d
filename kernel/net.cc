#include "kernel/net.h"

#include <arpa/inet.h>

#include <cstring>
#include <unordered_set>

#include <fmt/format.h>

#include "kernel/files.h"
#include "kernel/walkers.h"

namespace coroner::kernel {
namespace {

constexpr size_t kMaxDevices = 1u << 16;
constexpr size_t kMaxAddresses = 4096;
constexpr uint64_t kMaxBuckets = 1u << 24;
constexpr size_t kMaxNeighbours = 1u << 20;

std::string ipv4_text(uint32_t stored) {
  char buf[INET_ADDRSTRLEN] = {};
  in_addr a{};
  a.s_addr = stored;
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string ipv6_text(const uint8_t (&bytes)[16]) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, bytes, buf, sizeof buf);
  return buf;
}

Result<std::vector<std::string>> ipv4_addresses(Kernel& k, uint64_t dev) {
  std::vector<std::string> out;
  uint64_t in_dev = TRY(k.member<uint64_t>(dev, "net_device", "ip_ptr"));
  if (!in_dev) return out;
  uint64_t next_off = TRY(k.offset_of("in_ifaddr", "ifa_next"));
  uint64_t addr_off = TRY(k.offset_of("in_ifaddr", "ifa_address"));
  std::unordered_set<uint64_t> seen;
  for (uint64_t ifa = TRY(k.member<uint64_t>(in_dev, "in_device", "ifa_list")); ifa; ifa = TRY(k.read_u64(ifa + next_off))) {
    if (!seen.insert(ifa).second || seen.size() > kMaxAddresses)
      return Error::make(Errc::bad_data, "net_device {:x}: in_ifaddr list loops at {:x}", dev, ifa);
    out.push_back(ipv4_text(TRY(k.read_u32(ifa + addr_off))));
  }
  return out;
}

Result<std::vector<std::string>> ipv6_addresses(Kernel& k, uint64_t dev) {
  std::vector<std::string> out;
  auto ip6_off = k.offset_of("net_device", "ip6_ptr");
  if (!ip6_off) return out;  // a kernel built without IPv6
  uint64_t idev = TRY(k.read_u64(dev + *ip6_off));
  if (!idev) return out;
  // 2.6.35+: inet6_dev.addr_list is a list_head of inet6_ifaddr.if_list.
  uint64_t head = idev + TRY(k.offset_of("inet6_dev", "addr_list"));
  uint64_t link = TRY(k.offset_of("inet6_ifaddr", "if_list"));
  uint64_t addr = TRY(k.offset_of("inet6_ifaddr", "addr"));
  for (uint64_t node : TRY(list_walk(k, head, kMaxAddresses))) {
    uint8_t bytes[16];
    TRY(k.read(node - link + addr, std::span(bytes, 16)));
    out.push_back(ipv6_text(bytes));
  }
  return out;
}

}  // namespace

Result<uint64_t> task_net_namespace(Kernel& k, uint64_t task) {
  auto net_ns = k.offset_of("nsproxy", "net_ns");
  if (!net_ns) return k.symbol("init_net");
  uint64_t nsproxy = TRY(k.member<uint64_t>(task, "task_struct", "nsproxy"));
  if (!nsproxy) return Error::make(Errc::bad_data, "task {:x} has no nsproxy: cannot determine net_namespace location", task);
  return k.read_u64(nsproxy + *net_ns);
}

Result<NetDevice> net_device_info(Kernel& k, uint64_t dev) {
  NetDevice d;
  d.addr = dev;
  auto& types = k.types();
  symbols::MemberInfo name = TRY(types.member(TRY(types.find("net_device")), "name"));
  uint64_t name_len = TRY(types.size_of(name.type));
  d.name = TRY(k.read_cstring(dev + name.offset(), name_len));
  d.type = static_cast<uint16_t>(TRY(k.member_uint(dev, "net_device", "type")));
  d.addr_len = static_cast<uint8_t>(TRY(k.member_uint(dev, "net_device", "addr_len")));
  return d;
}

Result<std::vector<NetDevice>> net_devices(Kernel& k, uint64_t net) {
  uint64_t head = net + TRY(k.offset_of("net", "dev_base_head"));
  uint64_t link = TRY(k.offset_of("net_device", "dev_list"));
  std::vector<NetDevice> out;
  for (uint64_t node : TRY(list_walk(k, head, kMaxDevices))) {
    NetDevice d = TRY(net_device_info(k, node - link));
    d.ipv4 = TRY(ipv4_addresses(k, d.addr));
    d.ipv6 = TRY(ipv6_addresses(k, d.addr));
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::optional<std::vector<Neighbour>>> arp_cache(Kernel& k) {
  using Out = std::optional<std::vector<Neighbour>>;
  uint64_t tbl = TRY(k.symbol("arp_tbl"));
  // 2.6.37+: neigh_table.nht -> neigh_hash_table {hash_buckets, hash_shift}.
  auto nht_off = k.offset_of("neigh_table", "nht");
  auto buckets_off = k.offset_of("neigh_hash_table", "hash_buckets");
  auto shift_off = k.offset_of("neigh_hash_table", "hash_shift");
  if (!nht_off || !buckets_off || !shift_off) return Out{};
  uint64_t nht = TRY(k.read_u64(tbl + *nht_off));
  if (!nht) return Out{std::vector<Neighbour>{}};
  uint32_t shift = TRY(k.read_u32(nht + *shift_off));
  if (shift >= 32 || (uint64_t{1} << shift) > kMaxBuckets)
    return Error::make(Errc::bad_data, "neigh_hash_table {:x}: hash_shift {} is absurd", nht, shift);
  uint64_t nbuckets = uint64_t{1} << shift;
  uint64_t buckets = TRY(k.read_u64(nht + *buckets_off));
  std::vector<uint64_t> heads(nbuckets);
  TRY(k.read(buckets, std::span(reinterpret_cast<uint8_t*>(heads.data()), nbuckets * 8)));

  auto& types = k.types();
  symbols::MemberInfo ha = TRY(types.member(TRY(types.find("neighbour")), "ha"));
  uint64_t ha_len = TRY(types.size_of(ha.type));
  uint64_t next_off = TRY(k.offset_of("neighbour", "next"));
  uint64_t key_off = TRY(k.offset_of("neighbour", "primary_key"));
  uint64_t dev_off = TRY(k.offset_of("neighbour", "dev"));
  uint64_t state_off = TRY(k.offset_of("neighbour", "nud_state"));
  std::vector<Neighbour> out;
  std::unordered_set<uint64_t> seen;
  for (uint64_t head : heads) {
    for (uint64_t n = head; n; n = TRY(k.read_u64(n + next_off))) {
      if (!seen.insert(n).second) return Error::make(Errc::bad_data, "arp_tbl: neighbour chain loops at {:x}", n);
      if (seen.size() > kMaxNeighbours) return Error::make(Errc::out_of_bounds, "arp_tbl: more than {} neighbours", kMaxNeighbours);
      Neighbour e;
      e.addr = n;
      e.ip = TRY(k.read_u32(n + key_off));
      e.ha.resize(ha_len);
      TRY(k.read(n + ha.offset(), e.ha));
      e.dev = TRY(k.read_u64(n + dev_off));
      e.nud_state = TRY(k.read_as<uint8_t>(n + state_off));
      out.push_back(std::move(e));
    }
  }
  return Out{std::move(out)};
}

Result<std::optional<std::vector<OpenSocket>>> task_sockets(Kernel& k, uint64_t task) {
  using Out = std::optional<std::vector<OpenSocket>>;
  auto files = TRY(open_files(k, task));
  if (!files) return Out{};
  constexpr uint64_t kSockMode = 0140000, kTypeMask = 0170000;
  constexpr uint16_t kAfInet = 2, kAfInet6 = 10;
  std::vector<OpenSocket> out;
  for (auto& f : *files) {
    if (!f.dentry || !f.inode) continue;
    if ((TRY(k.member_uint(f.inode, "inode", "i_mode")) & kTypeMask) != kSockMode) continue;
    OpenSocket s;
    s.fd = f.fd;
    // The inode is embedded in struct socket_alloc after the socket (2.6+).
    s.socket = f.inode - TRY(k.offset_of("socket_alloc", "vfs_inode")) + TRY(k.offset_of("socket_alloc", "socket"));
    s.sock = TRY(k.member<uint64_t>(s.socket, "socket", "sk"));
    if (s.sock) {
      s.family = static_cast<uint16_t>(TRY(k.member_uint(s.sock, "sock", "__sk_common.skc_family")));
      s.type = static_cast<uint16_t>(TRY(k.member_uint(s.sock, "sock", "sk_type")));
      if (s.family == kAfInet || s.family == kAfInet6) {
        s.saddr = TRY(k.read_u32(s.sock + TRY(k.offset_of("sock", "__sk_common.skc_rcv_saddr"))));
        s.daddr = TRY(k.read_u32(s.sock + TRY(k.offset_of("sock", "__sk_common.skc_daddr"))));
        s.dport = TRY(k.read_as<uint16_t>(s.sock + TRY(k.offset_of("sock", "__sk_common.skc_dport"))));
        s.sport = TRY(k.read_as<uint16_t>(s.sock + TRY(k.offset_of("inet_sock", "inet_sport"))));
      }
      if (s.family == kAfInet6) {
        auto src = k.offset_of("sock", "__sk_common.skc_v6_rcv_saddr");
        auto dst = k.offset_of("sock", "__sk_common.skc_v6_daddr");
        if (src && dst) {
          std::vector<uint8_t> a(16), b(16);
          if (k.read(s.sock + *src, a) && k.read(s.sock + *dst, b)) {
            s.saddr6 = a;
            s.daddr6 = b;
          }
        }
      }
    }
    out.push_back(std::move(s));
  }
  return Out{std::move(out)};
}

}  // namespace coroner::kernel
