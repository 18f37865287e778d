// Checked access to bytes that came from a file or from kernel memory.
//
// A ByteView is a bounded span plus a name and base offset for error messages; every read
// fails (never reads past the end) when the data is short, and offsets are overflow-checked.
//
//   ByteView v(mapped.bytes(), "vmcore", 0);
//   uint32_t magic = TRY(v.u32(0));
//   ByteView hdr = TRY(v.sub(0x40, 0x38, "program header"));
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"

namespace coroner {

// a + b, or nullopt on overflow.
inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}
inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

class ByteView {
 public:
  ByteView() = default;
  // `name` names the source ("vmcore", "vmlinux .BTF"); `base` is the offset of data[0]
  // within that source, so errors report offsets the user can find with a hex dump.
  ByteView(std::span<const uint8_t> data, std::string_view name, uint64_t base = 0)
      : data_(data), name_(name), base_(base) {}

  size_t size() const { return data_.size(); }
  const uint8_t* data() const { return data_.data(); }
  std::span<const uint8_t> span() const { return data_; }
  std::string_view name() const { return name_; }
  uint64_t base() const { return base_; }

  // A sub-view of [off, off+len); `what` names the field for the error message.
  Result<ByteView> sub(uint64_t off, uint64_t len, std::string_view what) const {
    auto end = checked_add(off, len);
    if (!end || *end > data_.size())
      return Error::make(Errc::bad_data, "{}: {} at offset {:#x} (size {:#x}) extends past the end at {:#x}",
                         name_, what, base_ + off, len, base_ + data_.size());
    return ByteView(data_.subspan(off, len), name_, base_ + off);
  }

  template <typename T>
  Result<T> read(uint64_t off, std::string_view what = "field") const {
    static_assert(std::is_trivially_copyable_v<T>);
    auto end = checked_add(off, sizeof(T));
    if (!end || *end > data_.size())
      return Error::make(Errc::bad_data, "{}: {} at offset {:#x} is past the end ({:#x} bytes)", name_,
                         what, base_ + off, base_ + data_.size());
    T v;
    std::memcpy(&v, data_.data() + off, sizeof(T));
    return v;
  }
  Result<uint8_t> u8(uint64_t off, std::string_view what = "field") const { return read<uint8_t>(off, what); }
  Result<uint16_t> u16(uint64_t off, std::string_view what = "field") const { return read<uint16_t>(off, what); }
  Result<uint32_t> u32(uint64_t off, std::string_view what = "field") const { return read<uint32_t>(off, what); }
  Result<uint64_t> u64(uint64_t off, std::string_view what = "field") const { return read<uint64_t>(off, what); }

  // NUL-terminated string starting at off, at most max_len bytes (no terminator needed there).
  Result<std::string_view> cstr(uint64_t off, size_t max_len, std::string_view what = "string") const {
    if (off > data_.size())
      return Error::make(Errc::bad_data, "{}: {} at offset {:#x} is past the end", name_, what, base_ + off);
    size_t avail = std::min<uint64_t>(data_.size() - off, max_len);
    const char* p = reinterpret_cast<const char*>(data_.data() + off);
    size_t n = strnlen(p, avail);
    return std::string_view(p, n);
  }

 private:
  std::span<const uint8_t> data_;
  std::string_view name_;
  uint64_t base_ = 0;
};

}  // namespace coroner
