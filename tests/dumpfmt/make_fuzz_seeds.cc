// Writes the synthesized seed corpus of the dumpfmt fuzz targets (a few KB each):
//   dumpfmt_make_fuzz_seeds <repo>/fuzz/corpus
// Heads (first 8-64 KiB) of real fixture dumps sit next to these, cut with head -c.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/dumpfmt/dump_builder.h"

using namespace coroner::dumpfmt::testing;
namespace fs = std::filesystem;

static void write(const fs::path& dir, const std::string& name, const Bytes& b) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
  std::printf("%s/%s %zu\n", dir.string().c_str(), name.c_str(), b.size());
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_ROOT\n", argv[0]);
    return 2;
  }
  fs::path root = argv[1];
  const uint32_t ps = 1024;  // small pages keep seeds small

  // ELF
  ElfSpec e;
  e.loads.push_back({0x0, pattern_page(0, 2 * ps)});
  e.loads.push_back({0x10000, pattern_page(16, ps), 3 * ps});
  e.loads.push_back({0x10000 + ps, pattern_page(17, ps / 2)});  // contained in the previous one
  e.notes = encode_note("CORE", 1, fake_prstatus(1));
  auto q = encode_note("QEMU", 0, Bytes(0x1b0, 0x42));
  e.notes.insert(e.notes.end(), q.begin(), q.end());
  e.vmcoreinfo = "OSRELEASE=6.1.0\nPAGESIZE=1024\n";
  Bytes elf = build_elf(e);
  write(root / "dumpfmt_elf", "elf64", elf);
  Bytes cut = elf;
  cut.resize(elf.size() - ps / 2);
  write(root / "dumpfmt_elf", "elf64-truncated", cut);
  ElfSpec e32 = e;
  e32.elf32 = true;
  e32.machine = 3;
  write(root / "dumpfmt_elf", "elf32", build_elf(e32));
  ElfSpec eq = e;
  eq.phoff = 0xc0;
  write(root / "dumpfmt_elf", "elf64-phoff-c0", build_elf(eq));

  // kdump
  KdumpSpec k;
  k.block_size = ps;
  k.max_mapnr = 48;
  k.vmcoreinfo = "OSRELEASE=6.1.0\nPAGESIZE=1024\n";
  for (uint64_t pfn : {1, 2, 3, 5, 8, 13, 21}) k.pages[pfn] = pfn % 2 ? compressible_page(pfn, ps) : pattern_page(pfn, ps);
  k.pages[34] = Bytes(ps, 0);
  k.pages[35] = Bytes(ps, 0);
  k.excluded = {4, 6, 7};
  for (auto [c, name] : {std::pair{kRaw, "raw"}, {kZlib, "zlib"}, {kLzo, "lzo"}, {kSnappy, "snappy"}, {kZstd, "zstd"}}) {
    KdumpSpec s = k;
    s.compression = c;
    write(root / "dumpfmt_kdump", std::string("kdump-v6-") + name, build_kdump(s));
  }
  for (int v : {1, 3, 5}) {
    KdumpSpec s = k;
    s.header_version = v;
    write(root / "dumpfmt_kdump", "kdump-v" + std::to_string(v), build_kdump(s));
  }
  KdumpSpec inc = k;
  inc.incomplete = true;
  Bytes incb = build_kdump(inc);
  incb.resize(incb.size() - 300);
  write(root / "dumpfmt_kdump", "kdump-incomplete-truncated", incb);
  auto pieces = build_split_kdump(k, 2);
  // ('K' is odd: the kdump target also opens every seed as a split set.)
  write(root / "dumpfmt_kdump", "kdump-split-piece", pieces[0]);

  // flattened
  KdumpSpec kz = k;
  kz.compression = kZstd;
  write(root / "dumpfmt_flattened", "flat-kdump", flatten(build_kdump(kz), 1500));
  write(root / "dumpfmt_flattened", "flat-kdump-shuffled-overwritten", flatten(build_kdump(k), 700, true, true));
  write(root / "dumpfmt_flattened", "flat-elf", flatten(elf, 900, true));
  Bytes flat_cut = flatten(build_kdump(k), 1000);
  flat_cut.resize(flat_cut.size() - 600);
  write(root / "dumpfmt_flattened", "flat-truncated", flat_cut);
  return 0;
}
