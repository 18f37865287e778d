#include "dumpfmt/flattened.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

namespace coroner::dumpfmt {

namespace {

constexpr char kSignature[] = "makedumpfile";  // in a 16-byte field, NUL padded
constexpr uint64_t kRecordHeaderSize = 16;

uint64_t be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

struct Piece {
  uint64_t logical;  // offset in the rebuilt file
  uint64_t size;
  uint64_t raw;      // offset of the data in the flattened stream
};

class FlattenedSource final : public ByteSource {
 public:
  FlattenedSource(std::unique_ptr<ByteSource> raw, std::vector<Piece> pieces, uint64_t size, std::string damage)
      : ByteSource(raw->name() + " (unflattened)", size),
        raw_(std::move(raw)),
        pieces_(std::move(pieces)),
        damage_(std::move(damage)) {}

  const std::string& path() const override { return raw_->path(); }
  std::string damage() const override { return damage_; }
  uint64_t stored_bytes() const override { return raw_->size(); }

  size_t read_upto(uint64_t off, std::span<uint8_t> out) const override {
    if (off >= size_) return 0;
    size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), size_ - off));
    size_t done = 0;
    while (done < want) {
      uint64_t at = off + done;
      size_t i = find(at);
      if (i < pieces_.size() && at >= pieces_[i].logical) {
        const Piece& p = pieces_[i];
        uint64_t n = std::min<uint64_t>(want - done, p.logical + p.size - at);
        size_t got = raw_->read_upto(p.raw + (at - p.logical), out.subspan(done, n));
        done += got;
        if (got < n) break;  // the raw stream is shorter than indexed: cannot happen after open
      } else {
        // A hole: zeros up to the next piece.
        uint64_t next = i < pieces_.size() ? pieces_[i].logical : size_;
        uint64_t n = std::min<uint64_t>(want - done, next - at);
        std::memset(out.data() + done, 0, n);
        done += n;
      }
    }
    return done;
  }

  std::span<const uint8_t> contiguous(uint64_t off, uint64_t len) const override {
    size_t i = find(off);
    if (i >= pieces_.size() || off < pieces_[i].logical) return {};
    const Piece& p = pieces_[i];
    if (len > p.logical + p.size - off) return {};
    return raw_->contiguous(p.raw + (off - p.logical), len);
  }

 private:
  // Index of the piece containing `off`, else of the first piece after it (size() if none).
  size_t find(uint64_t off) const {
    if (last_ < pieces_.size() && off - pieces_[last_].logical < pieces_[last_].size) return last_;
    auto it = std::upper_bound(pieces_.begin(), pieces_.end(), off,
                               [](uint64_t o, const Piece& p) { return o < p.logical; });
    if (it != pieces_.begin() && off - std::prev(it)->logical < std::prev(it)->size) --it;
    size_t i = static_cast<size_t>(it - pieces_.begin());
    if (i < pieces_.size() && off >= pieces_[i].logical) last_ = i;
    return i;
  }

  std::unique_ptr<ByteSource> raw_;
  std::vector<Piece> pieces_;  // sorted by logical offset, disjoint
  std::string damage_;
  mutable size_t last_ = 0;  // last piece hit: sequential and repeated reads skip the search
};

// Records in stream order -> disjoint sorted pieces, later records overwriting earlier ones.
std::vector<Piece> resolve_overlaps(std::vector<Piece> records) {
  std::vector<Piece> sorted = records;
  std::stable_sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.logical < b.logical; });
  bool disjoint = true;
  for (size_t i = 1; i < sorted.size() && disjoint; ++i)
    disjoint = sorted[i].logical >= sorted[i - 1].logical + sorted[i - 1].size;
  if (disjoint) return sorted;

  std::map<uint64_t, Piece> map;  // by logical start
  for (const Piece& r : records) {
    uint64_t start = r.logical, end = r.logical + r.size;
    auto it = map.lower_bound(start);
    if (it != map.begin()) {
      auto prev = std::prev(it);
      if (prev->second.logical + prev->second.size > start) it = prev;
    }
    std::vector<Piece> keep;
    while (it != map.end() && it->second.logical < end) {
      const Piece& p = it->second;
      uint64_t p_end = p.logical + p.size;
      if (p.logical < start) keep.push_back(Piece{p.logical, start - p.logical, p.raw});
      if (p_end > end) keep.push_back(Piece{end, p_end - end, p.raw + (end - p.logical)});
      it = map.erase(it);
    }
    for (auto& k : keep) map.emplace(k.logical, k);
    map.emplace(start, r);
  }
  std::vector<Piece> out;
  out.reserve(map.size());
  for (auto& [k, p] : map) out.push_back(p);
  return out;
}

}  // namespace

