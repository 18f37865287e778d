#include "dumpfmt/byte_source.h"

#include <algorithm>
#include <cstring>

namespace coroner::dumpfmt {

Result<ByteView> ByteSource::view(uint64_t off, uint64_t len, std::string_view what,
                                  std::vector<uint8_t>& scratch) const {
  auto end = checked_add(off, len);
  if (!end || *end > size_)
    return Error::make(Errc::bad_data, "{}: {} at {:#x} (size {:#x}) extends past the end of the file at {:#x}", name_,
                       what, off, len, size_);
  auto direct = contiguous(off, len);
  if (direct.size() == len) return ByteView(direct, name_, off);
  if (len > stored_bytes())
    return Error::make(Errc::bad_data, "{}: {} at {:#x} (size {:#x}) is larger than the {:#x} bytes the file holds", name_,
                       what, off, len, stored_bytes());
  scratch.resize(len);
  size_t n = read_upto(off, scratch);
  if (n != len)  // cannot happen for a well-behaved source; report rather than trust it
    return Error::make(Errc::bad_data, "{}: {} at {:#x}: short read ({:#x} of {:#x} bytes)", name_, what, off, n, len);
  return ByteView(std::span<const uint8_t>(scratch), name_, off);
}

Result<void> ByteSource::read_exact(uint64_t off, std::span<uint8_t> out, std::string_view what) const {
  size_t n = read_upto(off, out);
  if (n != out.size())
    return Error::make(Errc::bad_data, "{}: {} at {:#x} (size {:#x}) extends past the end of the file at {:#x}", name_,
                       what, off, out.size(), size_);
  return ok();
}

size_t MappedSource::read_upto(uint64_t off, std::span<uint8_t> out) const {
  if (off >= size_) return 0;
  size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), size_ - off));
  std::memcpy(out.data(), file_->bytes().data() + off, n);
  return n;
}

std::span<const uint8_t> MappedSource::contiguous(uint64_t off, uint64_t len) const {
  if (off > size_ || len > size_ - off) return {};
  return file_->bytes().subspan(off, len);
}

size_t MemorySource::read_upto(uint64_t off, std::span<uint8_t> out) const {
  if (off >= size_) return 0;
  size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), size_ - off));
  if (n) std::memcpy(out.data(), data_.data() + off, n);
  return n;
}

std::span<const uint8_t> MemorySource::contiguous(uint64_t off, uint64_t len) const {
  if (off > size_ || len > size_ - off) return {};
  return data_.subspan(off, len);
}

Result<std::unique_ptr<ByteSource>> open_file_source(const std::string& path) {
  auto file = TRY(MappedFile::open(path));
  return std::unique_ptr<ByteSource>(std::make_unique<MappedSource>(std::move(file)));
}

}  // namespace coroner::dumpfmt
