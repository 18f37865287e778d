#include "kernel/kernel.h"

#include <elf.h>

#include <atomic>
#include <bit>
#include <cstring>

#include "symbols/btf_types.h"

namespace coroner::kernel {
namespace {

// "Linux version 6.1.0-56-cloud-amd64 (...) #1 SMP ..." -> "6.1.0-56-cloud-amd64"
std::string release_from_banner(std::string_view banner) {
  constexpr std::string_view prefix = "Linux version ";
  if (banner.substr(0, prefix.size()) != prefix) return "";
  banner.remove_prefix(prefix.size());
  return std::string(banner.substr(0, banner.find(' ')));
}

const char* machine_name(uint16_t m) {
  switch (m) {
    case EM_X86_64: return "x86_64";
    case EM_AARCH64: return "arm64";
    case EM_386: return "i386";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390x";
    default: return "unknown";
  }
}

}  // namespace

Kernel::~Kernel() = default;

size_t Kernel::next_extension_index() {
  static std::atomic<size_t> next{0};
  return next++;
}

std::string Kernel::vmlinux_release() const {
  const symbols::Symbol* s = vmlinux_->symbols().find("linux_banner");
  if (!s) return "";
  auto b = vmlinux_->read_cstring(s->link_addr, 1024);
  return b ? release_from_banner(*b) : "";
}

Result<std::unique_ptr<Kernel>> Kernel::open(const std::string& vmlinux_path, const std::vector<std::string>& dump_paths,
                                             const OpenOptions& opts) {
  std::unique_ptr<Kernel> k(new Kernel());
  k->vmlinux_path_ = vmlinux_path;
  k->dump_paths_ = dump_paths;
  k->vmlinux_ = TRY(symbols::Vmlinux::open(vmlinux_path));
  k->dump_ = TRY(dumpfmt::open_dump(dump_paths));
  const std::string& dump_name = dump_paths.front();
  k->vmcoreinfo_ = std::make_unique<dumpfmt::VmcoreInfo>(k->dump_->info().vmcoreinfo);
  const auto& vi = *k->vmcoreinfo_;

  uint16_t dump_machine = k->dump_->info().machine;
  if (dump_machine && dump_machine != k->vmlinux_->machine())
    return Error::make(Errc::mismatch, "{} is an {} kernel but {} is a dump of an {} system", vmlinux_path,
                       machine_name(k->vmlinux_->machine()), dump_name, machine_name(dump_machine));

  // Identity checks that need no memory access: OSRELEASE and BUILD-ID in VMCOREINFO.
  std::string release = k->vmlinux_release();
  if (!opts.ignore_mismatch) {
    if (auto osr = vi.get("OSRELEASE"); osr && !release.empty() && *osr != release)
      return Error::make(Errc::mismatch, "{} and {} do not match: vmlinux is {}, the dump is {} (VMCOREINFO OSRELEASE)",
                         vmlinux_path, dump_name, release, *osr);
    if (auto bid = vi.get("BUILD-ID"); bid && !k->vmlinux_->build_id().empty() &&
                                          k->vmlinux_->build_id().substr(0, bid->size()) != *bid)
      return Error::make(Errc::mismatch, "{} and {} do not match: vmlinux build ID {}, the dump's is {} (VMCOREINFO BUILD-ID)",
                         vmlinux_path, dump_name, k->vmlinux_->build_id(), *bid);
  }

  // KASLR: the relocation offset from VMCOREINFO, or the user's --kaslr.
  uint64_t kaslr = 0;
  if (opts.kaslr_offset) {
    kaslr = *opts.kaslr_offset;
  } else if (auto ko = vi.number("KERNELOFFSET", 16)) {
    kaslr = *ko;
  } else if (auto stext = vi.symbol("_stext")) {
    if (auto s = k->vmlinux_->symbols().find("_stext")) kaslr = *stext - s->link_addr;
  }
  k->vmlinux_->symbols().set_relocation(kaslr);

  k->types_ = TRY(symbols::BtfTypes::from_vmlinux(*k->vmlinux_));

  Kernel* kp = k.get();
  arch::KernelFacts facts;
  facts.symbol = [kp](std::string_view n) { return kp->symbols().address_of(n); };
  // NUMBER(x) is decimal, except arm64's hexadecimal ones ("NUMBER(kimage_voffset)=0x...").
  auto number = [kp](const std::string& key) {
    auto v = kp->vmcoreinfo_->get(key);
    bool hex = v && v->size() > 2 && (*v)[0] == '0' && ((*v)[1] == 'x' || (*v)[1] == 'X');
    return kp->vmcoreinfo_->number(key, hex ? 16 : 10);
  };
  facts.vmcoreinfo_number = [number](std::string_view n) { return number(fmt::format("NUMBER({})", n)); };
  facts.vmcoreinfo_symbol = [kp](std::string_view n) { return kp->vmcoreinfo_->symbol(n); };
  facts.vmcoreinfo_entry = [number](std::string_view n) { return number(std::string(n)); };
  uint16_t machine = dump_machine ? dump_machine : k->vmlinux_->machine();
  auto arch = arch::make_arch(machine, *k->dump_, facts);
  if (!arch) {
    // Name the dump, and say when the reason is that it carries no VMCOREINFO at all (an old
    // or damaged header): the arch's message alone names only the missing entry.
    const auto& paths = k->dump_->info().paths;
    std::string name = paths.empty() ? std::string("dump") : paths.front();
    if (k->dump_->info().vmcoreinfo.empty())
      return Error::make(arch.error().code, "{}: the dump carries no VMCOREINFO ({}): {}", name,
                         k->dump_->info().format, arch.error().message);
    return Error::make(arch.error().code, "{}: {}", name, arch.error().message);
  }
  k->arch_ = std::move(*arch);

  // The banner in the dump's memory must be the vmlinux's banner.
  if (const symbols::Symbol* b = k->vmlinux_->symbols().find("linux_banner")) {
    auto in_file = k->vmlinux_->read_cstring(b->link_addr, 1024);
    auto in_dump = k->read_cstring(k->symbols().address(*b), 1024);
    if (!in_dump) {
      const std::string& why = in_dump.error().message;
      if (why.rfind("dump truncated", 0) == 0)
        return Error::make(Errc::bad_data, "{}: the dump is truncated: cannot read linux_banner: {}", dump_name, why);
      if (!opts.ignore_mismatch)
        return Error::make(Errc::mismatch, "{}: cannot read linux_banner at {:#x} ({}): wrong vmlinux, or a KASLR offset is needed (--kaslr)",
                           dump_name, k->symbols().address(*b), why);
    } else if (in_file && *in_file != *in_dump && !opts.ignore_mismatch) {
      std::string got = *in_dump;
      if (release_from_banner(got).empty()) got = "unreadable data";
      return Error::make(Errc::mismatch, "{} and {} do not match: vmlinux is \"{}\", the dump's linux_banner is \"{}\"",
                         vmlinux_path, dump_name, release, release_from_banner(got).empty() ? got : release_from_banner(got));
    }
  }
  return k;
}

symbols::SourceLines& Kernel::source_lines() {
  if (!source_lines_) source_lines_ = std::make_unique<symbols::SourceLines>(*vmlinux_);
  return *source_lines_;
}

symbols::DwarfInfo& Kernel::dwarf() {
  if (!dwarf_) dwarf_ = std::make_unique<symbols::DwarfInfo>(*vmlinux_);
  return *dwarf_;
}

Result<void> Kernel::read(uint64_t vaddr, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    uint64_t va = vaddr + done;
    size_t chunk = std::min<uint64_t>(out.size() - done, 4096 - (va & 4095));
    uint64_t pa = TRY(arch_->kvtop(va));
    auto r = dump_->read(pa, out.subspan(done, chunk));
    if (!r) return Error::fault(va, fmt::format("{} (virtual address {:#x})", r.error().message, va));
    done += chunk;
  }
  return ok();
}