bool probe_flattened(std::span<const uint8_t> head) {
  return head.size() >= 16 && std::memcmp(head.data(), kSignature, sizeof kSignature - 1) == 0 &&
         std::all_of(head.begin() + (sizeof kSignature - 1), head.begin() + 16, [](uint8_t c) { return c == 0; });
}

Result<std::unique_ptr<ByteSource>> open_flattened_source(std::unique_ptr<ByteSource> raw) {
  const std::string& name = raw->name();
  std::vector<uint8_t> scratch;
  ByteView hdr = TRY(raw->view(0, 32, "flattened header", scratch));
  if (!probe_flattened(hdr.span()))
    return Error::make(Errc::bad_data, "{}: flattened header at 0x0: signature is not \"makedumpfile\"", name);
  uint64_t type = be64(hdr.data() + 16), version = be64(hdr.data() + 24);
  if (type != 1)
    return Error::make(Errc::unsupported, "{}: flattened header at 0x0: type {} is not TYPE_FLAT_HEADER (1)", name, type);
  if (version != 1)
    return Error::make(Errc::unsupported, "{}: flattened header at 0x0: version {} is not supported (only 1)", name,
                       version);
  if (raw->size() < kFlatHeaderSize)
    return Error::make(Errc::bad_data, "{}: flattened header at 0x0: file size {:#x} is smaller than the {:#x}-byte header",
                       name, raw->size(), kFlatHeaderSize);

  std::vector<Piece> records;
  std::string damage;
  uint64_t pos = kFlatHeaderSize, logical_size = 0;
  bool ended = false;
  // The scan touches every page of the stream; let each scanned window go from the resident
  // set, or a flattened dump's whole size would count against this process.
  constexpr uint64_t kReleaseWindow = 1ull << 20;
  uint64_t released = 0;
  while (pos < raw->size()) {
    if (pos - released >= kReleaseWindow) {
      raw->release(released, pos - released);
      released = pos;
    }
    uint8_t rh[kRecordHeaderSize];
    if (raw->read_upto(pos, rh) != kRecordHeaderSize) {
      damage = fmt::format("flattened stream ends inside a record header at {:#x}", pos);
      break;
    }
    int64_t off = static_cast<int64_t>(be64(rh)), size = static_cast<int64_t>(be64(rh + 8));
    if (off == -1 && size == -1) {
      ended = true;
      break;
    }
    if (off < 0 || size < 0)
      return Error::make(Errc::bad_data, "{}: flattened record at {:#x}: negative offset {} or size {}", name, pos, off,
                         size);
    uint64_t data = pos + kRecordHeaderSize;
    uint64_t avail = raw->size() - std::min(raw->size(), data);
    uint64_t usize = static_cast<uint64_t>(size);
    if (!checked_add(static_cast<uint64_t>(off), usize))
      return Error::make(Errc::bad_data, "{}: flattened record at {:#x}: offset {:#x} + size {:#x} overflows", name, pos,
                         off, usize);
    if (usize > avail) {
      damage = fmt::format("flattened record at {:#x} (offset {:#x}, size {:#x}) is cut off by the end of the file at {:#x}",
                           pos, off, usize, raw->size());
      usize = avail;
    }
    if (usize) {
      records.push_back(Piece{static_cast<uint64_t>(off), usize, data});
      logical_size = std::max(logical_size, static_cast<uint64_t>(off) + usize);
    }
    if (!damage.empty()) break;
    pos = data + usize;
  }
  raw->release(released, pos - released);
  if (!ended && damage.empty()) damage = fmt::format("flattened stream has no end marker (file size {:#x})", raw->size());
  if (records.empty())
    return Error::make(Errc::bad_data, "{}: flattened stream at {:#x}: no data records", name, kFlatHeaderSize);
  auto pieces = resolve_overlaps(std::move(records));
  return std::unique_ptr<ByteSource>(
      std::make_unique<FlattenedSource>(std::move(raw), std::move(pieces), logical_size, std::move(damage)));
}

}  // namespace coroner::dumpfmt
