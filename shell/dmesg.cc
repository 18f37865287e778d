#include "shell/dmesg.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/core.h>

#include "dumpfmt/byte_source.h"
#include "dumpfmt/dump.h"
#include "shell/file_kind.h"

namespace coroner::shell {

const char* const kDmesgUsage =
    "usage: coroner --dmesg DUMP [DUMP...] [VMLINUX] [-o FILE|-]\n"
    "  prints the kernel log of the dump (makedumpfile --dump-dmesg's text); the dump's\n"
    "  VMCOREINFO is enough on 5.10 and later kernels, older ones need the VMLINUX\n";

int dmesg_main(int argc, char** argv, LogWithVmlinux with_vmlinux) {
  std::vector<std::string> dumps;
  std::string vmlinux, output = "-";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dmesg") continue;
    if (a == "-o") {
      if (i + 1 >= argc) {
        fmt::print(stderr, "coroner: option -o needs an argument\n");
        return 2;
      }
      output = argv[++i];
    } else if (a == "-") {
      output = "-";  // `--dmesg DUMP -`: standard output, as without -o
    } else if (a.size() > 1 && a[0] == '-') {
      fmt::print(stderr, "coroner: --dmesg: unknown option: {}\n", a);
      return 2;
    } else {
      errno = 0;
      switch (classify(a)) {
        case FileKind::missing: fmt::print(stderr, "coroner: {}: {}\n", a, std::strerror(errno ? errno : ENOENT)); return 1;
        case FileKind::vmlinux: vmlinux = a; break;
        case FileKind::bzimage: fmt::print(stderr, "coroner: {}: a compressed kernel image (bzImage) has no symbols\n", a); return 1;
        case FileKind::dump: dumps.push_back(a); break;
      }
    }
  }
  if (dumps.empty()) {
    fmt::print(stderr, "coroner: --dmesg: no dump file given\n\n{}", kDmesgUsage);
    return 2;
  }
  Result<std::vector<kernel::LogRecord>> records = Error{Errc::usage, "", {}};
  if (!vmlinux.empty()) {
    records = with_vmlinux(vmlinux, dumps);
  } else {
    // pread, not a mapping: only the pages the log needs are read, none stays resident.
    auto dump = dumpfmt::open_dump(dumps, dumpfmt::FileAccess::pread);
    if (!dump) {
      fmt::print(stderr, "coroner: {}\n", dump.error().message);
      return 1;
    }
    records = kernel::read_log_from_dump(**dump);
  }
  if (!records) {
    fmt::print(stderr, "coroner: {}\n", records.error().message);
    return 1;
  }
  std::string text = kernel::format_dmesg(*records);
  FILE* out = output == "-" ? stdout : std::fopen(output.c_str(), "w");
  if (!out) {
    fmt::print(stderr, "coroner: {}: {}\n", output, std::strerror(errno));
    return 1;
  }
  bool written = fwrite(text.data(), 1, text.size(), out) == text.size();
  written = (out == stdout ? fflush(out) : fclose(out)) == 0 && written;
  if (!written) {
    fmt::print(stderr, "coroner: {}: write failed: {}\n", output == "-" ? "standard output" : output, std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace coroner::shell
