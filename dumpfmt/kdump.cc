// kdump-compressed reader ("KDUMP   " files written by makedumpfile, and by QEMU's
// dump-guest-memory -z/-l/-s through the flattened format), including split sets.
//
// Layout (makedumpfile's IMPLEMENTATION / diskdump_mod.h; LP64 sizes):
//   block 0                      disk_dump_header: signature, header_version, new_utsname,
//                                timeval, status, block_size, sub_hdr_size, bitmap_blocks,
//                                max_mapnr (32-bit), ..., nr_cpus
//   block 1 .. 1+sub_hdr_size    kdump_sub_header; fields appear by header_version:
//                                 1: phys_base, dump_level
//                                 2: split, start_pfn, end_pfn (makedumpfile 1.2.x --split)
//                                 3: offset/size_vmcoreinfo      4: offset/size_note
//                                 5: offset/size_eraseinfo
//                                 6: start_pfn_64, end_pfn_64, max_mapnr_64 (makedumpfile
//                                    1.5.4, for machines with more than 2^32 pages)
//   then bitmap_blocks blocks    1st bitmap (RAM pfns) then 2nd bitmap (dumped pfns)
//   then                         page_desc {off_t offset; u32 size; u32 flags; u64 page_flags}
//                                for each dumped pfn in order (of a split piece: each pfn
//                                of [start_pfn, end_pfn) set in the 2nd bitmap)
//   then                         page data, zlib (0x1), lzo (0x2), snappy (0x4), zstd (0x20,
//                                makedumpfile 1.7.0) or raw (size == block_size, no flag)
//
// Open reads the headers and the bitmaps only and builds a rank index over the 2nd bitmap
// (a cumulative count per 512 bits), so finding a page's descriptor is O(1). Pages are
// decompressed into a small direct-mapped cache; raw pages of a mapped file are not copied.
#include <algorithm>
#include <bit>
#include <cstring>
#include <ctime>

#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "dumpfmt/formats.h"
#include "dumpfmt/notes.h"

namespace coroner::dumpfmt {

namespace {

// disk_dump_header offsets (LP64: struct timeval is two 8-byte longs at 408).
constexpr uint64_t kHdrVersion = 8, kHdrUtsname = 12, kUtsLen = 65, kHdrTimestamp = 408, kHdrStatus = 424,
                   kHdrBlockSize = 428, kHdrSubHdrSize = 432, kHdrBitmapBlocks = 436, kHdrMaxMapnr = 440,
                   kHdrNrCpus = 460, kHdrSize = 464;
// kdump_sub_header offsets.
constexpr uint64_t kSubPhysBase = 0, kSubDumpLevel = 8, kSubSplit = 12, kSubStartPfn = 16, kSubEndPfn = 24,
                   kSubOffVmcoreinfo = 32, kSubSizeVmcoreinfo = 40, kSubOffNote = 48, kSubSizeNote = 56,
                   kSubOffEraseinfo = 64, kSubSizeEraseinfo = 72, kSubStartPfn64 = 80, kSubEndPfn64 = 88,
                   kSubMaxMapnr64 = 96, kSubSize = 104;
constexpr uint64_t kDescSize = 24;

constexpr uint32_t kStatusIncomplete = 0x8;       // DUMP_DH_COMPRESSED_INCOMPLETE
constexpr uint32_t kStatusExcludedVmemmap = 0x10;  // DUMP_DH_EXCLUDED_VMEMMAP
constexpr uint32_t kZlib = 0x1, kLzo = 0x2, kSnappy = 0x4, kZstd = 0x20;

constexpr uint64_t kRankBits = 512;  // bits per rank-index entry
constexpr size_t kMaxRanges = 1 << 16;

std::string utsfield(ByteView hdr, int i) {
  auto s = hdr.cstr(kHdrUtsname + kUtsLen * i, kUtsLen - 1);
  return s ? std::string(*s) : std::string();
}

std::string compression_name(uint32_t flags) {
  if (flags & kZlib) return "zlib";
  if (flags & kLzo) return "lzo";
  if (flags & kSnappy) return "snappy";
  if (flags & kZstd) return "zstd";
  return "raw";
}

bool is_32bit_machine(std::string_view m) {
  return m == "i386" || m == "i486" || m == "i586" || m == "i686" || m.starts_with("arm") || m == "mips" ||
         m == "ppc" || m == "s390";
}

// What one kdump file says about itself.
struct Header {
  int32_t version;
  std::string uts[6];  // sysname, nodename, release, version, machine, domainname
  int64_t tv_sec, tv_usec;
  uint32_t status;
  uint32_t block_size;
  uint32_t sub_hdr_size;
  uint32_t bitmap_blocks;
  uint64_t max_mapnr;
  int32_t nr_cpus;
  uint64_t phys_base = 0;
  int32_t dump_level = 0;
  bool split = false;
  uint64_t start_pfn = 0, end_pfn = 0;
  uint64_t off_vmcoreinfo = 0, size_vmcoreinfo = 0, off_note = 0, size_note = 0, off_eraseinfo = 0,
           size_eraseinfo = 0;
  std::vector<uint8_t> raw_header;  // the first kHdrSize bytes, to check split pieces belong together
};

// Direct-mapped by pfn. A slot remembers where its page's bytes are: its own buffer for a
// decompressed page, or the mapped file for a raw one (so a hot raw page skips the bitmap
// and descriptor lookups too).
struct PageCache {
  std::unique_ptr<uint8_t[]> data;     // not zeroed: a slot is read only after it is filled
  std::vector<uint64_t> tags;          // pfn held by each slot, kEmpty if none
  std::vector<const uint8_t*> where;   // the page's bytes
  uint32_t page_size = 0;
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  void init(uint32_t page_size_, size_t slots) {
    page_size = page_size_;
    data.reset(new uint8_t[slots * page_size]);
    tags.assign(slots, kEmpty);
    where.assign(slots, nullptr);
  }
  size_t slot(uint64_t pfn) const { return pfn % tags.size(); }
  uint8_t* slot_data(size_t s) { return data.get() + s * page_size; }
};

// One kdump file: a whole dump or one piece of a split set.
class KdumpFile {
 public:
  static Result<std::unique_ptr<KdumpFile>> open(std::unique_ptr<ByteSource> src);
  ~KdumpFile() {
    if (zstd_) ZSTD_freeDCtx(zstd_);
    if (zlib_ready_) inflateEnd(&zlib_);
  }

