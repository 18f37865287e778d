// Real-dump parity: every format of one crash must show the same physical memory as the ELF
// dump of the same crash. kdump.* files (makedumpfile's outputs) are compared with
// kdump.elf (/proc/vmcore), qemu.* with qemu.elf, qemu-nokaslr.* with qemu-nokaslr.elf:
// the reference is "<prefix>.elf" where prefix is the name up to its first dot.
//
// The fixture set comes from fixtures/make-fixtures.sh: $CORONER_FIXTURE_SET, else the first
// directory under ${CORONER_FIXTURES:-${XDG_CACHE_HOME:-$HOME/.cache}/coroner/fixtures}/sets/.
// Without one the tests skip. Pages are compared exhaustively for small guests, sampled for big
// ones, so the whole run stays well under 20 s.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "dumpfmt/dump.h"

using namespace coroner;
using namespace coroner::dumpfmt;
namespace fs = std::filesystem;

namespace {

// Every page is compared while a dump has at most kMaxPages pages in its ranges (a 1.5 GiB
// guest: about 3 s for the whole set with a warm page cache); larger ones are sampled with a
// stride. 200 random pages per range are added either way.
constexpr uint64_t kMaxPages = 400000;

struct Entry {
  std::string name;
  std::vector<std::string> paths;
  std::string format;
};

std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}

// The fixture set directory, or "" with `why` set.
fs::path find_set(std::string& why) {
  if (auto s = env("CORONER_FIXTURE_SET"); !s.empty()) {
    if (fs::is_directory(s)) return s;
    why = "CORONER_FIXTURE_SET=" + s + " is not a directory";
    return {};
  }
  fs::path root = env("CORONER_FIXTURES");
  if (root.empty()) {
    std::string cache = env("XDG_CACHE_HOME");
    if (cache.empty()) cache = env("HOME") + "/.cache";
    root = fs::path(cache) / "coroner" / "fixtures";
  }
  std::vector<fs::path> sets;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(root / "sets", ec))
    if (e.is_directory()) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) {
    why = "no fixture set under " + (root / "sets").string() + " (run fixtures/make-fixtures.sh)";
    return {};
  }
  return sets.front();
}

std::vector<Entry> read_manifest(const fs::path& set) {
  std::vector<Entry> out;
  std::ifstream in(set / "manifest.tsv");
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cols.push_back(c);
    if (cols.size() < 3) continue;
    Entry e{cols[0], {}, cols[2]};
    std::stringstream ps(cols[1]);
    for (std::string p; std::getline(ps, p, ',');) e.paths.push_back((set / p).string());
    out.push_back(std::move(e));
  }
  return out;
}

bool all_exist(const Entry& e) {
  return std::all_of(e.paths.begin(), e.paths.end(), [](auto& p) { return fs::exists(p); });
}

class FixtureParity : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    set_ = find_set(why);
    if (set_.empty()) GTEST_SKIP() << why;
    entries_ = read_manifest(set_);
    if (entries_.empty()) GTEST_SKIP() << "no manifest.tsv entries in " << set_;
  }
  const Entry* find(const std::string& name) const {
    for (auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }
  fs::path set_;
  std::vector<Entry> entries_;
};

}  // namespace

TEST_F(FixtureParity, EveryEntryOpens) {
  for (auto& e : entries_) {
    SCOPED_TRACE(e.name);
    if (!all_exist(e)) {
      std::printf("  %s: file missing, not checked\n", e.name.c_str());
      continue;
    }
    auto d = open_dump(e.paths);
    ASSERT_TRUE(d) << d.error().message;
    const DumpInfo& info = (*d)->info();
    EXPECT_EQ(info.machine, 62);
    EXPECT_FALSE(info.vmcoreinfo.empty());
    EXPECT_NE(info.vmcoreinfo.find("OSRELEASE="), std::string::npos);
    EXPECT_EQ(info.nr_cpus, 2u);
    EXPECT_FALSE(info.cpus.empty());
    EXPECT_FALSE(info.ranges.empty());
    bool elf = e.format.rfind("elf", 0) == 0;
    if (!elf) {
      EXPECT_TRUE(info.timestamp.has_value());
    }
    if (e.format.find("qemu") != std::string::npos || e.name.rfind("qemu", 0) == 0) {
      // QEMU writes its CPU-state notes next to NT_PRSTATUS ones.
      EXPECT_TRUE(std::any_of(info.cpus.begin(), info.cpus.end(),
                              [](auto& c) { return c.kind == CpuNote::Kind::qemu_cpu_state; }));
    }
  }
}

