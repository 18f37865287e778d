// log: the kernel message buffer, in crash's layouts: timestamps ("[%5lu.%06lu] ", or the
// wall-clock time with -T), the caller ID (-c), the level (-m), continuation lines indented
// to the text, unprintable bytes as '.', dev_printk() data after the record (-d); and the
// audit records the kernel had not yet handed to auditd (-a).
#include <ctime>

#include "commands/builtin.h"
#include "commands/support/json.h"
#include "kernel/printk.h"
#include "kernel/sysinfo.h"

namespace coroner::commands {
namespace {

constexpr uint32_t kCallerCpu = 0x80000000u;

// crash's ctime_tz(): the local time with the zone's name.
std::string wall_clock(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  localtime_r(&tt, &tm);
  char buf[128];
  strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Z %Y", &tm);
  return buf;
}

// Width crash gives the caller ID: the digits of pid_max plus the 'T'/'C'.
Result<int> caller_width(kernel::Kernel& k) {
  uint32_t pid_max = TRY(k.read_u32(TRY(k.symbol("pid_max"))));
  if (pid_max <= 99999) return 6;
  if (pid_max <= 999999) return 7;
  return 8;
}

void put_text(std::string_view text, size_t indent, std::string& out) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += '\n';
      out.append(indent, ' ');
    } else if ((u >= 0x20 && u < 0x7f) || (u >= '\t' && u <= '\r')) {
      out += c;
    } else {
      out += '.';
    }
  }
}

// Audit records still queued in the kernel (kernel/audit.c): audit_skb_queue before 4.11,
// then audit_queue, audit_retry_queue and audit_hold_queue. Each sk_buff's data is a netlink
// message: a struct nlmsghdr, then the text.
Result<uint64_t> dump_audit_queue(kernel::Kernel& k, uint64_t head, Output& out) {
  uint64_t next_off = TRY(k.offset_of("sk_buff_head", "next"));
  uint64_t qlen = TRY(k.member_uint(head, "sk_buff_head", "qlen"));
  uint64_t skb_next = TRY(k.offset_of("sk_buff", "next"));
  uint64_t data_off = TRY(k.offset_of("sk_buff", "data"));
  uint64_t hdr = TRY(k.types().size_of_name("nlmsghdr"));
  uint64_t len_off = TRY(k.offset_of("nlmsghdr", "nlmsg_len"));
  uint64_t type_off = TRY(k.offset_of("nlmsghdr", "nlmsg_type"));
  uint64_t hdr_aligned = (hdr + 3) & ~3ull;  // NLMSG_HDRLEN
  uint64_t skb = TRY(k.read_u64(head + next_off));
  uint64_t printed = 0;
  for (uint64_t i = 0; i < qlen && skb != head; ++i) {
    if (i > (1u << 20)) return Error::make(Errc::bad_data, "audit queue at {:#x}: no end after {} buffers", head, i);
    uint64_t data = TRY(k.read_u64(skb + data_off));
    uint32_t len = TRY(k.read_u32(data + len_off));
    uint16_t type = TRY(k.read_as<uint16_t>(data + type_off));
    std::string text;
    if (len > hdr_aligned) text = TRY(k.read_cstring(data + hdr_aligned, std::min<uint64_t>(len - hdr_aligned, 1 << 16)));
    out.print("type={} {}\n", type, text);
    ++printed;
    skb = TRY(k.read_u64(skb + skb_next));
  }
  return printed;
}

Result<void> run_audit(kernel::Kernel& k, Output& out) {
  std::vector<const char*> queues;
  if (k.symbols().address_of("audit_skb_queue")) queues = {"audit_skb_queue"};
  else if (k.symbols().address_of("audit_queue")) queues = {"audit_queue", "audit_retry_queue", "audit_hold_queue"};
  else return Error::make(Errc::unsupported, "-a option not supported or applicable on this architecture or kernel");
  uint64_t total = 0;
  for (const char* q : queues)
    if (auto a = k.symbols().address_of(q)) total += TRY(dump_audit_queue(k, *a, out));
  if (total == 0) out.print("log: kernel audit log is empty\n");
  return ok();
}

// The caller ID as the kernel prints it with CONFIG_PRINTK_CALLER: "T123" or "C1".
std::string caller_text(uint32_t c) { return fmt::format("{}{}", (c & kCallerCpu) ? 'C' : 'T', c & ~kCallerCpu); }

