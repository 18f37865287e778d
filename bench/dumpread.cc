// coroner-bench-dumpread: read throughput of the dumpfmt readers on one dump.
//
// Opens the dump through dumpfmt::open_dump() (the same path the shell takes) and measures:
//   open     time to open (headers, bitmaps, a flattened stream's index), OS page cache cold
//   seq      every page of every range, in address order, page-sized read_upto() calls as
//            the arch layer issues them: cold (the dump files dropped from the OS page cache
//            with POSIX_FADV_DONTNEED first) and warm (again, files cached)
//   rand     N pages drawn (seeded) from the pages the dump holds, read in random order,
//            cold and warm; latency per page (median, p99)
//   hit      the same page read twice in a row: the second read comes from the reader's own
//            page cache (kdump) or the mapping (ELF)
// and, with --codec, the bare decompression speed of the same compressed pages: the kdump
// file's page descriptors are walked and every page is decompressed with the library alone
// (no dumpfmt), giving the floor a reader cannot beat.
//
// Prints one line of key=value fields (times in seconds, throughput in MB/s of page data,
// 1 MB = 10^6 bytes), for bench/dumpread.sh to tabulate.
//
//   coroner-bench-dumpread [--random N] [--seed S] [--no-cold] [--codec] [--runs-out FILE] [--runs FILE] DUMP...
// --runs-out writes the runs of readable pages; --runs reads only the runs a file lists (warm),
// for comparison with a peer reading the same bytes.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "base/bytes.h"
#include "base/mapped_file.h"
#include "dumpfmt/dump.h"

