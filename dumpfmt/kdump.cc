#include "dumpfmt/formats.h"

namespace coroner::dumpfmt {

bool probe_kdump(std::span<const uint8_t> head) {
  return head.size() >= 8 && std::string_view(reinterpret_cast<const char*>(head.data()), 8) == "KDUMP   ";
}

Result<std::unique_ptr<Dump>> open_kdump(std::unique_ptr<ByteSource> src, std::string) {
  return Error::make(Errc::unsupported, "{}: kdump-compressed dumps are not supported yet", src->name());
}

Result<std::unique_ptr<Dump>> open_split_kdump(std::vector<std::unique_ptr<ByteSource>> srcs) {
  return Error::make(Errc::unsupported, "{}: split kdump dumps are not supported yet", srcs[0]->name());
}

}  // namespace coroner::dumpfmt
