// ByteSource: the bytes of one dump file, whatever holds them.
//
// The ELF and kdump readers never touch a file directly: they read through a ByteSource,
// which is a mapped file, a buffer in memory (tests, fuzzers), or the logical file that a
// makedumpfile "flattened" stream describes (see flattened.h). Header-sized regions are
// fetched as a ByteView (checked reads; zero-copy when the source holds them contiguously),
// page-sized data with read_upto().
//
//   auto src = TRY(dumpfmt::open_file_source("vmcore"));
//   std::vector<uint8_t> scratch;
//   ByteView ehdr = TRY(src->view(0, 64, "ELF header", scratch));
//   uint16_t machine = TRY(ehdr.u16(18, "e_machine"));
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/mapped_file.h"
#include "base/result.h"

namespace coroner::dumpfmt {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // The name used in error messages (the path as given, or a label for in-memory data).
  const std::string& name() const { return name_; }
  // The file this source reads, as given (DumpInfo::paths); differs from name() for a
  // derived source such as the logical file of a flattened stream.
  virtual const std::string& path() const { return name_; }
  // Bytes the source really holds: size() for a file; for a flattened stream, which may
  // describe a huge file of holes, its own length. Copies of source data (bitmaps, tables)
  // are capped by this, so a small input cannot make a reader allocate without bound.
  virtual uint64_t stored_bytes() const { return size_; }
  // Damage found while indexing the source (a flattened stream without its end marker);
  // empty when none. Readers report it and set DumpInfo::incomplete.
  virtual std::string damage() const { return {}; }
  // Logical size in bytes.
  uint64_t size() const { return size_; }

  // Copies up to out.size() bytes from offset `off`; returns how many were copied, which is
  // short only at the end of the source (0 when off >= size()).
  virtual size_t read_upto(uint64_t off, std::span<uint8_t> out) const = 0;

  // [off, off+len) as one span when the source holds it contiguously (always for a mapped
  // file), else an empty span. Callers fall back to read_upto() into their own buffer.
  virtual std::span<const uint8_t> contiguous(uint64_t off, uint64_t len) const = 0;

  // Hint that [off, off+len) will not be read again soon (after a one-pass scan of a whole
  // file): a mapped file drops those pages from the resident set. Reads stay correct.
  virtual void release(uint64_t /*off*/, uint64_t /*len*/) const {}

  // A checked view of [off, off+len); fails with a message naming `what` when the range is
  // not wholly inside the source. Uses `scratch` (resized, len bounded by size()) only when
  // the bytes are not contiguous.
  Result<ByteView> view(uint64_t off, uint64_t len, std::string_view what, std::vector<uint8_t>& scratch) const;

  // Copies exactly out.size() bytes or fails naming `what`.
  Result<void> read_exact(uint64_t off, std::span<uint8_t> out, std::string_view what) const;

 protected:
  ByteSource(std::string name, uint64_t size) : name_(std::move(name)), size_(size) {}
  std::string name_;
  uint64_t size_;
};

// A read-only mapping of a whole file.
class MappedSource final : public ByteSource {
 public:
  explicit MappedSource(std::unique_ptr<MappedFile> file)
      : ByteSource(file->path(), file->size()), file_(std::move(file)) {}
  size_t read_upto(uint64_t off, std::span<uint8_t> out) const override;
  std::span<const uint8_t> contiguous(uint64_t off, uint64_t len) const override;
  void release(uint64_t off, uint64_t len) const override { file_->release(off, len); }
  const MappedFile& file() const { return *file_; }

 private:
  std::unique_ptr<MappedFile> file_;
};

// Bytes in memory: borrowed (the caller keeps them alive) or owned.
class MemorySource final : public ByteSource {
 public:
  MemorySource(std::string name, std::span<const uint8_t> borrowed)
      : ByteSource(std::move(name), borrowed.size()), data_(borrowed) {}
  MemorySource(std::string name, std::vector<uint8_t> owned)
      : ByteSource(std::move(name), owned.size()), owned_(std::move(owned)), data_(owned_) {}
  size_t read_upto(uint64_t off, std::span<uint8_t> out) const override;
  std::span<const uint8_t> contiguous(uint64_t off, uint64_t len) const override;

 private:
  std::vector<uint8_t> owned_;
  std::span<const uint8_t> data_;
};

// How a dump file is read. `mapped` (the default): read-only mapping, zero-copy views, pages
// shared with the page cache but counted in the process's resident set as they are touched
// (with the kernel's fault-around, 64 KiB per touch). `pread`: explicit reads into the
// readers' own buffers, nothing of the file resident: the one-shot `coroner --dmesg` uses it,
// as makedumpfile reads.
enum class FileAccess { mapped, pread };

// Opens `path` read-only.
Result<std::unique_ptr<ByteSource>> open_file_source(const std::string& path, FileAccess access = FileAccess::mapped);

}  // namespace coroner::dumpfmt