namespace {

using Clock = std::chrono::steady_clock;
using coroner::Result;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// CPU time of the process (user + system, page faults included): on a shared machine this is
// steadier than wall time for work that does no I/O (warm reads, decompression).
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Drops the files' pages from the OS page cache (clean, unmapped pages only: call it with
// the dump closed). Needs no privilege, unlike /proc/sys/vm/drop_caches.
void drop_os_cache(const std::vector<std::string>& paths) {
  for (auto& p : paths) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Peak and current resident set from /proc/self/status, in KiB.
struct Rss {
  long hwm = 0, anon = 0, file = 0;
};
Rss read_rss() {
  Rss r;
  std::ifstream in("/proc/self/status");
  std::string key;
  long value;
  while (in >> key) {
    if (key == "VmHWM:" && in >> value) r.hwm = value;
    else if (key == "RssAnon:" && in >> value) r.anon = value;
    else if (key == "RssFile:" && in >> value) r.file = value;
  }
  return r;
}

struct Latency {
  double total = 0, median_us = 0, p99_us = 0;
  size_t pages = 0, failed = 0;
};

Latency summarize(std::vector<double>& per_page, double total, size_t failed) {
  Latency l{total, 0, 0, per_page.size(), failed};
  if (per_page.empty()) return l;
  std::sort(per_page.begin(), per_page.end());
  l.median_us = per_page[per_page.size() / 2] * 1e6;
  l.p99_us = per_page[std::min(per_page.size() - 1, per_page.size() * 99 / 100)] * 1e6;
  return l;
}

struct SeqResult {
  double seconds = 0, cpu = 0;
  uint64_t pages_read = 0, pages_missing = 0, bytes = 0;
  uint64_t run_start = 0, run_pages = 0;  // the longest run of consecutive readable pages
};

// Every page of every range in address order. `sample` gets up to `want` page addresses of
// pages that read (reservoir sampling, so memory stays bounded on huge dumps).
SeqResult read_all(coroner::dumpfmt::Dump& dump, std::vector<uint64_t>* sample, size_t want, std::mt19937_64& rng,
                   std::vector<coroner::dumpfmt::PhysRange>* runs = nullptr) {
  const uint64_t page = dump.info().page_size;
  std::vector<uint8_t> buf(page);
  SeqResult r;
  uint64_t cur_start = 0, cur_pages = 0;
  double c0 = cpu_seconds();
  auto t0 = Clock::now();
  for (auto& range : dump.info().ranges) {
    for (uint64_t a = range.start & ~(page - 1); a < range.end; a += page) {
      auto n = dump.read_upto(a, buf);
      if (!n) {
        ++r.pages_missing;
        cur_pages = 0;
        continue;
      }
      if (cur_pages == 0 || cur_start + cur_pages * page != a) cur_start = a, cur_pages = 0;
      if (runs) {
        if (!runs->empty() && runs->back().end == a) runs->back().end = a + page;
        else runs->push_back({a, a + page});
      }
      if (++cur_pages > r.run_pages) r.run_start = cur_start, r.run_pages = cur_pages;
      ++r.pages_read;
      r.bytes += *n;
      if (!sample) continue;
      if (sample->size() < want) {
        sample->push_back(a);
      } else {
        uint64_t j = std::uniform_int_distribution<uint64_t>(0, r.pages_read - 1)(rng);
        if (j < want) (*sample)[j] = a;
      }
    }
  }
  r.seconds = seconds_since(t0);
  r.cpu = cpu_seconds() - c0;
  return r;
}

Latency read_pages(coroner::dumpfmt::Dump& dump, const std::vector<uint64_t>& addrs) {
  std::vector<uint8_t> buf(dump.info().page_size);
  std::vector<double> lat;
  lat.reserve(addrs.size());
  size_t failed = 0;
  auto t0 = Clock::now();
  for (uint64_t a : addrs) {
    auto t = Clock::now();
    auto n = dump.read_upto(a, buf);
    lat.push_back(seconds_since(t));
    if (!n) ++failed;
  }
  double total = seconds_since(t0);
  return summarize(lat, total, failed);
}

// The same page twice in a row, for each address; only the second read is timed.
Latency read_twice(coroner::dumpfmt::Dump& dump, const std::vector<uint64_t>& addrs) {
  std::vector<uint8_t> buf(dump.info().page_size);
  std::vector<double> lat;
  size_t failed = 0;
  double total = 0;
  for (uint64_t a : addrs) {
    (void)dump.read_upto(a, buf);
    auto t = Clock::now();
    auto n = dump.read_upto(a, buf);
    double s = seconds_since(t);
    lat.push_back(s);
    total += s;
    if (!n) ++failed;
  }
  return summarize(lat, total, failed);
}

// ---- --codec: the libraries alone on the file's compressed pages ----------------------
// kdump layout (makedumpfile's diskdump_mod.h, LP64): disk_dump_header at 0 with block_size
// at 428, sub_hdr_size at 432, bitmap_blocks at 436; the 2nd bitmap is the second half of
// the bitmap blocks after the sub-header; one 24-byte page_desc {u64 offset, u32 size, u32
// flags, u64 page_flags} per set bit of the 2nd bitmap follows the bitmaps.
struct CodecResult {
  double seconds = 0, cpu = 0;
  uint64_t pages = 0, raw_pages = 0, bytes_out = 0, bytes_in = 0, errors = 0;
  std::string codecs;
};

Result<CodecResult> codec_bench(const std::string& path) {
  auto file = TRY(coroner::MappedFile::open(path));
  auto v = file->view();
  auto sig = TRY(v.sub(0, 8, "signature"));
  if (std::memcmp(sig.data(), "KDUMP   ", 8) != 0)
    return coroner::Error::make(coroner::Errc::unsupported, "{}: --codec needs a kdump-compressed file (not flattened)", path);
  const uint32_t bs = TRY(v.u32(428, "block_size"));
  const uint32_t sub_blocks = TRY(v.u32(432, "sub_hdr_size"));
  const uint32_t bitmap_blocks = TRY(v.u32(436, "bitmap_blocks"));
  if (bs == 0 || bs > (1u << 20))
    return coroner::Error::make(coroner::Errc::bad_data, "{}: block_size {:#x} out of range", path, bs);
  const uint64_t half = uint64_t{bitmap_blocks} * bs / 2;
  auto bm2 = TRY(v.sub((1 + uint64_t{sub_blocks}) * bs + half, half, "2nd bitmap"));
  uint64_t count = 0;
  for (size_t i = 0; i + 8 <= bm2.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bm2.data() + i, 8);
    count += std::popcount(w);
  }
  const uint64_t desc_off = (1 + uint64_t{sub_blocks} + bitmap_blocks) * bs;
  auto desc_bytes = coroner::checked_mul(count, 24);
  if (!desc_bytes) return coroner::Error::make(coroner::Errc::bad_data, "{}: {} page descriptors overflow", path, count);
  auto descs = TRY(v.sub(desc_off, *desc_bytes, "page descriptors"));

  // Fault the whole file in first: this measures the codecs, not the disk.
  file->advise_sequential(0, file->size());
  volatile uint8_t sink = 0;
  for (uint64_t off = 0; off < file->size(); off += 4096) sink = sink + file->bytes()[off];

  static const bool lzo_ok = lzo_init() == LZO_E_OK;
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK || !lzo_ok) return coroner::Error::make(coroner::Errc::os, "codec init failed");
  ZSTD_DCtx* zctx = ZSTD_createDCtx();
  std::vector<uint8_t> out(bs);
  CodecResult r;
  uint32_t seen = 0;
  double c0 = cpu_seconds();
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t off;
    uint32_t size, flags;
    std::memcpy(&off, descs.data() + i * 24, 8);
    std::memcpy(&size, descs.data() + i * 24 + 8, 4);
    std::memcpy(&flags, descs.data() + i * 24 + 12, 4);
    if (off == 0 || size == 0 || size > bs || off + size > file->size()) {
      ++r.errors;
      continue;
    }
    const uint8_t* in = file->bytes().data() + off;
    size_t produced = 0;
    if (flags & 0x1) {
      inflateReset(&zs);
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = size;
      zs.next_out = out.data();
      zs.avail_out = bs;
      if (inflate(&zs, Z_FINISH) != Z_STREAM_END) ++r.errors;
      produced = bs - zs.avail_out;
    } else if (flags & 0x2) {
      lzo_uint n = bs;
      if (lzo1x_decompress_safe(in, size, out.data(), &n, nullptr) != LZO_E_OK) ++r.errors;
      produced = n;
    } else if (flags & 0x4) {
      size_t n = bs;
      if (snappy_uncompress(reinterpret_cast<const char*>(in), size, reinterpret_cast<char*>(out.data()), &n) != SNAPPY_OK)
        ++r.errors;
      produced = n;
    } else if (flags & 0x20) {
      size_t n = ZSTD_decompressDCtx(zctx, out.data(), bs, in, size);
      if (ZSTD_isError(n)) ++r.errors;
      else produced = n;
    } else {
      std::memcpy(out.data(), in, size);  // stored raw
      produced = size;
      ++r.raw_pages;
    }
    seen |= flags & 0x27;
    if (!(flags & 0x27)) seen |= 0x100;
    r.bytes_in += size;
    r.bytes_out += produced;
    ++r.pages;
  }
  r.seconds = seconds_since(t0);
  r.cpu = cpu_seconds() - c0;
  inflateEnd(&zs);
  ZSTD_freeDCtx(zctx);
  for (auto [bit, name] : {std::pair{0x1u, "zlib"}, {0x2u, "lzo"}, {0x4u, "snappy"}, {0x20u, "zstd"}, {0x100u, "raw"}})
    if (seen & bit) r.codecs += (r.codecs.empty() ? "" : "+") + std::string(name);
  if (r.codecs.empty()) r.codecs = "none";
  return r;
}

