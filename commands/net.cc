// net: network devices, the ARP cache and a task's sockets, as crash shows them.
//
//      NET_DEVICE     NAME       IP ADDRESS(ES)
//   ffff8de9e43b5000  lo         127.0.0.1, ::1
//
// `net -n [pid | task]` lists the devices of a task's network namespace (plain `net`: the
// namespace of PID 0's first task, init_net), `net -a` the ARP cache, `net -s [pid | task]`
// the task's sockets (family, type, IPv4/IPv6 source and destination), `net -S` the same
// followed by the struct socket and struct inet_sock, `net -N ADDR` an IPv4 address in
// dotted-quad form.
#include <arpa/inet.h>
#include <net/if_arp.h>
#include <sys/socket.h>

#include <charconv>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/net.h"
#include "kernel/tasks.h"
#include "kernel/value_context.h"

namespace coroner::commands {
namespace {

using kernel::Task;

constexpr size_t kAddrWidth = 16;  // crash's VADDR_PRLEN on 64-bit

std::string center(const std::string& s, size_t width) {
  if (s.size() >= width) return s;
  size_t left = (width - s.size()) / 2;
  return std::string(left, ' ') + s + std::string(width - s.size() - left, ' ');
}

std::string dotted(uint32_t stored) {
  char buf[INET_ADDRSTRLEN] = {};
  in_addr a{};
  a.s_addr = stored;
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

const Task* default_task(const kernel::TaskTable& tt, std::optional<uint64_t> current) {
  const Task* t = tt.find(current ? *current : (tt.panic ? *tt.panic : 0));
  if (!t && !tt.tasks.empty()) t = &tt.tasks.front();
  return t;
}

Result<void> show_devices(kernel::Kernel& k, const Task& t, Output& out) {
  uint64_t ns = TRY(kernel::task_net_namespace(k, t.addr));
  out.print("{}  NAME       IP ADDRESS(ES)\n", center("NET_DEVICE", kAddrWidth));
  for (auto& d : TRY(kernel::net_devices(k, ns))) {
    std::string addrs;
    for (auto& a : d.ipv4) addrs += (addrs.empty() ? "" : ", ") + a;
    for (auto& a : d.ipv6) addrs += (addrs.empty() ? "" : ", ") + a;
    out.print("{:16x}  {:<10} {}\n", d.addr, d.name, addrs);
  }
  return ok();
}

// crash's names for ARPHRD_* device types it knows.
const char* hw_type_name(uint16_t type) {
  switch (type) {
    case ARPHRD_ETHER: return "ETHER";
    case ARPHRD_NETROM: return "NETROM";
    case ARPHRD_EETHER: return "EETHER";
    case ARPHRD_AX25: return "AX25";
    case ARPHRD_PRONET: return "PRONET";
    case ARPHRD_CHAOS: return "CHAOS";
    case ARPHRD_IEEE802: return "IEEE802";
    case ARPHRD_ARCNET: return "ARCNET";
    case ARPHRD_APPLETLK: return "APPLETLK";
    case ARPHRD_DLCI: return "DLCI";
    case ARPHRD_METRICOM: return "METRICOM";
    default: return "UNKNOWN";
  }
}

// Neighbour cache entry states (include/net/neighbour.h NUD_*), in crash's order.
std::string nud_text(uint8_t state) {
  static constexpr std::pair<uint8_t, const char*> kStates[] = {{0x01, "INCOMPLETE"}, {0x02, "REACHABLE"}, {0x04, "STALE"},
                                                                {0x08, "DELAY"},      {0x10, "PROBE"},     {0x20, "FAILED"},
                                                                {0x40, "NOARP"},      {0x80, "PERMANENT"}};
  std::string s;
  for (auto& [bit, name] : kStates)
    if (state & bit) s += (s.empty() ? "" : "|") + std::string(name);
  return s;
}

Result<void> show_arp(kernel::Kernel& k, Output& out) {
  auto cache = TRY(kernel::arp_cache(k));
  if (!cache) {
    out.print("net: -a option not supported or applicable on this architecture or kernel\n");
    return Error{Errc::unsupported, "", std::nullopt};
  }
  bool header = false;
  for (auto& n : *cache) {
    if (!header) {
      out.print("NEIGHBOUR        IP ADDRESS      HW TYPE    HW ADDRESS         DEVICE  STATE\n");
      header = true;
    }
    kernel::NetDevice dev = TRY(kernel::net_device_info(k, n.dev));
    std::string line = fmt::format("{:<16x} {:<16}{:<10} ", n.addr, dotted(n.ip), hw_type_name(dev.type));
    size_t len = std::min<size_t>(dev.addr_len, n.ha.size());
    for (size_t i = 0; i < len; ++i) {
      if (dev.type == ARPHRD_ETHER) line += fmt::format("{:02x}{}", n.ha[i], i + 1 == len ? ' ' : ':');
      else line += fmt::format("{:02x} ", n.ha[i]);
    }
    line += fmt::format(" {:<6}  {}", dev.name, nud_text(n.nud_state));
    out.print("{}\n", line);
  }
  return ok();
}

std::string family_text(uint16_t family) {
  switch (family) {
    case AF_UNSPEC: return "UNSPEC:";
    case AF_UNIX: return "UNIX:";
    case AF_INET: return "INET:";
    case AF_AX25: return "AX25:";
    case AF_IPX: return "IPX:";
    case AF_APPLETALK: return "APPLETALK:";
    case AF_NETROM: return "NETROM:";
    case AF_BRIDGE: return "BRIDGE:";
    case AF_ATMPVC: return "ATMPVC:";
    case AF_X25: return "X25:";
    case AF_INET6: return "INET6:";
    case AF_ROSE: return "ROSE:";
    case AF_DECnet: return "DECnet:";
    case AF_NETBEUI: return "NETBEUI:";
    case AF_SECURITY: return "SECURITY/KEY:";
    case AF_NETLINK: return "NETLINK/ROUTE:";
    case AF_PACKET: return "PACKET:";
    case AF_ASH: return "ASH:";
    case AF_ECONET: return "ECONET:";
    case AF_ATMSVC: return "ATMSVC:";
    case AF_SNA: return "SNA:";
    case AF_IRDA: return "IRDA:";
    case AF_PPPOX: return "PPPOX:";
    default: return fmt::format("{}:", family);
  }
}

std::string type_text(uint16_t type) {
  switch (type) {
    case SOCK_STREAM: return "STREAM";
    case SOCK_DGRAM: return "DGRAM ";
    case SOCK_RAW: return "RAW";
    case SOCK_RDM: return "RDM";
    case SOCK_SEQPACKET: return "SEQPACKET";
    case SOCK_PACKET: return "PACKET";
    default: return fmt::format("{}", type);
  }
}

// crash's dump_in6_addr_port(): eight unpadded hex groups, no :: compression.
std::string in6_port(const std::vector<uint8_t>& a, uint16_t port) {
  std::string s;
  for (size_t i = 0; i < 16; i += 2) s += fmt::format("{}{:x}", i ? ":" : "", (a[i] << 8) | a[i + 1]);
  return s + fmt::format("-{}", ntohs(port));
}

// crash's get_sock_info() on 64-bit.
std::string sock_info(const kernel::OpenSocket& s) {
  std::string out = family_text(s.family) + type_text(s.type) + " ";
  if (s.family == AF_INET)
    out += fmt::format(" {}-{} {}-{}", dotted(s.saddr), ntohs(s.sport), dotted(s.daddr), ntohs(s.dport));
  if (s.family == AF_INET6) {
    if (!s.saddr6 || !s.daddr6) return out;
    std::string src = in6_port(*s.saddr6, s.sport);
    out += fmt::format("{:>12} ", src) + center(in6_port(*s.daddr6, s.dport), src.size());
  }
  return out;
}

Result<void> dump_struct(kernel::Kernel& k, const char* type, uint64_t addr, int radix, Output& out) {
  auto& types = k.types();
  symbols::TypeRef t = TRY(types.find(fmt::format("struct {}", type)));
  std::vector<uint8_t> bytes(TRY(types.size_of(t)));
  TRY(k.read(addr, bytes));
  kernel::KernelValueContext ctx(k, radix);
  out.print("struct {} {}\n", type, TRY(types.format_value(t, bytes, ctx, 0, addr)));
  return ok();
}

// A -R reference: a socket or sock address, or a file descriptor (a small decimal number).
struct Reference {
  std::optional<uint64_t> hex, fd;
};

Reference parse_reference(const std::string& text) {
  Reference r;
  bool decimal = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  uint64_t v = 0;
  if (decimal && std::from_chars(text.data(), text.data() + text.size(), v, 10).ec == std::errc() && v <= (1u << 20)) {
    r.fd = v;
    return r;
  }
  std::string_view h = text;
  if (h.substr(0, 2) == "0x") h.remove_prefix(2);
  auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), v, 16);
  if (!h.empty() && ec == std::errc() && p == h.data() + h.size()) r.hex = v;
  return r;
}

bool references(const Reference& r, const kernel::OpenSocket& s) {
  if (r.fd) return *r.fd == s.fd;
  return r.hex && (*r.hex == s.sock || *r.hex == s.socket || *r.hex == s.fd);
}

// With a reference, only the matching sockets print, under a task header printed with the
// first of them, and nothing at all when none matches.
Result<void> show_sockets(kernel::Kernel& k, const Task& t, bool full, int radix, const std::optional<Reference>& ref,
                          Output& out) {
  auto all = TRY(kernel::task_sockets(k, t.addr));
  std::vector<kernel::OpenSocket> chosen;
  if (all)
    for (auto& s : *all)
      if (!ref || references(*ref, s)) chosen.push_back(s);
  if (ref) {
    if (chosen.empty()) return ok();
    out.print("{}\n", task_header(t));
  }
  if (chosen.empty()) {
    out.print("No open sockets.\n");
    return ok();
  }
  auto* sockets = &chosen;
  for (size_t i = 0; i < sockets->size(); ++i) {
    const auto& s = (*sockets)[i];
    if (full) {
      out.print("{}FD  {}  {}\n", i ? "\n" : "", center("SOCKET", kAddrWidth), center("SOCK", kAddrWidth));
      out.print("{:2}  {:16x}  {:16x}\n\n", s.fd, s.socket, s.sock);
      TRY(dump_struct(k, "socket", s.socket, radix, out));
      if (s.sock) TRY(dump_struct(k, k.types().find("struct inet_sock") ? "inet_sock" : "sock", s.sock, radix, out));
      continue;
    }
    if (i == 0) out.print("FD      SOCKET            SOCK       FAMILY:TYPE SOURCE-PORT DESTINATION-PORT\n");
    out.print("{:2} {:16x} {:16x} {}\n", s.fd, s.socket, s.sock, sock_info(s));
  }
  if (ref) out.print("\n");
  return ok();
}

Result<uint64_t> parse_number(const std::string& text) {
  std::string_view v = text;
  int base = 10;
  if (v.substr(0, 2) == "0x" || v.substr(0, 2) == "0X") {
    v.remove_prefix(2);
    base = 16;
  } else if (v.find_first_of("abcdefABCDEF") != std::string_view::npos) {
    base = 16;
  }
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), value, base);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    return Error::make(Errc::usage, "invalid number: {}", text);
  return value;
}

