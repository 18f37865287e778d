// rd: display memory as crash 9 does: kernel virtual (default), physical (-p) or user (-u,
// in the panic task's address space) addresses; 8/16/32/64-bit words in hexadecimal with an
// ASCII column, signed or unsigned decimal (-d/-D), symbols for kernel addresses (-s), ASCII
// strings (-a), network byte order (-N), raw bytes to a file (-r). Unreadable memory ends the
// output with crash's message naming the address ("seek error: kernel virtual address: ...").
#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "commands/builtin.h"
#include "commands/support/parse.h"
#include "commands/support/symstr.h"
#include "kernel/kernel.h"
#include "kernel/session_flags.h"

namespace coroner::commands {
namespace {

constexpr std::string_view kUsage =
    "[-adDsSupxmfNR][-8|-16|-32|-64][-o offs][-e addr][-r file][address|symbol]\n     [count]";
// `rd -a` without a count reads up to the first non-printable byte; this bounds it.
constexpr uint64_t kAsciiUnlimitedCap = 1u << 20;
// Counts beyond this are refused rather than read word by word for hours.
constexpr uint64_t kMaxCount = 1ull << 28;

enum class MemType { kvaddr, uvaddr, physaddr };

const char* memtype_tag(MemType m) {
  switch (m) {
    case MemType::kvaddr: return "KVADDR";
    case MemType::uvaddr: return "UVADDR";
    case MemType::physaddr: return "PHYSADDR";
  }
  return "";
}
const char* memtype_words(MemType m) {
  switch (m) {
    case MemType::kvaddr: return "kernel virtual";
    case MemType::uvaddr: return "user virtual";
    case MemType::physaddr: return "physical";
  }
  return "";
}

// crash's stol(): decimal when every character is a digit, else hexadecimal.
std::optional<uint64_t> parse_number(std::string_view s) {
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos) {
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
    return std::nullopt;
  }
  return parse_hex(s);
}

// The page-table root of the task crash calls the current context: the task running on the
// CPU that panicked. Its user address space is what `rd -u` reads.
Result<uint64_t> current_user_root(kernel::Kernel& k, std::optional<uint64_t> context) {
  uint64_t task = 0;
  if (context) {
    task = *context;  // `set`'s task
  } else {
    auto pc = k.symbols().address_of("panic_cpu");
    if (!pc) return Error::make(Errc::no_debug_info, "no panic_cpu symbol: cannot tell the current task");
    int32_t cpu = TRY(k.read_as<int32_t>(*pc));
    if (cpu < 0) return Error::make(Errc::not_found, "no CPU panicked (panic_cpu is {}): no current task", cpu);
    uint64_t slot = 0;
    if (k.symbols().find("current_task")) {
      slot = TRY(k.per_cpu("current_task", cpu));
    } else if (k.symbols().find("pcpu_hot")) {  // x86_64 6.2+: current_task moved into struct pcpu_hot
      slot = TRY(k.per_cpu("pcpu_hot", cpu)) + TRY(k.offset_of("pcpu_hot", "current_task"));
    } else {  // arm64 keeps `current` in sp_el0: the CPU's runqueue says which task it ran
      slot = TRY(k.per_cpu("runqueues", cpu)) + TRY(k.offset_of("rq", "curr"));
    }
    task = TRY(k.read_u64(slot));
  }
  uint64_t mm = TRY(k.member<uint64_t>(task, "task_struct", "mm"));
  if (!mm) {
    // A kernel thread (the idle task of a CPU that panicked in NMI or IRQ context): crash reads
    // task->mm->pgd regardless, and fails on the read at NULL + offsetof(mm_struct, pgd).
    uint64_t off = TRY(k.offset_of("mm_struct", "pgd"));
    return Error::make(Errc::fault, "invalid kernel virtual address: {:x}  type: \"mm_struct pgd\"", off);
  }
  uint64_t pgd = TRY(k.member<uint64_t>(mm, "mm_struct", "pgd"));
  auto pa = k.arch().linear_vtop(pgd);
  if (!pa) return Error::make(Errc::bad_data, "mm_struct {:#x}: pgd {:#x} is not in the direct map", mm, pgd);
  return *pa;
}

// Reads memory the way crash's readmem() does, failing with crash's message for the address.
class MemReader {
 public:
  MemReader(kernel::Kernel& k, MemType type, std::optional<uint64_t> context = std::nullopt)
      : k_(k), type_(type), context_(context) {
    elf_ = k.dump().info().format.rfind("ELF", 0) == 0;
  }
  MemType type() const { return type_; }