double mbps(uint64_t bytes, double s) { return s > 0 ? bytes / s / 1e6 : 0; }

int usage() {
  std::fprintf(stderr, "usage: coroner-bench-dumpread [--random N] [--seed S] [--no-cold] [--codec] [--runs-out FILE] [--runs FILE] DUMP [DUMP...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  size_t nrandom = 10000;
  uint64_t seed = 1;
  bool cold = true, codec = false;
  std::string runs_out, runs_in;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--random" && i + 1 < argc) nrandom = std::stoull(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) seed = std::stoull(argv[++i]);
    else if (a == "--no-cold") cold = false;
    else if (a == "--codec") codec = true;
    else if (a == "--runs-out" && i + 1 < argc) runs_out = argv[++i];
    else if (a == "--runs" && i + 1 < argc) runs_in = argv[++i];
    else if (a.starts_with("-")) return usage();
    else paths.push_back(a);
  }
  if (paths.empty()) return usage();

  if (codec) {
    auto r = codec_bench(paths[0]);
    if (!r) {
      std::fprintf(stderr, "coroner-bench-dumpread: %s\n", r.error().message.c_str());
      return 1;
    }
    fmt::print("codec={} pages={} raw_pages={} in_mb={:.1f} out_mb={:.1f} codec_s={:.4f} codec_mbps={:.1f} codec_cpu_mbps={:.1f} codec_pages_per_s={:.0f} errors={}\n",
               r->codecs, r->pages, r->raw_pages, r->bytes_in / 1e6, r->bytes_out / 1e6, r->seconds, mbps(r->bytes_out, r->seconds),
               mbps(r->bytes_out, r->cpu), r->pages / r->seconds, r->errors);
    return r->errors ? 1 : 0;
  }

  std::mt19937_64 rng(seed);
  auto open = [&]() -> std::unique_ptr<coroner::dumpfmt::Dump> {
    auto d = coroner::dumpfmt::open_dump(paths);
    if (!d) {
      std::fprintf(stderr, "coroner-bench-dumpread: %s\n", d.error().message.c_str());
      std::exit(1);
    }
    return std::move(*d);
  };

  if (cold) drop_os_cache(paths);
  auto t0 = Clock::now();
  auto dump = open();
  double open_s = seconds_since(t0);
  std::string format = dump->info().format;

  std::vector<uint64_t> sample;
  SeqResult seq_cold;
  if (cold) {
    seq_cold = read_all(*dump, &sample, nrandom, rng);
    dump.reset();
    dump = open();
  }
  std::vector<coroner::dumpfmt::PhysRange> runs;
  SeqResult seq = read_all(*dump, cold ? nullptr : &sample, nrandom, rng, &runs);
  if (!runs_out.empty()) {
    std::ofstream out(runs_out);
    for (auto& r : runs) out << fmt::format("{:#x} {}\n", r.start, r.end - r.start);
  }
  std::shuffle(sample.begin(), sample.end(), rng);

  Latency rand_cold;
  if (cold) {
    dump.reset();
    drop_os_cache(paths);
    dump = open();
    rand_cold = read_pages(*dump, sample);
  }
  Latency rand_warm = read_pages(*dump, sample);
  Latency hit = read_twice(*dump, sample);
  Rss rss = read_rss();

  // --runs FILE: the ranges listed ("START LEN" per line, as --runs-out writes them) alone,
  // warm, as a peer reads them (crash's rd -p -r), in byte-sized reads of up to a page.
  double range_s = 0, range_cpu = 0;
  uint64_t range_bytes = 0;
  if (!runs_in.empty()) {
    std::ifstream in(runs_in);
    std::vector<std::pair<uint64_t, uint64_t>> list;
    std::string a, l;
    while (in >> a >> l) list.emplace_back(std::stoull(a, nullptr, 0), std::stoull(l, nullptr, 0));
    std::vector<uint8_t> buf(dump->info().page_size);
    double c0 = cpu_seconds();
    auto t = Clock::now();
    for (auto [start, len] : list) {
      for (uint64_t at = start; at < start + len;) {
        auto n = dump->read_upto(at, std::span(buf.data(), std::min<uint64_t>(buf.size(), start + len - at)));
        if (!n) {
          std::fprintf(stderr, "coroner-bench-dumpread: --runs: %s\n", n.error().message.c_str());
          return 1;
        }
        at += *n;
        range_bytes += *n;
      }
    }
    range_s = seconds_since(t);
    range_cpu = cpu_seconds() - c0;
  }

  fmt::print("format=\"{}\" page={} pages_read={} pages_missing={} mb={:.1f} open_s={:.4f}", format,
             dump->info().page_size, seq.pages_read, seq.pages_missing, seq.bytes / 1e6, open_s);
  if (cold) fmt::print(" seq_cold_s={:.3f} seq_cold_mbps={:.1f}", seq_cold.seconds, mbps(seq_cold.bytes, seq_cold.seconds));
  fmt::print(" seq_s={:.3f} seq_cpu_s={:.3f} seq_mbps={:.1f} seq_cpu_mbps={:.1f} seq_pages_per_s={:.0f}", seq.seconds, seq.cpu,
             mbps(seq.bytes, seq.seconds), mbps(seq.bytes, seq.cpu), seq.pages_read / seq.seconds);
  fmt::print(" rand_n={}", rand_warm.pages);
  if (cold)
    fmt::print(" rand_cold_pages_per_s={:.0f} rand_cold_med_us={:.2f} rand_cold_p99_us={:.2f}", rand_cold.pages / rand_cold.total,
               rand_cold.median_us, rand_cold.p99_us);
  fmt::print(" rand_pages_per_s={:.0f} rand_med_us={:.2f} rand_p99_us={:.2f} hit_med_us={:.3f}",
             rand_warm.total > 0 ? rand_warm.pages / rand_warm.total : 0, rand_warm.median_us, rand_warm.p99_us, hit.median_us);
  fmt::print(" run_start={:#x} run_bytes={:#x}", seq.run_start, seq.run_pages * dump->info().page_size);
  fmt::print(" runs={}", runs.size());
  if (!runs_in.empty()) fmt::print(" range_s={:.4f} range_mbps={:.1f} range_cpu_mbps={:.1f}", range_s, mbps(range_bytes, range_s),
               mbps(range_bytes, range_cpu));
  fmt::print(" rand_failed={} peak_rss_mib={:.1f} rss_anon_mib={:.1f} rss_file_mib={:.1f}\n",
             rand_warm.failed + rand_cold.failed + hit.failed, rss.hwm / 1024.0, rss.anon / 1024.0, rss.file / 1024.0);
  return 0;
}
