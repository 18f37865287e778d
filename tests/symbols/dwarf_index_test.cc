// DwarfIndex on this test binary's own DWARF: building, the on-disk cache (reused, and
// rebuilt when damaged or made for another build), and declarations from DWARF.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "symbols/dwarf_index.h"
#include "symbols/dwarf_info.h"

using namespace coroner;
using namespace coroner::symbols;

// Things for the index to find.
struct index_probe_struct {
  int a;
};
volatile unsigned long index_probe_counter = 3;
index_probe_struct index_probe_array[4];

namespace {

std::unique_ptr<Vmlinux> self() {
  auto vm = Vmlinux::open("/proc/self/exe");
  EXPECT_TRUE(vm) << vm.error().message;
  return vm ? std::move(*vm) : nullptr;
}

std::filesystem::path temp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("coroner-dwidx-" + std::to_string(getpid()));
  std::filesystem::remove_all(d);
  return d;
}

}  // namespace

TEST(DwarfIndex, FindsVariablesAndTypes) {
  auto vm = self();
  ASSERT_TRUE(vm);
  if (!vm->has_dwarf()) GTEST_SKIP() << "test binary built without -g";
  auto idx = DwarfIndex::build(*vm);
  ASSERT_TRUE(idx) << idx.error().message;
  EXPECT_TRUE((*idx)->variable("index_probe_counter"));
  EXPECT_TRUE((*idx)->type("index_probe_struct"));
  EXPECT_FALSE((*idx)->variable("no_such_variable_anywhere"));
}

TEST(DwarfIndex, CacheIsReusedAndRebuiltWhenDamaged) {
  auto vm = self();
  ASSERT_TRUE(vm);
  if (!vm->has_dwarf() || vm->build_id().empty()) GTEST_SKIP() << "needs -g and a build ID";
  auto dir = temp_dir();
  auto first = DwarfIndex::open(*vm, dir.string());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_FALSE((*first)->loaded_from_cache());
  std::string path = DwarfIndex::cache_path(*vm, dir.string());
  ASSERT_TRUE(std::filesystem::exists(path));

  auto second = DwarfIndex::open(*vm, dir.string());
  ASSERT_TRUE(second);
  EXPECT_TRUE((*second)->loaded_from_cache());
  EXPECT_EQ((*second)->size(), (*first)->size());
  EXPECT_EQ((*second)->variable("index_probe_counter"), (*first)->variable("index_probe_counter"));

  // Flip one byte in the middle: the checksum catches it, and open() rebuilds.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(path) / 2));
    f.put('\x5a');
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bad = DwarfIndex::parse(bytes, *vm, path);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("checksum mismatch"), std::string::npos);
  auto third = DwarfIndex::open(*vm, dir.string());
  ASSERT_TRUE(third);
  EXPECT_FALSE((*third)->loaded_from_cache());

  // Truncated files never parse.
  for (size_t n : {size_t{0}, size_t{7}, size_t{40}, bytes.size() / 3})
    EXPECT_FALSE(DwarfIndex::parse(std::span(bytes).first(n), *vm, path));
  std::filesystem::remove_all(dir);
}

TEST(DwarfInfo, DeclaresVariablesLikeGdb) {
  auto vm = self();
  ASSERT_TRUE(vm);
  if (!vm->has_dwarf()) GTEST_SKIP() << "test binary built without -g";
  setenv("CORONER_CACHE", temp_dir().string().c_str(), 1);
  DwarfInfo info(*vm);
  auto a = info.declare_variable("index_probe_counter");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(*a, "volatile unsigned long index_probe_counter");
  auto b = info.declare_variable("index_probe_array");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(*b, "struct index_probe_struct index_probe_array[4]");  // C spelling, as for kernels
  EXPECT_FALSE(info.declare_variable("no_such_variable_anywhere"));
  unsetenv("CORONER_CACHE");
}