  Result<void> read(uint64_t addr, std::span<uint8_t> out, std::string_view readtype) {
    size_t done = 0;
    while (done < out.size()) {
      uint64_t a = addr + done;
      uint64_t pa = 0;
      switch (type_) {
        case MemType::physaddr: pa = a; break;
        case MemType::kvaddr: {
          auto p = kvtop(a);
          if (!p) return fail("invalid kernel virtual address: {:x}  type: \"{}\"", a, readtype);
          pa = *p;
          break;
        }
        case MemType::uvaddr: {
          if (k_.arch().is_user_vaddr(a) && !user_root_) {
            auto root = current_user_root(k_, context_);
            if (!root && root.error().code == Errc::fault) return root.error();
            if (root) user_root_ = *root;
          }
          auto p = uvtop(a);
          if (!p) return fail("invalid user virtual address: {:x}  type: \"{}\"", a, readtype);
          pa = *p;
          break;
        }
      }
      uint64_t page = k_.arch().page_size();  // a page is contiguous in physical memory
      size_t chunk = std::min<uint64_t>(out.size() - done, page - (pa & (page - 1)));
      auto r = k_.dump().read(pa, out.subspan(done, chunk));
      if (!r) {
        // crash's words for what the dump format says: ELF dumps answer "read error" for
        // memory they do not hold, kdump-compressed ones "seek error"; pages makedumpfile
        // filtered out are "page excluded" in both.
        const std::string& why = r.error().message;
        if (why.rfind("page excluded", 0) == 0) {
          // crash 9.0.2 prints nothing on its output for a page makedumpfile left out (the
          // oracle's recordings of such reads are empty); say why on stderr only.
          fmt::print(stderr, "rd: page excluded: {} address: {:x}  type: \"{}\"\n", memtype_words(type_), a, readtype);
          return Error{Errc::fault, "", a};
        }
        const char* kind = (why.rfind("not in dump", 0) == 0 && !elf_) ? "seek error" : "read error";
        return fail("{}: {} address: {:x}  type: \"{}\"", kind, memtype_words(type_), a, readtype);
      }
      done += chunk;
    }
    return ok();
  }

 private:
  template <typename... A>
  static Error fail(fmt::format_string<A...> f, A&&... a) {
    return Error::make(Errc::fault, f, std::forward<A>(a)...);
  }

  // crash's kvtop(): arithmetic for the kernel image and direct map, page tables elsewhere.
  std::optional<uint64_t> kvtop(uint64_t v) {
    if (!k_.arch().is_kernel_vaddr(v)) return std::nullopt;
    if (auto p = k_.arch().linear_vtop(v)) return p;
    auto p = k_.arch().walk(k_.arch().kernel_root(), v, nullptr);
    return p ? std::optional<uint64_t>(*p) : std::nullopt;
  }

  std::optional<uint64_t> uvtop(uint64_t v) {
    if (!k_.arch().is_user_vaddr(v)) return std::nullopt;
    if (!user_root_) {
      auto root = current_user_root(k_, context_);
      if (!root) return std::nullopt;
      user_root_ = *root;
    }
    auto p = k_.arch().walk(*user_root_, v, nullptr);
    return p ? std::optional<uint64_t>(*p) : std::nullopt;
  }