  const Header& header() const { return h_; }
  const ByteSource& source() const { return *src_; }
  uint64_t dumped_pages() const { return dumped_; }
  uint64_t ram_pages() const { return ram_; }
  uint64_t desc_table_offset() const { return desc_off_; }
  const std::vector<PhysRange>& ram_ranges() const { return ranges_; }
  bool ranges_too_fragmented() const { return ranges_capped_; }
  bool covers(uint64_t pfn) const { return pfn >= h_.start_pfn && pfn < h_.end_pfn; }

  // The bytes of page `pfn` (page_size of them), or why they cannot be had. `paddr` is the
  // address the caller asked for, for the error.
  Result<const uint8_t*> page(uint64_t pfn, uint64_t paddr);

  // Compression kinds of a sample of descriptors, for header_fields.
  std::string sample_compressions();

 private:
  explicit KdumpFile(std::unique_ptr<ByteSource> src) : src_(std::move(src)) {}
  Result<void> load_bitmaps();
  bool bit(const uint8_t* bm, uint64_t pfn) const { return (bm[pfn >> 3] >> (pfn & 7)) & 1; }
  uint64_t rank(uint64_t pfn) const;  // set bits of the 2nd bitmap below pfn
  Result<void> decompress(uint32_t flags, std::span<const uint8_t> in, uint8_t* out, uint64_t paddr, uint64_t data_off);

