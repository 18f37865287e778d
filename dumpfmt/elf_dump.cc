// ELF vmcore reader: /proc/vmcore copies, `makedumpfile -E` output, QEMU's memory-only ELF
// (dump-guest-memory without a format), libvirt/virsh dumps.
//
// Physical memory is the PT_LOAD segments by p_paddr (QEMU sets p_vaddr = 0, so p_vaddr is
// never used). Bytes in [p_filesz, p_memsz) read as zeros, as ELF defines and crash does
// (makedumpfile -E leaves excluded pages as such holes or splits segments around them).
// A segment wholly inside another is a second view of the same memory (kexec-tools adds
// one for the kernel text) and is ignored; partial overlaps are rejected.
#include <algorithm>
#include <cstring>

#include "dumpfmt/formats.h"
#include "dumpfmt/notes.h"

namespace coroner::dumpfmt {

namespace {

constexpr uint32_t kPtLoad = 1;
constexpr uint32_t kPtNote = 4;
constexpr uint16_t kEtCore = 4;
constexpr uint16_t kPnXnum = 0xffff;
// Program headers accepted (with PN_XNUM a vmcore of a fragmented machine can exceed 65535).
constexpr uint64_t kMaxPhdrs = 1u << 22;

struct Segment {
  uint64_t paddr;
  uint64_t memsz;
  uint64_t filesz;
  uint64_t offset;
  uint32_t index;  // program header number, for messages
};

class ElfDump final : public Dump {
 public:
  ElfDump(std::unique_ptr<ByteSource> src, std::vector<Segment> segs, DumpInfo info)
      : src_(std::move(src)), segs_(std::move(segs)) {
    info_ = std::move(info);
  }

  Result<size_t> read_upto(uint64_t paddr, std::span<uint8_t> out) override {
    size_t done = 0;
    while (done < out.size()) {
      uint64_t addr = paddr + done;
      if (addr < paddr) break;  // wrapped past 2^64
      const Segment* seg = find(addr);
      if (!seg) {
        if (done) break;
        return not_in_dump(addr);
      }
      uint64_t rel = addr - seg->paddr;
      uint64_t n = std::min<uint64_t>(out.size() - done, seg->memsz - rel);
      if (rel < seg->filesz) {
        n = std::min(n, seg->filesz - rel);
        uint64_t file_off = seg->offset + rel;
        size_t got = src_->read_upto(file_off, out.subspan(done, n));
        done += got;
        if (got < n) {
          if (done) break;
          return dump_truncated(addr, file_off, src_->name());
        }
      } else {
        std::memset(out.data() + done, 0, n);
        done += n;
      }
    }
    return done;
  }

 private:
  const Segment* find(uint64_t addr) {
    if (last_ < segs_.size() && addr - segs_[last_].paddr < segs_[last_].memsz) return &segs_[last_];
    auto it = std::upper_bound(segs_.begin(), segs_.end(), addr,
                               [](uint64_t a, const Segment& s) { return a < s.paddr; });
    if (it == segs_.begin()) return nullptr;
    --it;
    if (addr - it->paddr >= it->memsz) return nullptr;
    last_ = static_cast<size_t>(it - segs_.begin());
    return &*it;
  }

