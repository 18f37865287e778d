#include "dumpfmt/dump.h"

#include <algorithm>
#include <charconv>

#include "dumpfmt/byte_source.h"
#include "dumpfmt/flattened.h"
#include "dumpfmt/formats.h"

namespace coroner::dumpfmt {

// ---- the probe table -------------------------------------------------------------------

namespace {

struct Format {
  const char* name;  // as listed when nothing matches
  bool (*probe)(std::span<const uint8_t> head);
  Result<std::unique_ptr<Dump>> (*open)(std::unique_ptr<ByteSource> src, bool flattened);
};

Result<std::unique_ptr<Dump>> open_flattened_dump(std::unique_ptr<ByteSource> src, bool flattened);

// Order matters: a flattened stream and a kdump file are recognized by their signatures
// before the ELF magic is considered.
constexpr Format kFormats[] = {
    {"flattened makedumpfile", probe_flattened, open_flattened_dump},
    {"kdump-compressed", probe_kdump,
     [](std::unique_ptr<ByteSource> src, bool flattened) {
       return open_kdump(std::move(src), flattened ? "flattened kdump" : "kdump");
     }},
    {"ELF vmcore", probe_elf,
     [](std::unique_ptr<ByteSource> src, bool flattened) {
       return open_elf_dump(std::move(src), flattened ? "flattened ELF" : "ELF");
     }},
};

std::string tried_list() {
  std::string s;
  for (auto& f : kFormats) s += fmt::format("{}{}", s.empty() ? "" : ", ", f.name);
  return s;
}

// The format whose probe accepts the start of `src`, or an error naming what was tried.
Result<const Format*> detect(const ByteSource& src, bool skip_flattened) {
  uint8_t head[kProbeBytes] = {};
  size_t n = src.read_upto(0, head);
  std::span<const uint8_t> h(head, n);
  for (auto& f : kFormats) {
    if (skip_flattened && f.probe == probe_flattened) continue;
    if (f.probe(h)) return &f;
  }
  std::string bytes;
  for (size_t i = 0; i < std::min<size_t>(n, 16); ++i) bytes += fmt::format("{}{:02x}", i ? " " : "", head[i]);
  return Error::make(Errc::unsupported, "{}: not a recognized dump format (tried {}); file size {:#x}, first bytes: {}",
                     src.name(), tried_list(), src.size(), n ? bytes : "(none)");
}

Result<std::unique_ptr<Dump>> open_flattened_dump(std::unique_ptr<ByteSource> src, bool) {
  std::string name = src->name();
  auto logical = TRY(open_flattened_source(std::move(src)));
  auto fmt_ = detect(*logical, /*skip_flattened=*/true);
  if (!fmt_)
    return Error::make(Errc::unsupported, "{}: flattened makedumpfile stream holds no kdump or ELF dump ({})", name,
                       fmt_.error().message);
  return (*fmt_)->open(std::move(logical), true);
}

}  // namespace

Result<std::unique_ptr<Dump>> open_dump_sources(std::vector<std::unique_ptr<ByteSource>> sources) {
  if (sources.empty()) return Error::make(Errc::usage, "no dump file given");
  if (sources.size() == 1) {
    const Format* f = TRY(detect(*sources[0], false));
    return f->open(std::move(sources[0]), false);
  }
  // Several files: the pieces of a `makedumpfile --split` dump (each possibly flattened).
  std::vector<std::unique_ptr<ByteSource>> pieces;
  for (auto& src : sources) {
    const Format* f = TRY(detect(*src, false));
    if (f->probe == probe_flattened) {
      src = TRY(open_flattened_source(std::move(src)));
      f = TRY(detect(*src, true));
    }
    if (f->probe != probe_kdump)
      return Error::make(Errc::usage, "{}: several dump files were given but this one is not a kdump-compressed file ({}); "
                         "only the pieces of a `makedumpfile --split` dump can be opened together",
                         src->name(), f->name);
    pieces.push_back(std::move(src));
  }
  return open_split_kdump(std::move(pieces));
}

Result<std::unique_ptr<Dump>> open_dump(const std::vector<std::string>& paths) {
  return open_dump(paths, FileAccess::mapped);
}

Result<std::unique_ptr<Dump>> open_dump(const std::vector<std::string>& paths, FileAccess access) {
  std::vector<std::unique_ptr<ByteSource>> sources;
  for (auto& p : paths) sources.push_back(TRY(open_file_source(p, access)));
  return open_dump_sources(std::move(sources));
}

// ---- helpers shared by the readers ----------------------------------------------------

Error not_in_dump(uint64_t paddr) {
  return Error::fault(paddr, fmt::format("not in dump: physical address {:#x}", paddr));
}
Error page_excluded(uint64_t paddr) {
  return Error::fault(paddr, fmt::format("page excluded: physical address {:#x}", paddr));
}
Error dump_truncated(uint64_t paddr, uint64_t file_off, std::string_view file) {
  return Error::fault(paddr, fmt::format("dump truncated: physical address {:#x} at file offset {:#x} of {}", paddr,
                                         file_off, file));
}

void merge_ranges(std::vector<PhysRange>& ranges) {
  std::sort(ranges.begin(), ranges.end(), [](auto& a, auto& b) { return a.start < b.start; });
  std::vector<PhysRange> out;
  for (auto& r : ranges) {
    if (!out.empty() && r.start <= out.back().end)
      out.back().end = std::max(out.back().end, r.end);
    else
      out.push_back(r);
  }
  ranges = std::move(out);
}

std::string hex(uint64_t v) { return fmt::format("{:#x}", v); }

std::string summarize_notes(const DumpInfo& info) {
  std::vector<std::pair<std::string, int>> kinds;  // in order of first appearance
  for (auto& n : info.notes) {
    std::string key = n.name == "CORE" && n.type == 1 ? "CORE/NT_PRSTATUS" : fmt::format("{}/{}", n.name, n.type);
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](auto& k) { return k.first == key; });
    if (it == kinds.end())
      kinds.emplace_back(key, 1);
    else
      ++it->second;
  }
  if (kinds.empty()) return "none";
  std::string s;
  for (auto& [k, c] : kinds) s += fmt::format("{}{}{}", s.empty() ? "" : ", ", k, c > 1 ? fmt::format(" x{}", c) : "");
  return s;
}