TEST_F(FixtureParity, EveryFormatShowsTheSameMemoryAsItsElf) {
  auto t0 = std::chrono::steady_clock::now();
  int compared_files = 0;
  for (auto& e : entries_) {
    std::string prefix = e.name.substr(0, e.name.find('.'));
    std::string ref_name = prefix + ".elf";
    if (e.name == ref_name) continue;
    const Entry* ref = find(ref_name);
    SCOPED_TRACE(e.name + " vs " + ref_name);
    if (!ref || !all_exist(*ref) || !all_exist(e)) {
      std::printf("  %s: it or %s missing, not compared\n", e.name.c_str(), ref_name.c_str());
      continue;
    }
    auto d = open_dump(e.paths);
    ASSERT_TRUE(d) << d.error().message;
    auto r = open_dump(ref->paths);
    ASSERT_TRUE(r) << r.error().message;
    Dump& dump = **d;
    Dump& refd = **r;
    EXPECT_EQ(dump.info().vmcoreinfo, refd.info().vmcoreinfo);
    EXPECT_EQ(dump.info().nr_cpus, refd.info().nr_cpus);

    const uint64_t page = dump.info().page_size;
    std::vector<uint64_t> pfns;
    std::mt19937_64 rng(std::hash<std::string>()(e.name));
    uint64_t total = 0;
    for (auto& range : dump.info().ranges) total += (range.end - range.start) / page;
    const uint64_t stride = std::max<uint64_t>(1, total / kMaxPages);
    for (auto& range : dump.info().ranges) {
      uint64_t first = range.start / page, last = (range.end + page - 1) / page;
      for (uint64_t pfn = first; pfn < last; pfn += stride) pfns.push_back(pfn);
      for (int i = 0; i < 200 && last > first; ++i) pfns.push_back(first + rng() % (last - first));
    }
    std::vector<uint8_t> a(page), b(page);
    uint64_t present = 0, excluded = 0, mismatched = 0, zero_filled = 0;
    // makedumpfile -E keeps excluded pages inside segments as [p_filesz, p_memsz) tails,
    // which read as zeros (as in crash); a zero page there stands for an excluded one.
    const bool elf = e.format.rfind("elf", 0) == 0;
    for (uint64_t pfn : pfns) {
      auto got = dump.read(pfn * page, a);
      if (!got) {
        // Filtered out (makedumpfile -d) or a hole: fine, as long as it says so.
        EXPECT_EQ(got.error().code, Errc::fault) << got.error().message;
        ++excluded;
        continue;
      }
      ++present;
      auto want = refd.read(pfn * page, b);
      ASSERT_TRUE(want) << "pfn " << pfn << " is in " << e.name << " but not in " << ref_name << ": "
                        << want.error().message;
      if (a != b && elf && std::all_of(a.begin(), a.end(), [](uint8_t c) { return c == 0; })) {
        ++zero_filled;
        continue;
      }
      if (a != b && ++mismatched <= 5) ADD_FAILURE() << "pfn " << std::hex << pfn << " differs from " << ref_name;
    }
    EXPECT_EQ(mismatched, 0u);
    EXPECT_GT(present, 0u);
    std::printf("  %s: %llu pages equal to %s, %llu not in the dump, %llu zero-filled\n", e.name.c_str(),
                static_cast<unsigned long long>(present - zero_filled), ref_name.c_str(),
                static_cast<unsigned long long>(excluded), static_cast<unsigned long long>(zero_filled));
    ++compared_files;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  compared %d files in %.1f s\n", compared_files, secs);
  if (compared_files == 0) GTEST_SKIP() << "no comparable pairs in " << set_;
}
