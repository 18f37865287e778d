#include "shell/file_kind.h"

#include <elf.h>

#include <cstdio>
#include <cstring>

namespace coroner::shell {

FileKind classify(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return FileKind::missing;
  unsigned char hdr[64] = {};
  const size_t got = std::fread(hdr, 1, sizeof hdr, f);
  FileKind kind = FileKind::dump;
  // A bzImage (vmlinuz): "MZ", and the boot protocol's "HdrS" at 0x202.
  if (got >= 2 && hdr[0] == 'M' && hdr[1] == 'Z') {
    char magic[4] = {};
    if (std::fseek(f, 0x202, SEEK_SET) == 0 && std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "HdrS", 4) == 0)
      kind = FileKind::bzimage;
  }
  if (got >= 18 && std::memcmp(hdr, "\177ELF", 4) == 0) {
    uint16_t type = static_cast<uint16_t>(hdr[16] | (hdr[17] << 8));
    if (hdr[5] == ELFDATA2MSB) type = static_cast<uint16_t>((hdr[16] << 8) | hdr[17]);
    if (type == ET_EXEC || type == ET_DYN || type == ET_REL) kind = FileKind::vmlinux;
  }
  std::fclose(f);
  return kind;
}

}  // namespace coroner::shell