  std::unique_ptr<ByteSource> src_;
  std::vector<Segment> segs_;  // sorted by paddr, disjoint
  size_t last_ = 0;
};

struct ElfLayout {
  bool is64;
  uint64_t ehdr_size, phdr_size, shdr_size;
};

}  // namespace

bool probe_elf(std::span<const uint8_t> head) {
  return head.size() >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F';
}

Result<std::unique_ptr<Dump>> open_elf_dump(std::unique_ptr<ByteSource> src, std::string format) {
  const std::string& name = src->name();
  std::vector<uint8_t> scratch;
  ByteView ident = TRY(src->view(0, 16, "ELF identification", scratch));
  uint8_t cls = TRY(ident.u8(4));
  uint8_t data = TRY(ident.u8(5));
  if (data == 2)
    return Error::make(Errc::unsupported, "{}: ELF header at 0x0: big-endian ELF (EI_DATA 2) is not supported", name);
  if (data != 1)
    return Error::make(Errc::bad_data, "{}: ELF header at 0x0: EI_DATA {} is neither little- nor big-endian", name, data);
  if (cls != 1 && cls != 2)
    return Error::make(Errc::bad_data, "{}: ELF header at 0x0: EI_CLASS {} is neither ELF32 nor ELF64", name, cls);
  const ElfLayout L = cls == 2 ? ElfLayout{true, 64, 56, 64} : ElfLayout{false, 52, 32, 40};

  ByteView eh = TRY(src->view(0, L.ehdr_size, "ELF header", scratch));
  uint16_t e_type = TRY(eh.u16(16, "e_type"));
  uint16_t e_machine = TRY(eh.u16(18, "e_machine"));
  uint64_t e_phoff = L.is64 ? TRY(eh.u64(32, "e_phoff")) : TRY(eh.u32(28, "e_phoff"));
  uint64_t e_shoff = L.is64 ? TRY(eh.u64(40, "e_shoff")) : TRY(eh.u32(32, "e_shoff"));
  uint16_t e_phentsize = TRY(eh.u16(L.is64 ? 54 : 42, "e_phentsize"));
  uint64_t e_phnum = TRY(eh.u16(L.is64 ? 56 : 44, "e_phnum"));
  uint16_t e_shentsize = TRY(eh.u16(L.is64 ? 58 : 46, "e_shentsize"));
  if (e_type != kEtCore)
    return Error::make(Errc::bad_data, "{}: ELF header at 0x0: e_type {} is not ET_CORE (4); not a vmcore", name, e_type);
  if (e_phentsize < L.phdr_size)
    return Error::make(Errc::bad_data, "{}: ELF header at 0x0: e_phentsize {:#x} is smaller than a program header ({:#x})",
                       name, e_phentsize, L.phdr_size);
  if (e_phnum == kPnXnum) {
    // More than 65534 program headers: the real count is section header 0's sh_info.
    if (e_shoff == 0 || e_shentsize < L.shdr_size)
      return Error::make(Errc::bad_data, "{}: ELF header at 0x0: e_phnum is PN_XNUM but there is no section header 0",
                         name);
    ByteView sh0 = TRY(src->view(e_shoff, L.shdr_size, "section header 0", scratch));
    e_phnum = TRY(sh0.u32(L.is64 ? 44 : 28, "sh_info"));
  }
  if (e_phnum == 0) return Error::make(Errc::bad_data, "{}: ELF header at 0x0: no program headers (e_phnum 0)", name);
  if (e_phnum > kMaxPhdrs)
    return Error::make(Errc::out_of_bounds, "{}: ELF header at 0x0: e_phnum {} exceeds the limit of {}", name, e_phnum,
                       kMaxPhdrs);
  uint64_t table_size = e_phnum * e_phentsize;
  {
    auto end = checked_add(e_phoff, table_size);
    if (!end || *end > src->size())
      return Error::make(Errc::bad_data,
                         "{}: ELF header at 0x0: program header table at {:#x} ({} entries of {:#x} bytes) exceeds file size {:#x}",
                         name, e_phoff, e_phnum, e_phentsize, src->size());
  }
  std::vector<uint8_t> phdr_scratch;
  ByteView ph = TRY(src->view(e_phoff, table_size, "program header table", phdr_scratch));

  DumpInfo info;
  info.format = format;
  info.paths = {name};
  info.machine = e_machine;

  std::vector<Segment> segs;
  std::vector<std::pair<uint64_t, uint64_t>> note_segs;  // offset, size
  uint64_t notes_total = 0;
  std::string truncation;
  for (uint64_t i = 0; i < e_phnum; ++i) {
    uint64_t o = i * e_phentsize;
    uint32_t p_type = TRY(ph.u32(o, "p_type"));
    if (p_type != kPtLoad && p_type != kPtNote) continue;
    uint64_t p_offset, p_paddr, p_filesz, p_memsz;
    if (L.is64) {
      p_offset = TRY(ph.u64(o + 8, "p_offset"));
      p_paddr = TRY(ph.u64(o + 24, "p_paddr"));
      p_filesz = TRY(ph.u64(o + 32, "p_filesz"));
      p_memsz = TRY(ph.u64(o + 40, "p_memsz"));
    } else {
      p_offset = TRY(ph.u32(o + 4, "p_offset"));
      p_paddr = TRY(ph.u32(o + 12, "p_paddr"));
      p_filesz = TRY(ph.u32(o + 16, "p_filesz"));
      p_memsz = TRY(ph.u32(o + 20, "p_memsz"));
    }
    uint64_t ph_at = e_phoff + o;
    auto file_end = checked_add(p_offset, p_filesz);
    if (!file_end)
      return Error::make(Errc::bad_data, "{}: program header {} at {:#x}: p_offset {:#x} + p_filesz {:#x} overflows", name,
                         i, ph_at, p_offset, p_filesz);
    if (p_type == kPtNote) {
      notes_total += p_filesz;
      if (notes_total > kMaxNotesBytes)
        return Error::make(Errc::out_of_bounds, "{}: program header {} at {:#x}: notes total {:#x} bytes, more than the limit {:#x}",
                           name, i, ph_at, notes_total, kMaxNotesBytes);
      note_segs.emplace_back(p_offset, p_filesz);
      continue;
    }
    if (p_memsz == 0) continue;
    if (p_filesz > p_memsz)
      return Error::make(Errc::bad_data, "{}: program header {} at {:#x}: p_filesz {:#x} exceeds p_memsz {:#x}", name, i,
                         ph_at, p_filesz, p_memsz);
    if (!checked_add(p_paddr, p_memsz))
      return Error::make(Errc::bad_data, "{}: program header {} at {:#x}: p_paddr {:#x} + p_memsz {:#x} overflows", name,
                         i, ph_at, p_paddr, p_memsz);
    if (*file_end > src->size() && truncation.empty())
      truncation = fmt::format("PT_LOAD {} ends at file offset {:#x}, file size {:#x}", i, *file_end, src->size());
    segs.push_back(Segment{p_paddr, p_memsz, p_filesz, p_offset, static_cast<uint32_t>(i)});
  }

  // Segments by address; drop ones wholly inside another, reject partial overlaps.
  std::stable_sort(segs.begin(), segs.end(), [](const Segment& a, const Segment& b) {
    return a.paddr != b.paddr ? a.paddr < b.paddr : a.memsz > b.memsz;
  });
  std::vector<Segment> kept;
  kept.reserve(segs.size());
  for (const Segment& s : segs) {
    if (!kept.empty()) {
      const Segment& prev = kept.back();
      uint64_t prev_end = prev.paddr + prev.memsz;
      if (s.paddr < prev_end) {
        if (s.paddr + s.memsz <= prev_end) continue;  // a second view of memory already covered
        return Error::make(Errc::bad_data,
                           "{}: program header {} at {:#x}: PT_LOAD [{:#x}, {:#x}) overlaps program header {} [{:#x}, {:#x})",
                           name, s.index, e_phoff + uint64_t{s.index} * e_phentsize, s.paddr, s.paddr + s.memsz,
                           prev.index, prev.paddr, prev_end);
      }
    }
    kept.push_back(s);
  }
  for (const Segment& s : kept) info.ranges.push_back(PhysRange{s.paddr, s.paddr + s.memsz});
  merge_ranges(info.ranges);

  // Notes. A note segment cut off by the end of the file yields the notes that are whole.
  for (auto [off, size] : note_segs) {
    uint64_t avail = off >= src->size() ? 0 : std::min(size, src->size() - off);
    if (avail < size && truncation.empty())
      truncation = fmt::format("PT_NOTE at file offset {:#x} (size {:#x}) extends past file size {:#x}", off, size,
                               src->size());
    if (avail == 0) continue;
    ByteView notes = TRY(src->view(off, avail, "PT_NOTE segment", scratch));
    auto r = parse_notes(notes, "PT_NOTE segment", info);
    if (!r && avail == size) return r.error();
  }
  count_cpu_notes(info);
  if (!info.vmcoreinfo.empty())
    if (auto ps = VmcoreInfo(info.vmcoreinfo).number("PAGESIZE"); ps && *ps >= 512 && *ps <= (1u << 20) && !(*ps & (*ps - 1)))
      info.page_size = static_cast<uint32_t>(*ps);
  info.incomplete = !truncation.empty();

  uint64_t mem = 0, zero_tail = 0;
  for (auto& r : info.ranges) mem += r.end - r.start;
  for (auto& sg : kept) zero_tail += sg.memsz - sg.filesz;
  auto& hf = info.header_fields;
  hf.emplace_back("format", format);
  hf.emplace_back("ELF class", L.is64 ? "ELF64" : "ELF32");
  hf.emplace_back("machine", fmt::format("{} (e_machine {})", machine_name(e_machine), e_machine));
  hf.emplace_back("program headers", fmt::format("{} ({} PT_LOAD, {} PT_NOTE)", e_phnum, segs.size(), note_segs.size()));
  hf.emplace_back("physical memory", fmt::format("{} bytes in {} ranges", hex(mem), info.ranges.size()));
  // makedumpfile -E leaves excluded pages as such tails.
  hf.emplace_back("zero-filled", fmt::format("{} bytes (p_memsz beyond p_filesz)", hex(zero_tail)));
  hf.emplace_back("page size", std::to_string(info.page_size));
  hf.emplace_back("cpus", std::to_string(info.nr_cpus));
  hf.emplace_back("notes", summarize_notes(info));
  hf.emplace_back("vmcoreinfo", info.vmcoreinfo.empty() ? "absent" : fmt::format("{} bytes", info.vmcoreinfo.size()));
  hf.emplace_back("incomplete", truncation.empty() ? "no" : "yes: " + truncation);

  return std::unique_ptr<Dump>(std::make_unique<ElfDump>(std::move(src), std::move(kept), std::move(info)));
}

}  // namespace coroner::dumpfmt