  kernel::Kernel& k_;
  MemType type_;
  std::optional<uint64_t> context_;  // the task `set` chose, for user addresses
  bool elf_ = false;
  std::optional<uint64_t> user_root_;
};

enum class Radix { hex, signed_dec, unsigned_dec };

struct Format {
  int size = 8;         // bytes per item; 1 for -a
  bool ascii = false;   // -a
  Radix radix = Radix::hex;
  bool symbolic = false;
  bool net_endian = false;
  bool ascii_endline = false;
};

// display_memory(): lines of `per_line` items, each line "ADDR:  items" and, for hexadecimal,
// the items' bytes as ASCII aligned at a fixed column.
Result<void> display(Session& s, MemReader& mem, uint64_t addr, uint64_t count, bool unlimited, const Format& f,
                     Output& out) {
  kernel::Kernel& k = s.kernel;
  std::string line;
  std::string readtype = f.ascii ? "ascii" : fmt::format("{}-bit {}", f.size * 8, memtype_tag(mem.type()));
  auto flush = [&] {
    out.write(line);
    line.clear();
  };
  auto fail = [&](Error e) -> Result<void> {
    flush();
    return e;
  };

  if (f.ascii) {
    constexpr int kPerLine = 60;
    uint64_t a = 0, displayed = 0;
    for (uint64_t i = 0; i < count; ++i, ++addr) {
      uint8_t c = 0;
      if (auto r = mem.read(addr, std::span(&c, 1), readtype); !r) return fail(r.error());
      if (c >= 0x20 && c < 0x7f) {
        if (a % kPerLine == 0) {
          if (displayed && i) line += '\n';
          line += fmt::format("{:>16x}:  ", addr);
        }
        line += static_cast<char>(c);
        ++displayed;
        ++a;
      } else {
        if (unlimited) {
          flush();
          return ok();
        }
        a = 0;
      }
      if (line.size() > 65536) flush();
    }
    if (unlimited)
      return fail(Error::make(Errc::out_of_bounds, "no non-printable byte in the first {} bytes; give a count", count));
    line += '\n';
    flush();
    return ok();
  }

  const int per_line = 16 / f.size;
  const size_t hex_width = static_cast<size_t>(f.size) * 2;
  const size_t ascii_start = 16 + 3 + static_cast<size_t>(per_line) * (hex_width + 1);
  std::string chars;  // the ASCII column of the current line
  size_t linelen = 0;
  for (uint64_t i = 0; i < count; ++i, addr += f.size) {
    uint64_t v = 0;
    if (auto r = mem.read(addr, std::span(reinterpret_cast<uint8_t*>(&v), f.size), readtype); !r) return fail(r.error());
    if (i % per_line == 0) {
      if (i) {
        if (f.ascii_endline) line += "  " + chars;
        line += '\n';
        if (line.size() > 65536) flush();
      }
      line += fmt::format("{:>16x}:  ", addr);
      chars.clear();
      linelen = 16 + 3;
    }
    if (f.net_endian && f.size == 2) v = ntohs(static_cast<uint16_t>(v));
    if (f.net_endian && f.size == 4) v = ntohl(static_cast<uint32_t>(v));
    bool printed = false;
    if (f.symbolic && f.size == 8 && f.radix == Radix::hex) {
      if (auto sym = value_to_symstr(k, v)) {
        line += fmt::format("{:<16} ", *sym);
        linelen += sym->size() + 1;
        printed = true;
      }
    }
    if (!printed) {
      switch (f.radix) {
        case Radix::hex:
          line += fmt::format("{:0{}x} ", v, hex_width);
          linelen += hex_width + 1;
          break;
        case Radix::signed_dec:
          // crash prints 64- and 32-bit words signed, 16- and 8-bit ones as promoted unsigned.
          if (f.size == 8) line += fmt::format("{:>15} ", static_cast<int64_t>(v));
          else if (f.size == 4) line += fmt::format("{:>12} ", static_cast<int32_t>(v));
          else line += fmt::format("{:>{}} ", v, f.size == 2 ? 5 : 3);
          break;
        case Radix::unsigned_dec:
          line += fmt::format("{:>{}} ", v, f.size == 8 ? 20 : f.size == 4 ? 12 : f.size == 2 ? 5 : 3);
          break;
      }
    }
    const auto* bytes = reinterpret_cast<const uint8_t*>(&v);
    for (int j = 0; j < f.size; ++j) chars += (bytes[j] >= 0x20 && bytes[j] < 0x7f) ? static_cast<char>(bytes[j]) : '.';
  }
  if (f.ascii_endline && !chars.empty()) {
    if (ascii_start > linelen) line.append(ascii_start - linelen, ' ');
    line += "  " + chars;
  }
  line += '\n';
  flush();
  return ok();
}

// "symbol not found" with the symbols containing the name, as crash's symbol_query() lists them.
void print_alternatives(kernel::Kernel& k, const std::string& name, Output& out) {
  out.print("symbol not found: {}\npossible alternatives:\n", name);
  bool any = false;
  for (const auto& sym : k.symbols().all())
    if (sym.name.find(name) != std::string_view::npos) {
      out.print("  {:x} ({}) {}\n", k.symbols().address(sym), sym.type, sym.name);
      any = true;
    }
  if (!any) out.print("  (none found)\n");
}

Result<void> run_rd(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  auto usage = [&]() -> Result<void> {
    out.print("Usage:\n  rd {}\nEnter \"help rd\" for details.\n", kUsage);
    return Error{Errc::usage, "", std::nullopt};
  };
  if (args.has('m')) return Error::make(Errc::unsupported, "-m option only applies to xen architecture");
  if (args.has('f')) return Error::make(Errc::unsupported, "-f (dump file offsets) is not supported");
  if (args.has('S')) return Error::make(Errc::unsupported, "-S (slab cache names) is not supported yet");

  Format f;
  std::vector<std::string> words;
  for (const std::string& w : args.positional) {
    if (w == "-8" || w == "-16" || w == "-32" || w == "-64") {
      f.size = std::stoi(w.substr(1)) / 8;
      continue;
    }
    if (w.size() > 1 && w[0] == '-' && std::isdigit(static_cast<unsigned char>(w[1]))) {
      if (w == "-1" || w == "-3" || w == "-6") {
        out.print("rd: option requires an argument -- '{}'\n", w[1]);
      } else {
        out.print("rd: invalid option: {}\n", w.substr(1));
      }
      return usage();
    }
    words.push_back(w);
  }
  if (args.has('a')) f.ascii = true, f.size = 1;
  if (args.has('d')) f.radix = Radix::signed_dec;
  if (args.has('D')) f.radix = Radix::unsigned_dec;
  // crash: -s turns off the ASCII column whatever the size, and symbols need 64-bit display.
  if (args.has('s')) f.symbolic = true;
  f.net_endian = args.has('N');
  bool raw = args.has('r');
  if (f.radix == Radix::hex && !f.symbolic && !args.has('x') && !f.ascii) f.ascii_endline = true;
  if (words.empty()) return usage();

  MemType type = MemType::kvaddr;
  if (args.has('p')) type = MemType::physaddr;
  if (args.has('u')) type = MemType::uvaddr;

  const std::string& where = words[0];
  uint64_t addr = 0;
  if (where[0] == '(') return Error::make(Errc::unsupported, "expressions are not supported yet: {}", where);
  if (auto a = parse_hex(where)) {
    addr = *a;
  } else if (auto sa = k.symbols().address_of(where)) {
    addr = *sa;
  } else {
    print_alternatives(k, where, out);
    return kernel::info_error(k, Error{Errc::not_found, "", std::nullopt});  // crash's error(INFO)
  }
  if (args.has('o')) {
    auto off = parse_number(args.value('o'));
    if (!off) return Error::make(Errc::usage, "invalid expression: {}", args.value('o'));
    addr += *off;
  }

  std::optional<uint64_t> count;
  if (words.size() > 1) {
    auto c = parse_number(words[1]);
    if (!c) return Error::make(Errc::usage, "invalid expression: {}", words[1]);
    count = *c;
  }
  bool unlimited = false;
  if (!count) {
    if (args.has('e')) {
      auto end = parse_hex(args.value('e'));
      if (!end) return Error::make(Errc::usage, "invalid expression: {}", args.value('e'));
      if (*end <= addr) return Error::make(Errc::usage, "invalid ending address: {:x}", *end);
      uint64_t bytes = *end - addr;
      count = raw ? bytes : bytes / f.size;
      if (bytes == 0) count = 1;
    } else if (raw) {
      return Error::make(Errc::usage, "-r option requires either a count argument or the -e option");
    } else if (f.ascii) {
      count = kAsciiUnlimitedCap;
      unlimited = true;
    } else {
      count = 1;
    }
  } else if (args.has('e')) {
    out.print("rd: WARNING: ending address ignored when count is specified\n");
  }
  if (*count == 0) return Error::make(Errc::usage, "invalid count request: {}", *count);
  if (*count > kMaxCount) return Error::make(Errc::out_of_bounds, "count {} is more than {} items", *count, kMaxCount);

  // -R: the `count` items that end with the one at the address.
  if (args.has('R') && !raw && !f.ascii) addr -= (*count - 1) * f.size;
  if (type == MemType::kvaddr && !k.arch().is_kernel_vaddr(addr)) type = MemType::uvaddr;
  MemReader mem(k, type, s.current_task);

  if (raw) {
    std::string path = args.value('r');
    FILE* file = std::fopen(path.c_str(), "w");
    if (!file) return Error::make(Errc::os, "cannot open output file: {}", path);
    std::vector<uint8_t> buf(4096);
    for (uint64_t done = 0; done < *count;) {
      size_t n = std::min<uint64_t>(buf.size(), *count - done);
      if (auto r = mem.read(addr + done, std::span(buf.data(), n), "raw dump to file"); !r) {
        std::fclose(file);
        return r.error();
      }
      if (std::fwrite(buf.data(), 1, n, file) != n) {
        std::fclose(file);
        return Error::make(Errc::os, "cannot write to: {}", path);
      }
      done += n;
    }
    if (std::fclose(file) != 0) return Error::make(Errc::os, "cannot write to: {}", path);
    out.print("{} bytes copied from 0x{:x} to {}\n", *count, addr, path);
    return ok();
  }
  return display(s, mem, addr, *count, unlimited, f, out);
}

}  // namespace

