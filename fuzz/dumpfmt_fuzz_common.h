// Shared body of the dumpfmt fuzz targets: after a format opened the input, read pages in
// and around every range, and all the metadata, the way a session would. Must never crash.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "dumpfmt/dump.h"

namespace coroner::dumpfmt::fuzz {

inline void exercise(Dump& dump) {
  const DumpInfo& info = dump.info();
  size_t sink = info.vmcoreinfo.size() + info.notes.size() + info.cpus.size();
  for (auto& [k, v] : info.header_fields) sink += k.size() + v.size();
  std::vector<uint8_t> buf(3 * 65536);
  const uint64_t page = info.page_size ? info.page_size : 4096;
  auto probe = [&](uint64_t addr, size_t len) {
    auto r = dump.read_upto(addr, std::span(buf.data(), std::min(len, buf.size())));
    if (r) sink += *r;
    auto e = dump.read(addr, std::span(buf.data(), std::min<size_t>(len, 64)));
    if (!e) sink += e.error().message.size();
  };
  size_t n = 0;
  for (auto& r : info.ranges) {
    if (++n > 8) break;
    probe(r.start, page);
    probe(r.start + (r.end - r.start) / 2, 2 * page + 17);
    probe(r.end - 1, 8);
    probe(r.end, 8);
  }
  for (uint64_t pfn = 0; pfn < 16; ++pfn) probe(pfn * page + (pfn & 3), page);
  probe(~uint64_t{0} - 3, 16);
  // The same page twice: the second comes from the cache.
  probe(page, page);
  probe(page, page);
  volatile size_t keep = sink;
  (void)keep;
}

}  // namespace coroner::dumpfmt::fuzz