  std::unique_ptr<ByteSource> src_;
  Header h_;
  std::vector<uint8_t> bitmap_copy_;  // the bitmaps when the source does not hold them contiguously
  const uint8_t* bm1_ = nullptr;      // RAM pfns
  const uint8_t* bm2_ = nullptr;      // dumped pfns
  std::vector<uint64_t> rank_;        // rank_[i] = set bits of the 2nd bitmap below pfn i*kRankBits
  uint64_t rank_start_ = 0;           // rank(start_pfn): descriptors of this file start there
  uint64_t desc_off_ = 0;             // file offset of the descriptor table
  uint64_t dumped_ = 0, ram_ = 0;
  std::vector<PhysRange> ranges_;
  bool ranges_capped_ = false;
  PageCache cache_;
  std::vector<uint8_t> compressed_;  // one page of compressed data not contiguous in the source
  z_stream zlib_{};
  bool zlib_ready_ = false;
  ZSTD_DCtx* zstd_ = nullptr;
};

Result<Header> parse_header(const ByteSource& src) {
  const std::string& name = src.name();
  std::vector<uint8_t> scratch;
  ByteView hv = TRY(src.view(0, kHdrSize, "disk_dump_header", scratch));
  Header h;
  h.raw_header.assign(hv.span().begin(), hv.span().end());
  if (std::memcmp(hv.data(), "DISKDUMP", 8) == 0)
    return Error::make(Errc::unsupported, "{}: header at 0x0: the old diskdump format (\"DISKDUMP\") is not supported", name);
  h.version = static_cast<int32_t>(TRY(hv.u32(kHdrVersion, "header_version")));
  for (int i = 0; i < 6; ++i) h.uts[i] = utsfield(hv, i);
  if (is_32bit_machine(h.uts[4]))
    return Error::make(Errc::unsupported, "{}: header at 0x0: kdump of a 32-bit machine ({}) is not supported", name, h.uts[4]);
  h.tv_sec = static_cast<int64_t>(TRY(hv.u64(kHdrTimestamp, "timestamp")));
  h.tv_usec = static_cast<int64_t>(TRY(hv.u64(kHdrTimestamp + 8, "timestamp")));
  h.status = TRY(hv.u32(kHdrStatus, "status"));
  h.block_size = TRY(hv.u32(kHdrBlockSize, "block_size"));
  h.sub_hdr_size = TRY(hv.u32(kHdrSubHdrSize, "sub_hdr_size"));
  h.bitmap_blocks = TRY(hv.u32(kHdrBitmapBlocks, "bitmap_blocks"));
  h.max_mapnr = TRY(hv.u32(kHdrMaxMapnr, "max_mapnr"));
  h.nr_cpus = static_cast<int32_t>(TRY(hv.u32(kHdrNrCpus, "nr_cpus")));

  if (h.version < 1 || h.version > 64)
    return Error::make(Errc::unsupported, "{}: header at 0x0: header_version {} is not supported (1 to 6 are known)", name,
                       h.version);
  if (h.block_size < 512 || h.block_size > (1u << 20) || !std::has_single_bit(h.block_size))
    return Error::make(Errc::bad_data, "{}: header at 0x0: block_size {:#x} is not a power of two between 0x200 and 0x100000",
                       name, h.block_size);
  if (h.sub_hdr_size == 0)
    return Error::make(Errc::bad_data, "{}: header at 0x0: sub_hdr_size is 0 but a kdump file needs a sub-header", name);
  uint64_t sub_off = h.block_size;
  uint64_t sub_len = std::min<uint64_t>(uint64_t{h.sub_hdr_size} * h.block_size, kSubSize);
  if (!checked_add(sub_off, uint64_t{h.sub_hdr_size} * h.block_size) ||
      sub_off + uint64_t{h.sub_hdr_size} * h.block_size > src.size())
    return Error::make(Errc::bad_data, "{}: header at 0x0: sub_hdr_size {} blocks at {:#x} exceeds file size {:#x}", name,
                       h.sub_hdr_size, sub_off, src.size());
  ByteView sv = TRY(src.view(sub_off, sub_len, "kdump_sub_header", scratch));
  auto field = [&](uint64_t off, int min_version, const char* what) -> Result<uint64_t> {
    if (h.version < min_version) return uint64_t{0};
    return sv.u64(off, what);
  };
  h.phys_base = TRY(field(kSubPhysBase, 1, "phys_base"));
  if (h.version >= 1) h.dump_level = static_cast<int32_t>(TRY(sv.u32(kSubDumpLevel, "dump_level")));
  if (h.version >= 2) h.split = TRY(sv.u32(kSubSplit, "split")) != 0;
  h.start_pfn = TRY(field(kSubStartPfn, 2, "start_pfn"));
  h.end_pfn = TRY(field(kSubEndPfn, 2, "end_pfn"));
  h.off_vmcoreinfo = TRY(field(kSubOffVmcoreinfo, 3, "offset_vmcoreinfo"));
  h.size_vmcoreinfo = TRY(field(kSubSizeVmcoreinfo, 3, "size_vmcoreinfo"));
  h.off_note = TRY(field(kSubOffNote, 4, "offset_note"));
  h.size_note = TRY(field(kSubSizeNote, 4, "size_note"));
  h.off_eraseinfo = TRY(field(kSubOffEraseinfo, 5, "offset_eraseinfo"));
  h.size_eraseinfo = TRY(field(kSubSizeEraseinfo, 5, "size_eraseinfo"));
  if (h.version >= 6) {
    h.start_pfn = TRY(sv.u64(kSubStartPfn64, "start_pfn_64"));
    h.end_pfn = TRY(sv.u64(kSubEndPfn64, "end_pfn_64"));
    h.max_mapnr = TRY(sv.u64(kSubMaxMapnr64, "max_mapnr_64"));
  }
  if (!h.split) {
    h.start_pfn = 0;
    h.end_pfn = h.max_mapnr;
  } else if (h.start_pfn > h.end_pfn || h.end_pfn > h.max_mapnr) {
    // An empty range is valid: makedumpfile --split balances dumped pages, so the last
    // pieces can be left with none.
    return Error::make(Errc::bad_data, "{}: sub-header at {:#x}: split range [{:#x}, {:#x}) is reversed or beyond max_mapnr {:#x}",
                       name, sub_off, h.start_pfn, h.end_pfn, h.max_mapnr);
  }
  return h;
}

Result<std::unique_ptr<KdumpFile>> KdumpFile::open(std::unique_ptr<ByteSource> src) {
  static const bool lzo_ready = lzo_init() == LZO_E_OK;
  if (!lzo_ready) return Error::make(Errc::os, "lzo: lzo_init failed");
  Header h = TRY(parse_header(*src));
  std::unique_ptr<KdumpFile> f(new KdumpFile(std::move(src)));
  f->h_ = std::move(h);
  TRY(f->load_bitmaps());
  size_t slots = std::clamp<size_t>((1u << 20) / f->h_.block_size, 16, 256);
  f->cache_.init(f->h_.block_size, slots);
  f->compressed_.resize(f->h_.block_size);
  return f;
}

Result<void> KdumpFile::load_bitmaps() {
  const std::string& name = src_->name();
  const uint64_t bs = h_.block_size;
  uint64_t off = bs * (1 + uint64_t{h_.sub_hdr_size});
  uint64_t len = bs * uint64_t{h_.bitmap_blocks};
  auto end = checked_add(off, len);
  if (!end || *end > src_->size())
    return Error::make(Errc::bad_data, "{}: header at 0x0: bitmap at {:#x} of bitmap_blocks {} (size {:#x}) exceeds file size {:#x}",
                       name, off, h_.bitmap_blocks, len, src_->size());
  // Two bitmaps of half the area each; crash also reads dumps whose single bitmap is both.
  uint64_t need = h_.max_mapnr / 8 + (h_.max_mapnr % 8 != 0);  // no overflow for max_mapnr near 2^64
  bool two = len / 2 >= need;
  if (!two && len < need)
    return Error::make(Errc::bad_data, "{}: header at 0x0: max_mapnr {:#x} needs {:#x}-byte bitmaps but bitmap_blocks {} gives {:#x} bytes",
                       name, h_.max_mapnr, need, h_.bitmap_blocks, len);
  auto direct = src_->contiguous(off, len);
  if (direct.size() == len && len) {
    bm1_ = direct.data();
  } else {
    if (len > src_->stored_bytes())
      return Error::make(Errc::bad_data, "{}: header at 0x0: bitmap_blocks {} (size {:#x}) is larger than the {:#x} bytes the file holds",
                         name, h_.bitmap_blocks, len, src_->stored_bytes());
    bitmap_copy_.resize(len);
    if (src_->read_upto(off, bitmap_copy_) != len)
      return Error::make(Errc::bad_data, "{}: bitmap at {:#x} (size {:#x}): short read", name, off, len);
    bm1_ = bitmap_copy_.data();
  }
  bm2_ = two ? bm1_ + len / 2 : bm1_;
  desc_off_ = *end;

  // Rank index over the 2nd bitmap, and RAM ranges from the 1st, in one pass over words.
  uint64_t words = h_.max_mapnr / 64 + (h_.max_mapnr % 64 != 0);
  rank_.assign(words / (kRankBits / 64) + 2, 0);
  uint64_t count = 0, ram = 0;
  uint64_t run_start = 0;
  bool in_run = false;
  for (uint64_t w = 0; w < words; ++w) {
    if (w % (kRankBits / 64) == 0) rank_[w / (kRankBits / 64)] = count;
    uint64_t w2, w1;
    std::memcpy(&w2, bm2_ + w * 8, 8);
    std::memcpy(&w1, bm1_ + w * 8, 8);
    if (w == words - 1 && h_.max_mapnr % 64) {
      uint64_t mask = (uint64_t{1} << (h_.max_mapnr % 64)) - 1;
      w1 &= mask, w2 &= mask;
    }
    count += std::popcount(w2);
    ram += std::popcount(w1);
    if (ranges_capped_) continue;
    if ((w1 == ~uint64_t{0} && in_run) || (w1 == 0 && !in_run)) continue;
    for (int b = 0; b < 64; ++b) {
      bool set = (w1 >> b) & 1;
      if (set == in_run) continue;
      uint64_t pfn = w * 64 + b;
      if (set) {
        run_start = pfn;
      } else {
        if (ranges_.size() >= kMaxRanges) {
          ranges_capped_ = true;
          break;
        }
        ranges_.push_back(PhysRange{run_start * bs, pfn * bs});
      }
      in_run = set;
    }
  }
  rank_[words / (kRankBits / 64) + 1] = count;
  if (words % (kRankBits / 64) == 0) rank_[words / (kRankBits / 64)] = count;
  if (in_run && !ranges_capped_) ranges_.push_back(PhysRange{run_start * bs, h_.max_mapnr * bs});
  if (ranges_capped_) ranges_ = {PhysRange{0, h_.max_mapnr * bs}};
  ram_ = ram;
  rank_start_ = rank(h_.start_pfn);
  dumped_ = (h_.end_pfn >= h_.max_mapnr ? count : rank(h_.end_pfn)) - rank_start_;
  return ok();
}

uint64_t KdumpFile::rank(uint64_t pfn) const {
  if (pfn >= h_.max_mapnr) return rank_.back();
  uint64_t block = pfn / kRankBits;
  uint64_t r = rank_[block];
  uint64_t w = block * (kRankBits / 64), last = pfn / 64;
  for (; w < last; ++w) {
    uint64_t word;
    std::memcpy(&word, bm2_ + w * 8, 8);
    r += std::popcount(word);
  }
  if (pfn % 64) {
    uint64_t word;
    std::memcpy(&word, bm2_ + last * 8, 8);
    r += std::popcount(word & ((uint64_t{1} << (pfn % 64)) - 1));
  }
  return r;
}

Result<const uint8_t*> KdumpFile::page(uint64_t pfn, uint64_t paddr) {
  size_t slot = cache_.slot(pfn);
  if (cache_.tags[slot] == pfn) return cache_.where[slot];
  if (pfn >= h_.max_mapnr || !covers(pfn)) return not_in_dump(paddr);
  if (!bit(bm2_, pfn)) return bit(bm1_, pfn) ? page_excluded(paddr) : not_in_dump(paddr);

  const std::string& name = src_->name();
  const uint32_t bs = h_.block_size;
  uint64_t index = rank(pfn) - rank_start_;
  uint64_t desc_at = desc_off_ + index * kDescSize;
  uint8_t desc_buf[kDescSize];
  if (src_->read_upto(desc_at, desc_buf) != kDescSize) return dump_truncated(paddr, desc_at, name);
  uint64_t data_off;
  uint32_t size, flags;
  std::memcpy(&data_off, desc_buf, 8);
  std::memcpy(&size, desc_buf + 8, 4);
  std::memcpy(&flags, desc_buf + 12, 4);
  if (data_off == 0 || size == 0)  // an incomplete dump's descriptor that was never filled in
    return dump_truncated(paddr, desc_at, name);
  if (size > bs)
    return Error{Errc::bad_data,
                 fmt::format("{}: page descriptor {} at {:#x}: size {:#x} exceeds the page size {:#x} (physical address {:#x})",
                             name, index, desc_at, size, bs, paddr),
                 paddr};
  auto data_end = checked_add(data_off, size);
  if (!data_end || *data_end > src_->size()) return dump_truncated(paddr, data_off, name);

  std::span<const uint8_t> data = src_->contiguous(data_off, size);
  if (data.size() != size) {
    src_->read_upto(data_off, std::span(compressed_.data(), size));
    data = std::span<const uint8_t>(compressed_.data(), size);
  }
  uint8_t* out = cache_.slot_data(slot);
  if (flags & (kZlib | kLzo | kSnappy | kZstd)) {
    cache_.tags[slot] = PageCache::kEmpty;
    TRY(decompress(flags, data, out, paddr, data_off));
  } else {
    if (size != bs)
      return Error{Errc::bad_data,
                   fmt::format("{}: page descriptor {} at {:#x}: uncompressed page (flags {:#x}) of size {:#x}, expected {:#x} "
                               "(physical address {:#x})",
                               name, index, desc_at, flags, size, bs, paddr),
                   paddr};
    if (data.data() != compressed_.data()) {  // mapped raw page: no copy
      cache_.tags[slot] = pfn;
      return cache_.where[slot] = data.data();
    }
    std::memcpy(out, data.data(), bs);
  }
  cache_.tags[slot] = pfn;
  return cache_.where[slot] = out;
}

Result<void> KdumpFile::decompress(uint32_t flags, std::span<const uint8_t> in, uint8_t* out, uint64_t paddr,
                                   uint64_t data_off) {
  const uint32_t bs = h_.block_size;
  size_t produced = 0;
  std::string why;
  if (flags & kZlib) {
    if (!zlib_ready_) {
      if (inflateInit(&zlib_) != Z_OK) return Error::make(Errc::os, "zlib: inflateInit failed");
      zlib_ready_ = true;
    } else {
      inflateReset(&zlib_);
    }
    zlib_.next_in = const_cast<Bytef*>(in.data());
    zlib_.avail_in = static_cast<uInt>(in.size());
    zlib_.next_out = out;
    zlib_.avail_out = bs;
    int rc = inflate(&zlib_, Z_FINISH);
    produced = bs - zlib_.avail_out;
    if (rc != Z_STREAM_END) why = fmt::format("zlib error {}{}", rc, zlib_.msg ? fmt::format(" ({})", zlib_.msg) : "");
  } else if (flags & kLzo) {
    lzo_uint n = bs;
    int rc = lzo1x_decompress_safe(in.data(), in.size(), out, &n, nullptr);
    produced = n;
    if (rc != LZO_E_OK) why = fmt::format("lzo error {}", rc);
  } else if (flags & kSnappy) {
    size_t n = 0;
    if (snappy_uncompressed_length(reinterpret_cast<const char*>(in.data()), in.size(), &n) != SNAPPY_OK)
      why = "snappy: bad length header";
    else if (n != bs)
      why = fmt::format("snappy: uncompressed length {:#x}", n);
    else if (snappy_uncompress(reinterpret_cast<const char*>(in.data()), in.size(), reinterpret_cast<char*>(out), &n) !=
             SNAPPY_OK)
      why = "snappy: corrupt data";
    produced = n;
  } else {
    if (!zstd_ && !(zstd_ = ZSTD_createDCtx())) return Error::make(Errc::os, "zstd: cannot create a context");
    size_t n = ZSTD_decompressDCtx(zstd_, out, bs, in.data(), in.size());
    if (ZSTD_isError(n))
      why = fmt::format("zstd: {}", ZSTD_getErrorName(n));
    else
      produced = n;
  }
  if (why.empty() && produced != bs) why = fmt::format("produced {:#x} bytes, expected {:#x}", produced, bs);
  if (why.empty()) return ok();
  return Error{Errc::bad_data,
               fmt::format("{}: page data at {:#x} (size {:#x}): {} decompression failed: {} (physical address {:#x})",
                           src_->name(), data_off, in.size(), compression_name(flags), why, paddr),
               paddr};
}

std::string KdumpFile::sample_compressions() {
  // The first descriptors and some spread over the table: enough to name what was used
  // without reading every descriptor at open.
  constexpr uint64_t kSamples = 256;
  uint32_t seen = 0;
  bool raw = false;
  uint64_t n = std::min(dumped_, kSamples);
  for (uint64_t i = 0; i < 2 * n; ++i) {
    uint64_t index = i < n ? i : (i - n) * (dumped_ / n);
    uint8_t d[kDescSize];
    if (src_->read_upto(desc_off_ + index * kDescSize, d) != kDescSize) break;
    uint32_t size, flags;
    std::memcpy(&size, d + 8, 4);
    std::memcpy(&flags, d + 12, 4);
    uint32_t c = flags & (kZlib | kLzo | kSnappy | kZstd);
    if (c)
      seen |= c;
    else if (size)
      raw = true;
  }
  std::string s;
  for (uint32_t c : {kZlib, kLzo, kSnappy, kZstd})
    if (seen & c) s += fmt::format("{}{}", s.empty() ? "" : ", ", compression_name(c));
  if (raw) s += fmt::format("{}raw", s.empty() ? "" : ", ");
  return s.empty() ? "none seen" : s;
}

// ---- Dumps over one file or a split set --------------------------------------------------

class KdumpDump final : public Dump {
 public:
  KdumpDump(std::vector<std::unique_ptr<KdumpFile>> pieces, DumpInfo info) : pieces_(std::move(pieces)) {
    info_ = std::move(info);
    page_size_ = pieces_[0]->header().block_size;
    shift_ = static_cast<uint32_t>(std::countr_zero(page_size_));
  }