// ---- Dump ------------------------------------------------------------------------------

Result<void> Dump::read(uint64_t paddr, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    auto n = read_upto(paddr + done, out.subspan(done));
    if (!n) return n.error();
    if (*n == 0) return Error::fault(paddr + done, fmt::format("read error: physical address {:#x}: no data", paddr + done));
    done += *n;
  }
  return ok();
}

VmcoreInfo::VmcoreInfo(std::string_view text) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    entries_.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }
}

std::optional<std::string_view> VmcoreInfo::get(std::string_view key) const {
  for (auto& [k, v] : entries_)
    if (k == key) return v;
  return std::nullopt;
}

std::optional<uint64_t> VmcoreInfo::number(std::string_view key, int base) const {
  auto v = get(key);
  if (!v) return std::nullopt;
  std::string_view s = *v;
  bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  // A "0x" prefix makes the value hexadecimal whatever the key's usual base: arm64 writes
  // its NUMBER()s so (NUMBER(kimage_voffset)=0xffff..., NUMBER(PHYS_OFFSET)=0x40000000).
  if (s.size() > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return neg ? static_cast<uint64_t>(-static_cast<int64_t>(out)) : out;
}

std::optional<uint64_t> VmcoreInfo::symbol(std::string_view name) const {
  return number(fmt::format("SYMBOL({})", name), 16);
}
std::optional<uint64_t> VmcoreInfo::offset(std::string_view type_member) const {
  return number(fmt::format("OFFSET({})", type_member), 10);
}
std::optional<uint64_t> VmcoreInfo::size(std::string_view type) const {
  return number(fmt::format("SIZE({})", type), 10);
}

}  // namespace coroner::dumpfmt
