#include "tests/dumpfmt/dump_builder.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "dumpfmt/byte_source.h"

namespace coroner::dumpfmt::testing {

namespace {

template <typename T>
void put(Bytes& b, size_t off, T v) {
  if (b.size() < off + sizeof v) b.resize(off + sizeof v);
  std::memcpy(b.data() + off, &v, sizeof v);
}
void put_bytes(Bytes& b, size_t off, const void* p, size_t n) {
  if (b.size() < off + n) b.resize(off + n);
  if (n) std::memcpy(b.data() + off, p, n);
}
void put_be64(Bytes& b, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) put<uint8_t>(b, off + i, static_cast<uint8_t>(v >> (56 - 8 * i)));
}
size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

Bytes compress(uint32_t how, const Bytes& page) {
  Bytes out;
  switch (how) {
    case kZlib: {
      uLongf n = compressBound(page.size());
      out.resize(n);
      if (compress2(out.data(), &n, page.data(), page.size(), Z_BEST_SPEED) != Z_OK) return {};
      out.resize(n);
      break;
    }
    case kLzo: {
      static bool init = lzo_init() == LZO_E_OK;
      if (!init) return {};
      std::vector<uint8_t> wrk(LZO1X_1_MEM_COMPRESS);
      out.resize(page.size() + page.size() / 16 + 64 + 3);
      lzo_uint n = out.size();
      if (lzo1x_1_compress(page.data(), page.size(), out.data(), &n, wrk.data()) != LZO_E_OK) return {};
      out.resize(n);
      break;
    }
    case kSnappy: {
      size_t n = snappy_max_compressed_length(page.size());
      out.resize(n);
      if (snappy_compress(reinterpret_cast<const char*>(page.data()), page.size(), reinterpret_cast<char*>(out.data()),
                          &n) != SNAPPY_OK)
        return {};
      out.resize(n);
      break;
    }
    case kZstd: {
      out.resize(ZSTD_compressBound(page.size()));
      size_t n = ZSTD_compress(out.data(), out.size(), page.data(), page.size(), 1);
      if (ZSTD_isError(n)) return {};
      out.resize(n);
      break;
    }
    default:
      return {};
  }
  return out;
}

}  // namespace

Bytes pattern_page(uint64_t pfn, uint32_t page_size) {
  Bytes p(page_size);
  uint64_t x = pfn * 0x9e3779b97f4a7c15ull + 1;
  for (uint32_t i = 0; i < page_size; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    p[i] = static_cast<uint8_t>(x);
  }
  return p;
}

Bytes compressible_page(uint64_t pfn, uint32_t page_size) {
  Bytes p(page_size, static_cast<uint8_t>(0xa0 + pfn % 16));
  put<uint64_t>(p, 0, pfn);
  put<uint64_t>(p, page_size - 8, ~pfn);
  return p;
}

Bytes encode_note(const std::string& name, uint32_t type, const Bytes& desc) {
  Bytes b;
  uint32_t namesz = static_cast<uint32_t>(name.size() + 1);
  put<uint32_t>(b, 0, namesz);
  put<uint32_t>(b, 4, static_cast<uint32_t>(desc.size()));
  put<uint32_t>(b, 8, type);
  put_bytes(b, 12, name.c_str(), namesz);
  size_t d = 12 + align_up(namesz, 4);
  put_bytes(b, d, desc.data(), desc.size());
  b.resize(d + align_up(desc.size(), 4));
  return b;
}

Bytes fake_prstatus(uint32_t pid) {
  Bytes d(336);
  put<uint32_t>(d, 32, pid);  // pr_pid in the x86_64 elf_prstatus
  return d;
}