Result<uint64_t> Kernel::read_u64(uint64_t vaddr) { return read_as<uint64_t>(vaddr); }
Result<uint32_t> Kernel::read_u32(uint64_t vaddr) { return read_as<uint32_t>(vaddr); }

Result<std::string> Kernel::read_cstring(uint64_t vaddr, size_t max_len) {
  std::string out;
  uint8_t buf[256];
  while (out.size() < max_len) {
    size_t want = std::min<uint64_t>({sizeof buf, max_len - out.size(), 4096 - ((vaddr + out.size()) & 4095)});
    TRY(read(vaddr + out.size(), std::span(buf, want)));
    size_t n = strnlen(reinterpret_cast<const char*>(buf), want);
    out.append(reinterpret_cast<const char*>(buf), n);
    if (n < want) break;
  }
  return out;
}

Result<uint64_t> Kernel::symbol(std::string_view name) const {
  auto a = symbols().address_of(name);
  if (!a) return Error::make(Errc::not_found, "symbol not found: {}", name);
  return *a;
}

Result<uint64_t> Kernel::member_uint(uint64_t addr, std::string_view type, std::string_view path) {
  symbols::TypeRef t = TRY(types_->find(type));
  symbols::MemberInfo m = TRY(types_->member(t, path));
  uint64_t size = TRY(types_->size_of(m.type));
  if (m.bit_size) {
    uint64_t word = TRY(read_as<uint64_t>(addr + m.bit_offset / 8));
    return (word >> (m.bit_offset % 8)) & ((m.bit_size >= 64) ? ~0ull : ((1ull << m.bit_size) - 1));
  }
  switch (size) {
    case 1: return static_cast<uint64_t>(TRY(read_as<uint8_t>(addr + m.offset())));
    case 2: return static_cast<uint64_t>(TRY(read_as<uint16_t>(addr + m.offset())));
    case 4: return static_cast<uint64_t>(TRY(read_as<uint32_t>(addr + m.offset())));
    case 8: return TRY(read_as<uint64_t>(addr + m.offset()));
    default: return Error::make(Errc::usage, "{}.{} is {} bytes, not an integer", type, path, size);
  }
}

