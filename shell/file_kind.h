// What a file named on the command line is: a kernel image with symbols (an ELF executable,
// shared object or relocatable: vmlinux, .ko), a compressed boot image, or a dump (anything
// else: the dump readers say what they make of it).
#pragma once

#include <string>

namespace coroner::shell {

enum class FileKind { vmlinux, bzimage, dump, missing };

// `missing` leaves errno set by the failed open.
FileKind classify(const std::string& path);

}  // namespace coroner::shell