Bytes build_elf(const ElfSpec& s) {
  const bool is64 = !s.elf32;
  const size_t ehsize = is64 ? 64 : 52, phsize = is64 ? 56 : 32;
  Bytes notes = s.notes;
  if (!s.vmcoreinfo.empty()) {
    auto n = encode_note("VMCOREINFO", 0, Bytes(s.vmcoreinfo.begin(), s.vmcoreinfo.end()));
    notes.insert(notes.end(), n.begin(), n.end());
  }
  size_t phnum = s.loads.size() + (notes.empty() ? 0 : 1);
  Bytes b(ehsize);
  const uint8_t ident[] = {0x7f, 'E', 'L', 'F', static_cast<uint8_t>(is64 ? 2 : 1), static_cast<uint8_t>(s.big_endian ? 2 : 1), 1};
  put_bytes(b, 0, ident, sizeof ident);
  put<uint16_t>(b, 16, 4);  // ET_CORE
  put<uint16_t>(b, 18, s.machine);
  put<uint32_t>(b, 20, 1);
  if (is64) {
    put<uint64_t>(b, 32, s.phoff);
    put<uint16_t>(b, 52, 64);
    put<uint16_t>(b, 54, 56);
    put<uint16_t>(b, 56, static_cast<uint16_t>(phnum));
  } else {
    put<uint32_t>(b, 28, static_cast<uint32_t>(s.phoff));
    put<uint16_t>(b, 40, 52);
    put<uint16_t>(b, 42, 32);
    put<uint16_t>(b, 44, static_cast<uint16_t>(phnum));
  }
  size_t data = align_up(s.phoff + phnum * phsize, 16);
  size_t ph = s.phoff;
  auto phdr = [&](uint32_t type, uint64_t off, uint64_t vaddr, uint64_t paddr, uint64_t filesz, uint64_t memsz) {
    put<uint32_t>(b, ph, type);
    if (is64) {
      put<uint32_t>(b, ph + 4, 7);
      put<uint64_t>(b, ph + 8, off);
      put<uint64_t>(b, ph + 16, vaddr);
      put<uint64_t>(b, ph + 24, paddr);
      put<uint64_t>(b, ph + 32, filesz);
      put<uint64_t>(b, ph + 40, memsz);
    } else {
      put<uint32_t>(b, ph + 4, static_cast<uint32_t>(off));
      put<uint32_t>(b, ph + 8, static_cast<uint32_t>(vaddr));
      put<uint32_t>(b, ph + 12, static_cast<uint32_t>(paddr));
      put<uint32_t>(b, ph + 16, static_cast<uint32_t>(filesz));
      put<uint32_t>(b, ph + 20, static_cast<uint32_t>(memsz));
    }
    ph += phsize;
  };
  if (!notes.empty()) {
    phdr(4, data, 0, 0, notes.size(), notes.size());
    put_bytes(b, data, notes.data(), notes.size());
    data = align_up(data + notes.size(), 16);
  }
  for (auto& l : s.loads) {
    phdr(1, data, l.vaddr, l.paddr, l.data.size(), l.memsz ? l.memsz : l.data.size());
    put_bytes(b, data, l.data.data(), l.data.size());
    data += l.data.size();
  }
  b.resize(std::max(b.size(), data));
  return b;
}

Bytes build_kdump(const KdumpSpec& s) {
  const uint32_t bs = s.block_size;
  const int v = s.header_version;
  Bytes notes = s.notes;
  if (s.default_notes && notes.empty())
    for (int i = 0; i < s.nr_cpus; ++i) {
      auto n = encode_note("CORE", 1, fake_prstatus(static_cast<uint32_t>(i + 1)));
      notes.insert(notes.end(), n.begin(), n.end());
    }

  // Sub-header (block 1) and the blocks after it: vmcoreinfo, then notes.
  Bytes sub(104);
  put<uint64_t>(sub, 0, 0x1000000);  // phys_base
  put<int32_t>(sub, 8, s.dump_level);
  uint64_t start = s.split ? s.start_pfn : 0, end = s.split ? s.end_pfn : s.max_mapnr;
  if (v >= 2) {
    put<int32_t>(sub, 12, s.split ? 1 : 0);
    put<uint64_t>(sub, 16, start);
    put<uint64_t>(sub, 24, end);
  }
  size_t extra = bs + 104;  // file offset where the vmcoreinfo goes
  if (v >= 3 && !s.vmcoreinfo.empty()) {
    put<uint64_t>(sub, 32, extra);
    put<uint64_t>(sub, 40, s.vmcoreinfo.size());
    put_bytes(sub, extra - bs, s.vmcoreinfo.data(), s.vmcoreinfo.size());
    extra += s.vmcoreinfo.size();
  }
  if (v >= 4 && !notes.empty()) {
    put<uint64_t>(sub, 48, extra);
    put<uint64_t>(sub, 56, notes.size());
    put_bytes(sub, extra - bs, notes.data(), notes.size());
    extra += notes.size();
  }
  if (v >= 6) {
    put<uint64_t>(sub, 80, start);
    put<uint64_t>(sub, 88, end);
    put<uint64_t>(sub, 96, s.max_mapnr);
  }
  size_t sub_blocks = align_up(sub.size(), bs) / bs;

  size_t bitmap_len = align_up((s.max_mapnr + 7) / 8, bs);
  Bytes bm1(bitmap_len), bm2(bitmap_len);
  auto set = [](Bytes& bm, uint64_t pfn) { bm[pfn / 8] |= static_cast<uint8_t>(1u << (pfn % 8)); };
  for (auto& [pfn, data] : s.pages) set(bm1, pfn), set(bm2, pfn);
  for (uint64_t pfn : s.excluded) set(bm1, pfn);

  Bytes h(bs);
  put_bytes(h, 0, "KDUMP   ", 8);
  put<int32_t>(h, 8, v);
  const char* uts[6] = {"Linux", "testhost", s.release.c_str(), "#1 SMP", s.machine.c_str(), "(none)"};
  for (int i = 0; i < 6; ++i) put_bytes(h, 12 + 65 * i, uts[i], std::min<size_t>(64, std::strlen(uts[i])));
  put<int64_t>(h, 408, s.timestamp);
  put<int64_t>(h, 416, 0);
  put<uint32_t>(h, 424, s.incomplete ? 0x8u : 0u);
  put<int32_t>(h, 428, static_cast<int32_t>(bs));
  put<int32_t>(h, 432, static_cast<int32_t>(sub_blocks));
  put<uint32_t>(h, 436, static_cast<uint32_t>(2 * bitmap_len / bs));
  put<uint32_t>(h, 440, static_cast<uint32_t>(std::min<uint64_t>(s.max_mapnr, UINT32_MAX)));
  put<int32_t>(h, 460, s.nr_cpus);

  Bytes file = h;
  sub.resize(sub_blocks * bs);
  file.insert(file.end(), sub.begin(), sub.end());
  file.insert(file.end(), bm1.begin(), bm1.end());
  file.insert(file.end(), bm2.begin(), bm2.end());

  std::vector<std::pair<uint64_t, const Bytes*>> dumped;
  for (auto& [pfn, data] : s.pages)
    if (pfn >= start && pfn < end) dumped.emplace_back(pfn, &data);
  size_t desc_off = file.size();
  size_t data_off = desc_off + 24 * dumped.size();
  file.resize(data_off);
  uint64_t zero_page_off = 0;
  size_t i = 0;
  for (auto& [pfn, data] : dumped) {
    Bytes page = *data;
    page.resize(bs);
    bool zero = std::all_of(page.begin(), page.end(), [](uint8_t c) { return c == 0; });
    uint64_t off = file.size();
    uint32_t size = bs, flags = 0;
    if (zero && zero_page_off) {
      off = zero_page_off;  // makedumpfile writes one zero page and points every zero pfn at it
      Bytes c = s.compression ? compress(s.compression, page) : Bytes{};
      if (!c.empty() && c.size() < bs) size = static_cast<uint32_t>(c.size()), flags = s.compression;
    } else {
      Bytes c = s.compression ? compress(s.compression, page) : Bytes{};
      if (!c.empty() && c.size() < bs) {
        size = static_cast<uint32_t>(c.size()), flags = s.compression;
        file.insert(file.end(), c.begin(), c.end());
      } else {
        file.insert(file.end(), page.begin(), page.end());
      }
      if (zero) zero_page_off = off;
    }
    size_t d = desc_off + 24 * i++;
    put<uint64_t>(file, d, off);
    put<uint32_t>(file, d + 8, size);
    put<uint32_t>(file, d + 12, flags);
    put<uint64_t>(file, d + 16, 0);
  }
  return file;
}