  Result<size_t> read_upto(uint64_t paddr, std::span<uint8_t> out) override {
    size_t done = 0;
    while (done < out.size()) {
      uint64_t addr = paddr + done;
      if (addr < paddr) break;
      uint64_t pfn = addr >> shift_;
      KdumpFile* f = piece(pfn);
      if (!f) {
        if (done) break;
        return not_in_dump(addr);
      }
      auto p = f->page(pfn, addr);
      if (!p) {
        if (done) break;
        return p.error();
      }
      uint64_t in_page = addr & (page_size_ - 1);
      size_t n = std::min<size_t>(out.size() - done, page_size_ - in_page);
      std::memcpy(out.data() + done, *p + in_page, n);
      done += n;
    }
    return done;
  }

 private:
  KdumpFile* piece(uint64_t pfn) {
    if (pieces_.size() == 1) return pieces_[0].get();
    if (pieces_[last_]->covers(pfn)) return pieces_[last_].get();
    for (size_t i = 0; i < pieces_.size(); ++i)
      if (pieces_[i]->covers(pfn)) return pieces_[last_ = i].get();
    return nullptr;
  }

  std::vector<std::unique_ptr<KdumpFile>> pieces_;  // sorted by start_pfn
  uint32_t page_size_;
  uint32_t shift_;
  size_t last_ = 0;
};

std::string status_text(uint32_t status) {
  std::string s = fmt::format("{:#x}", status);
  if (status & kStatusIncomplete) s += " incomplete";
  if (status & kStatusExcludedVmemmap) s += " excluded-vmemmap";
  for (uint32_t c : {kZlib, kLzo, kSnappy, kZstd})
    if (status & c) s += " " + compression_name(c);
  return s;
}

// Notes, vmcoreinfo and header fields of `f` into `info`.
Result<void> describe(KdumpFile& f, DumpInfo& info) {
  const Header& h = f.header();
  const ByteSource& src = f.source();
  std::vector<uint8_t> scratch;
  if (h.size_vmcoreinfo) {
    if (h.size_vmcoreinfo > kMaxNotesBytes)
      return Error::make(Errc::out_of_bounds, "{}: sub-header at {:#x}: size_vmcoreinfo {:#x} exceeds the limit {:#x}",
                         src.name(), h.block_size, h.size_vmcoreinfo, kMaxNotesBytes);
    ByteView v = TRY(src.view(h.off_vmcoreinfo, h.size_vmcoreinfo, "vmcoreinfo", scratch));
    std::string text(v.span().begin(), v.span().end());
    while (!text.empty() && text.back() == '\0') text.pop_back();
    info.vmcoreinfo = std::move(text);
  }
  if (h.size_note) {
    if (h.size_note > kMaxNotesBytes)
      return Error::make(Errc::out_of_bounds, "{}: sub-header at {:#x}: size_note {:#x} exceeds the limit {:#x}", src.name(),
                         h.block_size, h.size_note, kMaxNotesBytes);
    ByteView v = TRY(src.view(h.off_note, h.size_note, "notes", scratch));
    TRY(parse_notes(v, "kdump notes", info));
  }
  if (h.size_eraseinfo && h.size_eraseinfo > kMaxNotesBytes)
    return Error::make(Errc::out_of_bounds, "{}: sub-header at {:#x}: size_eraseinfo {:#x} exceeds the limit {:#x}",
                       src.name(), h.block_size, h.size_eraseinfo, kMaxNotesBytes);
  info.machine = machine_from_uts(h.uts[4]);
  info.page_size = h.block_size;
  info.timestamp = h.tv_sec;
  info.phys_base = h.phys_base;
  info.nr_cpus = h.nr_cpus > 0 ? static_cast<uint32_t>(h.nr_cpus) : 0;
  count_cpu_notes(info);
  info.incomplete = (h.status & kStatusIncomplete) != 0;
  return ok();
}

std::string utc(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (!gmtime_r(&tt, &tm)) return std::to_string(t);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

void add_header_fields(DumpInfo& info, const std::vector<std::unique_ptr<KdumpFile>>& pieces, std::string_view damage) {
  KdumpFile& f = *pieces[0];
  const Header& h = f.header();
  uint64_t dumped = 0;
  for (auto& p : pieces) dumped += p->dumped_pages();
  auto& hf = info.header_fields;
  hf.emplace_back("format", info.format);
  hf.emplace_back("header version", std::to_string(h.version));
  hf.emplace_back("machine", fmt::format("{} (e_machine {})", h.uts[4], info.machine));
  hf.emplace_back("release", h.uts[2]);
  hf.emplace_back("version", h.uts[3]);
  hf.emplace_back("nodename", h.uts[1]);
  hf.emplace_back("timestamp", fmt::format("{}.{:06} ({})", h.tv_sec, h.tv_usec, utc(h.tv_sec)));
  hf.emplace_back("status", status_text(h.status));
  hf.emplace_back("page size", std::to_string(h.block_size));
  hf.emplace_back("compression", f.sample_compressions());
  hf.emplace_back("dump level", std::to_string(h.dump_level));
  info.dump_level = static_cast<uint32_t>(h.dump_level);
  hf.emplace_back("phys_base", hex(h.phys_base));
  hf.emplace_back("max_mapnr", fmt::format("{} ({:#x})", h.max_mapnr, h.max_mapnr));
  hf.emplace_back("RAM pages", std::to_string(f.ram_pages()));
  hf.emplace_back("dumped pages", std::to_string(dumped));
  hf.emplace_back("bitmap", fmt::format("{} blocks at {:#x}", h.bitmap_blocks, uint64_t{h.block_size} * (1 + h.sub_hdr_size)));
  hf.emplace_back("page descriptors at", hex(f.desc_table_offset()));
  if (pieces.size() > 1 || h.split) {
    std::string s;
    for (auto& p : pieces)
      s += fmt::format("{}{} [{:#x}, {:#x})", s.empty() ? "" : "; ", p->source().path(), p->header().start_pfn,
                       p->header().end_pfn);
    hf.emplace_back("split", s);
  }
  hf.emplace_back("cpus", std::to_string(info.nr_cpus));
  hf.emplace_back("notes", summarize_notes(info));
  hf.emplace_back("vmcoreinfo", info.vmcoreinfo.empty() ? "absent" : fmt::format("{} bytes", info.vmcoreinfo.size()));
  hf.emplace_back("eraseinfo", h.size_eraseinfo ? fmt::format("{} bytes at {:#x}", h.size_eraseinfo, h.off_eraseinfo) : "absent");
  if (f.ranges_too_fragmented()) hf.emplace_back("RAM ranges", "too fragmented to list; reported as one range");
  std::string inc = info.incomplete ? "yes" : "no";
  if (h.status & kStatusIncomplete) inc += ": header status says DUMP_DH_COMPRESSED_INCOMPLETE";
  if (!damage.empty()) inc += fmt::format("{}{}", info.incomplete && (h.status & kStatusIncomplete) ? "; " : ": ", damage);
  hf.emplace_back("incomplete", inc);
}

}  // namespace

bool probe_kdump(std::span<const uint8_t> head) {
  return head.size() >= 8 && (std::memcmp(head.data(), "KDUMP   ", 8) == 0 || std::memcmp(head.data(), "DISKDUMP", 8) == 0);
}

Result<std::unique_ptr<Dump>> open_kdump(std::unique_ptr<ByteSource> src, std::string format) {
  std::string damage = src->damage();
  std::string path = src->path();
  auto f = TRY(KdumpFile::open(std::move(src)));
  DumpInfo info;
  info.format = std::move(format);
  info.paths = {path};
  TRY(describe(*f, info));
  // A descriptor table running past the end: the dump was cut short (disk full, copy
  // interrupted). Reads of the missing pages say so.
  uint64_t desc_end = f->desc_table_offset() + f->dumped_pages() * kDescSize;
  if (desc_end > f->source().size() && damage.empty())
    damage = fmt::format("page descriptors end at {:#x}, beyond the file size {:#x}", desc_end, f->source().size());
  if (f->header().split)
    damage += fmt::format("{}this file is one piece of a split dump: pfns [{:#x}, {:#x}) only", damage.empty() ? "" : "; ",
                          f->header().start_pfn, f->header().end_pfn);
  if (!damage.empty()) info.incomplete = true;
  info.ranges = f->ram_ranges();
  merge_ranges(info.ranges);
  std::vector<std::unique_ptr<KdumpFile>> pieces;
  pieces.push_back(std::move(f));
  add_header_fields(info, pieces, damage);
  return std::unique_ptr<Dump>(std::make_unique<KdumpDump>(std::move(pieces), std::move(info)));
}

Result<std::unique_ptr<Dump>> open_split_kdump(std::vector<std::unique_ptr<ByteSource>> srcs) {
  std::vector<std::string> paths;
  std::string damage;
  std::vector<std::unique_ptr<KdumpFile>> pieces;
  for (auto& s : srcs) {
    paths.push_back(s->path());
    if (auto d = s->damage(); !d.empty()) damage += fmt::format("{}{}: {}", damage.empty() ? "" : "; ", s->name(), d);
    pieces.push_back(TRY(KdumpFile::open(std::move(s))));
  }
  // Every piece must be a split piece of the same dump.
  const Header& h0 = pieces[0]->header();
  for (auto& p : pieces) {
    const Header& h = p->header();
    if (!h.split)
      return Error::make(Errc::mismatch, "{}: sub-header at {:#x}: not a piece of a split dump (split flag 0); "
                         "several files can be opened together only when made by makedumpfile --split",
                         p->source().name(), h.block_size);
    bool same = h.version == h0.version && h.block_size == h0.block_size && h.max_mapnr == h0.max_mapnr &&
                h.tv_sec == h0.tv_sec && h.tv_usec == h0.tv_usec && h.nr_cpus == h0.nr_cpus &&
                std::equal(std::begin(h.uts), std::end(h.uts), std::begin(h0.uts));
    if (!same)
      return Error::make(Errc::mismatch,
                         "split dump: {} and {} come from different dumps (header version, page size, max_mapnr, "
                         "utsname or timestamp differ)",
                         pieces[0]->source().name(), p->source().name());
  }
  std::sort(pieces.begin(), pieces.end(), [](auto& a, auto& b) { return a->header().start_pfn < b->header().start_pfn; });
  std::string gaps;
  uint64_t expect = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const Header& h = pieces[i]->header();
    if (i && h.start_pfn < pieces[i - 1]->header().end_pfn)
      return Error::make(Errc::mismatch, "split dump: {} (pfns [{:#x}, {:#x})) overlaps {} (pfns [{:#x}, {:#x}))",
                         pieces[i]->source().name(), h.start_pfn, h.end_pfn, pieces[i - 1]->source().name(),
                         pieces[i - 1]->header().start_pfn, pieces[i - 1]->header().end_pfn);
    if (h.start_pfn > expect) gaps += fmt::format("{}[{:#x}, {:#x})", gaps.empty() ? "" : ", ", expect, h.start_pfn);
    expect = h.end_pfn;
  }
  if (expect < h0.max_mapnr) gaps += fmt::format("{}[{:#x}, {:#x})", gaps.empty() ? "" : ", ", expect, h0.max_mapnr);

  DumpInfo info;
  info.format = "split kdump";
  info.paths = std::move(paths);
  // Every piece carries the notes and vmcoreinfo; the first piece's are used.
  TRY(describe(*pieces[0], info));
  for (auto& p : pieces) {
    if (p->header().status & kStatusIncomplete) info.incomplete = true;
    uint64_t desc_end = p->desc_table_offset() + p->dumped_pages() * kDescSize;
    if (desc_end > p->source().size())
      damage += fmt::format("{}{}: page descriptors end at {:#x}, beyond the file size {:#x}", damage.empty() ? "" : "; ",
                            p->source().name(), desc_end, p->source().size());
  }
  if (!gaps.empty())
    damage += fmt::format("{}pfns {} are in no piece (a piece not given?)", damage.empty() ? "" : "; ", gaps);
  if (!damage.empty()) info.incomplete = true;
  info.ranges = pieces[0]->ram_ranges();
  merge_ranges(info.ranges);
  add_header_fields(info, pieces, damage);
  return std::unique_ptr<Dump>(std::make_unique<KdumpDump>(std::move(pieces), std::move(info)));
}

}  // namespace coroner::dumpfmt
