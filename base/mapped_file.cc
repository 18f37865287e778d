#include "base/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace coroner {

Result<std::unique_ptr<MappedFile>> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::make(Errc::os, "{}: {}", path, std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Error::make(Errc::os, "{}: {}", path, std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Error::make(Errc::os, "{}: is a directory", path);
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint8_t* data = nullptr;
  if (size > 0) {
    void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return Error::make(Errc::os, "{}: mmap: {}", path, std::strerror(e));
    }
    data = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return std::unique_ptr<MappedFile>(new MappedFile(path, data, size));
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::advise_sequential(uint64_t off, uint64_t len) const {
  if (!data_ || off >= size_) return;
  long page = sysconf(_SC_PAGESIZE);
  uint64_t start = off & ~static_cast<uint64_t>(page - 1);
  uint64_t end = std::min(size_, off + len);
  // Advice values are not flags: two calls.
  madvise(const_cast<uint8_t*>(data_) + start, end - start, MADV_SEQUENTIAL);
  madvise(const_cast<uint8_t*>(data_) + start, end - start, MADV_WILLNEED);
}

void MappedFile::release(uint64_t off, uint64_t len) const {
  if (!data_ || off >= size_) return;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t start = (off + page - 1) & ~(page - 1);  // whole pages inside the range only
  uint64_t end = std::min(size_, off + len) & ~(page - 1);
  if (end > start) madvise(const_cast<uint8_t*>(data_) + start, end - start, MADV_DONTNEED);
}

}  // namespace coroner