Result<void> run_net(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  if (args.has('N')) {
    uint64_t v = TRY(parse_number(args.value('N')));
    out.print("{}\n", dotted(static_cast<uint32_t>(v)));
    return ok();
  }
  if (args.has('x') && args.has('d')) {
    out.print("net: -d and -x are mutually exclusive\n");
    return Error{Errc::usage, "", std::nullopt};
  }
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  if (args.has('a')) TRY(show_arp(k, out));
  bool sockets = args.has('s') || args.has('S');
  if (args.has('s') && args.has('S')) out.print("net: only one -s or -S option allowed\n");
  if (sockets) {
    bool full = args.has('S') && !args.has('s');
    int radix = args.has('x') ? 16 : 10;
    std::optional<Reference> ref;
    if (args.has('R')) ref = parse_reference(args.value('R'));
    if (args.positional.empty()) {
      const Task* t = default_task(tt, s.current_task);
      if (!t) return Error::make(Errc::not_found, "no tasks");
      if (!ref) out.print("{}\n", task_header(*t));
      return show_sockets(k, *t, full, radix, ref, out);
    }
    int shown = 0;
    for (auto& a : args.positional) {
      auto sel = select_tasks(tt, a);
      bool numeric = !a.empty() && a.find_first_not_of("0123456789abcdefABCDEFx") == std::string::npos;
      if (!numeric || !sel || sel->empty()) {
        out.print("{}net: invalid task or pid value: {}\n", shown++ ? "\n" : "", a);
        continue;
      }
      for (auto* t : *sel) {
        if (!ref) out.print("{}{}\n", shown++ ? "\n" : "", task_header(*t));
        TRY(show_sockets(k, *t, full, radix, ref, out));
      }
    }
    return ok();
  }
  if (args.has('n') || args.words.empty()) {
    // Plain `net`: PID 0's namespace; `-n`: the context task's or the named one's.
    const Task* t = nullptr;
    if (args.has('n')) {
      t = default_task(tt, s.current_task);
      if (!args.positional.empty()) {
        // crash's error(FATAL) (a restart), unlike the error(INFO) of `net -s PID`.
        const std::string& a = args.positional.front();
        auto sel = select_tasks(tt, a);
        if (!sel || sel->empty()) return Error::make(Errc::not_found, "invalid task or pid value: {}", a);
        t = sel->front();
      }
    } else {
      auto idle = tt.by_pid(0);
      t = idle.empty() ? default_task(tt, s.current_task) : idle.front();
    }
    if (!t) return Error::make(Errc::not_found, "no tasks");
    return show_devices(k, *t, out);
  }
  if (!args.has('a')) {
    out.print("Usage:\n  net [[-s | -S] [-xd] [-R ref] [pid | task]] [-a] [ -n [pid | task]] [-N addr]\n"
              "Enter \"help net\" for details.\n");
    return Error{Errc::usage, "", std::nullopt};
  }
  return ok();
}

}  // namespace

std::vector<Command> net_commands() {
  return {Command{CommandSpec{"net",
                              {},
                              "network command",
                              "[[-s | -S] [-xd] [-R ref] [pid | task]] [-a] [ -n [pid | task]] [-N addr]",
                              {{'s', false, "open sockets of the task (family, type, addresses and ports)"},
                               {'S', false, "open sockets followed by their struct socket and struct inet_sock"},
                               {'a', false, "the ARP cache"},
                               {'n', false, "devices of the task's network namespace"},
                               {'N', true, "an IPv4 address (decimal or hexadecimal) in dotted-quad notation"},
                               {'R', true, "only the socket, sock or file descriptor referenced"},
                               {'x', false, "structures in hexadecimal (-S)"},
                               {'d', false, "structures in decimal (-S)"}},
                              {"net", "net -n 1", "net -a", "net -s 1", "net -N 1041236234", "foreach net -s"}},
                  run_net}};
}

}  // namespace coroner::commands