std::vector<Bytes> build_split_kdump(const KdumpSpec& spec, int n) {
  std::vector<Bytes> out;
  uint64_t per = (spec.max_mapnr + n - 1) / n;
  for (int i = 0; i < n; ++i) {
    KdumpSpec s = spec;
    s.split = true;
    s.start_pfn = per * i;
    s.end_pfn = std::min(spec.max_mapnr, per * (i + 1));
    out.push_back(build_kdump(s));
  }
  return out;
}

Bytes flatten(const Bytes& file, size_t chunk, bool shuffle, bool overwrite) {
  Bytes b(4096);
  put_bytes(b, 0, "makedumpfile", 12);
  put_be64(b, 16, 1);
  put_be64(b, 24, 1);
  std::vector<std::pair<size_t, size_t>> recs;
  for (size_t off = 0; off < file.size(); off += chunk) recs.emplace_back(off, std::min(chunk, file.size() - off));
  if (shuffle) std::shuffle(recs.begin(), recs.end(), std::mt19937(42));
  auto record = [&](size_t off, const uint8_t* data, size_t n) {
    size_t at = b.size();
    put_be64(b, at, off);
    put_be64(b, at + 8, n);
    put_bytes(b, at + 16, data, n);
  };
  if (overwrite) {
    Bytes junk(std::min<size_t>(file.size(), 3 * chunk / 2), 0xee);
    record(0, junk.data(), junk.size());
  }
  for (auto [off, n] : recs) record(off, file.data() + off, n);
  size_t at = b.size();
  put_be64(b, at, UINT64_MAX);
  put_be64(b, at + 8, UINT64_MAX);
  return b;
}

Result<std::unique_ptr<Dump>> open_bytes(const std::vector<Bytes>& files, std::vector<std::string> names) {
  std::vector<std::unique_ptr<ByteSource>> srcs;
  for (size_t i = 0; i < files.size(); ++i)
    srcs.push_back(std::make_unique<MemorySource>(i < names.size() ? names[i] : "mem" + std::to_string(i), Bytes(files[i])));
  return open_dump_sources(std::move(srcs));
}

std::string write_temp(const Bytes& data, const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("coroner-dumpfmt-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data.data()), data.size());
  return path.string();
}

}  // namespace coroner::dumpfmt::testing
