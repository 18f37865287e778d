#include "dumpfmt/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace coroner::dumpfmt {
namespace {

// A file read with pread(2): nothing mapped, so nothing of it counts as resident.
class PreadSource final : public ByteSource {
 public:
  PreadSource(std::string path, int fd, uint64_t size) : ByteSource(std::move(path), size), fd_(fd) {}
  ~PreadSource() override { ::close(fd_); }
  PreadSource(const PreadSource&) = delete;
  PreadSource& operator=(const PreadSource&) = delete;
  const std::string& path() const override { return name_; }
  size_t read_upto(uint64_t off, std::span<uint8_t> out) const override {
    if (off >= size_) return 0;
    size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), size_ - off)), done = 0;
    while (done < want) {
      ssize_t n = ::pread(fd_, out.data() + done, want - done, static_cast<off_t>(off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // an I/O error or a file that shrank: a short read the caller reports
      done += static_cast<size_t>(n);
    }
    return done;
  }
  std::span<const uint8_t> contiguous(uint64_t, uint64_t) const override { return {}; }

 private:
  int fd_;
};

Result<std::unique_ptr<ByteSource>> open_pread_source(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::make(Errc::os, "{}: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Error::make(Errc::os, "{}: {}", path, std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {  // the same message as a mapped file's
    ::close(fd);
    return Error::make(Errc::os, "{}: is a directory", path);
  }
  return std::unique_ptr<ByteSource>(std::make_unique<PreadSource>(path, fd, static_cast<uint64_t>(st.st_size)));
}

}  // namespace

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

Result<std::unique_ptr<ByteSource>> open_file_source(const std::string& path, FileAccess access) {
  if (access == FileAccess::pread) return open_pread_source(path);
  auto file = TRY(MappedFile::open(path));
  return std::unique_ptr<ByteSource>(std::make_unique<MappedSource>(std::move(file)));
}

}  // namespace coroner::dumpfmt