Result<uint64_t> Kernel::per_cpu_offset(int cpu) {
  if (per_cpu_offsets_.empty()) {
    uint64_t base = TRY(symbol("__per_cpu_offset"));
    const symbols::Symbol* s = symbols().find("__per_cpu_offset");
    uint64_t n = s && s->size ? s->size / 8 : 1;
    if (n > 65536) return Error::make(Errc::bad_data, "__per_cpu_offset: absurd size {}", s->size);
    per_cpu_offsets_.resize(n);
    TRY(read(base, std::span(reinterpret_cast<uint8_t*>(per_cpu_offsets_.data()), n * 8)));
  }
  if (cpu < 0 || static_cast<size_t>(cpu) >= per_cpu_offsets_.size())
    return Error::make(Errc::out_of_bounds, "CPU {} is beyond NR_CPUS ({})", cpu, per_cpu_offsets_.size());
  return per_cpu_offsets_[cpu];
}

Result<uint64_t> Kernel::per_cpu(std::string_view sym, int cpu) {
  const symbols::Symbol* s = symbols().find(sym);
  if (!s) return Error::make(Errc::not_found, "symbol not found: {}", sym);
  return symbols().address(*s) + TRY(per_cpu_offset(cpu));
}

Result<std::vector<int>> Kernel::cpus_in_mask(std::string_view mask_symbol) {
  // A dump does not change: each mask is read once (ps reads cpu_present_mask for every task).
  if (auto it = cpu_masks_.find(mask_symbol); it != cpu_masks_.end()) return it->second;
  // Since 4.5 the masks are `struct cpumask __cpu_online_mask` with cpu_online_mask a macro.
  std::string name = fmt::format("__{}", mask_symbol);
  const symbols::Symbol* s = symbols().find(name);
  if (!s) s = symbols().find(mask_symbol);
  if (!s) return Error::make(Errc::not_found, "symbol not found: {}", name);
  uint64_t bytes = s->size ? s->size : 8;
  if (bytes > 1024) bytes = 1024;  // NR_CPUS 8192 at most
  std::vector<uint64_t> words((bytes + 7) / 8);
  TRY(read(symbols().address(*s), std::span(reinterpret_cast<uint8_t*>(words.data()), bytes)));
  std::vector<int> cpus;
  for (size_t w = 0; w < words.size(); ++w)
    for (uint64_t bits = words[w]; bits; bits &= bits - 1)
      cpus.push_back(static_cast<int>(w * 64 + static_cast<size_t>(std::countr_zero(bits))));
  cpu_masks_.emplace(std::string(mask_symbol), cpus);
  return cpus;
}

}  // namespace coroner::kernel