std::vector<Command> rd_commands() {
  return {Command{
      CommandSpec{"rd",
                  {},
                  "read memory",
                  std::string(kUsage),
                  {{'a', false, "display ASCII characters (to the first non-printable one without a count)"},
                   {'d', false, "display in signed decimal"},
                   {'D', false, "display in unsigned decimal"},
                   {'s', false, "display kernel addresses symbolically (64-bit display)"},
                   {'S', false, "symbols and slab caches (not supported yet)"},
                   {'x', false, "no ASCII translation at the end of each line"},
                   {'u', false, "the address is a user virtual address (of the panic task)"},
                   {'p', false, "the address is a physical address"},
                   {'m', false, "xen host machine address (not supported)"},
                   {'f', false, "dump file offset (not supported)"},
                   {'N', false, "network byte order (16- and 32-bit display)"},
                   {'R', false, "display the memory that ends at the address"},
                   {'o', true, "offset the starting address"},
                   {'e', true, "display memory up to this ending address"},
                   {'r', true, "copy the raw bytes to a file (needs a count or -e)"}},
                  {"rd jiffies", "rd -64 linux_banner 8", "rd -s init_task 16", "rd -a linux_banner", "rd -p 1000 4"}},
      run_rd}};
}

}  // namespace coroner::commands
