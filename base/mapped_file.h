// A read-only memory mapping of a whole file. Dumps and vmlinux files are never written.
//
//   auto f = TRY(MappedFile::open("vmcore"));
//   ByteView v = f->view();   // errors name "vmcore"
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/bytes.h"
#include "base/result.h"

namespace coroner {

class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  ByteView view() const { return ByteView(bytes(), path_, 0); }
  // Hint that [off, off+len) will be read sequentially (madvise); failures are ignored.
  void advise_sequential(uint64_t off, uint64_t len) const;
  // Hint that [off, off+len) is not needed again soon: its pages leave this process's
  // resident set (they stay in the page cache; a later read maps them again).
  void release(uint64_t off, uint64_t len) const;

 private:
  MappedFile(std::string path, const uint8_t* data, uint64_t size) : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  uint64_t size_;
};

}  // namespace coroner