// --json / -j: every record with all its fields; the text options (-t -T -m -c -d) change
// nothing, the text is the record's own bytes (no '.' for unprintable ones: JSON escapes).
Result<void> print_log_json(kernel::Kernel& k, Output& out) {
  auto records = TRY(kernel::read_log(k));
  json::Writer w;
  w.object().field("command", "log").key("records").array();
  for (const auto& r : records) {
    w.object().field("seq", r.seq).field("timestamp_ns", r.ts_nsec).field("level", r.level);
    w.field("facility", r.facility);
    if (r.caller_id) w.field("caller", caller_text(*r.caller_id));
    else w.null_field("caller");
    if (r.dataless) w.null_field("text");
    else w.field("text", r.text);
    if (!r.subsystem.empty()) w.field("subsystem", r.subsystem);
    if (!r.device.empty()) w.field("device", r.device);
    if (!r.dict.empty()) {
      w.key("dict").array();
      std::string_view d = r.dict;
      while (!d.empty()) {
        size_t nul = d.find('\0');
        w.string(d.substr(0, nul));
        if (nul == std::string_view::npos) break;
        d.remove_prefix(nul + 1);
      }
      w.end();
    }
    w.end();
  }
  w.end().end().print_line(out);
  return ok();
}

Result<void> run_log(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  if (json::wanted(s, args)) {
    if (args.has('a') || args.has('s')) return Error::make(Errc::usage, "-a and -s have no JSON output");
    return print_log_json(k, out);
  }
  if (args.has('a')) return run_audit(k, out);
  if (args.has('s')) {
    // The printk_safe per-CPU buffers (4.11 to 5.14); later kernels have none, and crash
    // prints nothing for them.
    if (k.symbols().address_of("safe_print_seq") || k.symbols().address_of("nmi_print_seq"))
      return Error::make(Errc::unsupported, "-s: the printk_safe buffers of kernels before 5.15 are not read yet");
    return ok();
  }
  auto records = TRY(kernel::read_log(k));
  bool no_time = args.has('t'), wall = args.has('T'), level = args.has('m'), dict = args.has('d');
  bool caller = args.has('c');
  int cwidth = caller ? TRY(caller_width(k)) : 0;
  int64_t boot = 0;
  if (wall && !no_time) {
    // As crash: the dump's date less the uptime in whole seconds.
    kernel::SysInfo si = kernel::gather_sysinfo(k);
    if (si.date && si.uptime_seconds) boot = *si.date - static_cast<int64_t>(*si.uptime_seconds);
  }
  std::string text;
  for (const auto& r : records) {
    if (r.dataless) {  // crash prints a bare newline for a record without text
      text += '\n';
      continue;
    }
    std::string prefix;
    if (!no_time) {
      if (wall) prefix = fmt::format("[{}] ", wall_clock(boot + static_cast<int64_t>(r.ts_nsec / 1000000000)));
      else prefix = fmt::format("[{:5}.{:06}] ", r.ts_nsec / 1000000000, (r.ts_nsec % 1000000000) / 1000);
    }
    if (caller && r.caller_id) {
      uint32_t c = *r.caller_id;
      prefix += fmt::format("[{:>{}}] ", caller_text(c), cwidth);
    }
    if (level) prefix += fmt::format("<{:x}>", r.level);
    text += prefix;
    put_text(r.text, prefix.size(), text);
    if (dict) {
      if (!r.subsystem.empty()) text += fmt::format("\n{:{}}SUBSYSTEM={}", "", prefix.size(), r.subsystem);
      if (!r.device.empty()) text += fmt::format("\n{:{}}DEVICE={}", "", prefix.size(), r.device);
      // The old format's dictionary: NUL-separated KEY=value strings, one per line.
      std::string_view d = r.dict;
      while (!d.empty()) {
        size_t nul = d.find('\0');
        text += '\n';
        text.append(prefix.size(), ' ');
        put_text(d.substr(0, nul), prefix.size(), text);
        if (nul == std::string_view::npos) break;
        d.remove_prefix(nul + 1);
      }
    }
    text += '\n';
    if (text.size() > (1 << 16)) {
      out.write(text);
      text.clear();
    }
  }
  out.write(text);
  return ok();
}

}  // namespace

static Command log_command() {
  return Command{CommandSpec{"log",
                             {"dmesg"},
                             "dump system message buffer",
                             "[-TtdmascR]",
                             {{'T', false, "display the message text with a human-readable (wall-clock) timestamp"},
                              {'t', false, "display the message text without the timestamp"},
                              {'d', false, "display the dev_printk() dictionary (SUBSYSTEM=, DEVICE=) after each message"},
                              {'m', false, "display the message log level in brackets preceding each message"},
                              {'a', false, "dump the audit records still queued in the kernel"},
                              {'s', false, "dump the printk_safe per-CPU buffers (kernels before 5.15)"},
                              {'c', false, "display the caller ID: thread (T123) or CPU (C1) that called printk()"},
                              {'R', false, "display Rust symbol names demangled (no kernel with Rust symbols is read yet: the text as is)"},
                              {'j', false, "JSON: one document with every record (seq, timestamp_ns, level, facility, caller, text)"}},
                             {"log", "log -t | tail", "log -T", "log -c", "log -d", "log -a"}},
                 run_log};
}

std::vector<Command> log_commands() { return {json::capable(log_command())}; }

}  // namespace coroner::commands
