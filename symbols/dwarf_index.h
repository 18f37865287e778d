// A name index over the vmlinux's DWARF: global variables and named types -> the offset of
// their DIE in .debug_info. Building it reads every compile unit's top-level DIEs (about
// 0.75 s single-threaded on a 6.1 debug vmlinux), so it is built only when a command first
// needs it, on two threads, and saved in a cache file keyed by the vmlinux build ID: later
// sessions load it in milliseconds. A cache file that is stale or damaged is rebuilt.
//
//   auto idx = TRY(DwarfIndex::open(vm, DwarfIndex::default_cache_dir()));
//   if (auto die = idx->variable("jiffies")) ...   // dwarf_offdie(dwarf, *die, &d)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "symbols/vmlinux.h"

namespace coroner::symbols {

class DwarfIndex {
 public:
  // variable: a global variable's definition (it has a location); declaration: an extern
  // declaration, the answer when there is no definition (jiffies comes from the linker
  // script). function: a function's first DIE.
  enum class Kind : uint32_t { variable = 1, type = 2, function = 3, declaration = 4 };

  // Loads the index for this vmlinux from `cache_dir`, or builds and saves it.
  static Result<std::unique_ptr<DwarfIndex>> open(const Vmlinux& vm, const std::string& cache_dir);
  // Builds it without touching any cache.
  static Result<std::unique_ptr<DwarfIndex>> build(const Vmlinux& vm);
  // $CORONER_CACHE, else $XDG_CACHE_HOME/coroner, else ~/.cache/coroner; "/index" appended.
  static std::string default_cache_dir();
  static std::string cache_path(const Vmlinux& vm, const std::string& cache_dir);

  std::optional<uint64_t> variable(std::string_view name) const {
    auto d = lookup(Kind::variable, name);
    return d ? d : lookup(Kind::declaration, name);
  }
  std::optional<uint64_t> function(std::string_view name) const { return lookup(Kind::function, name); }
  std::optional<uint64_t> type(std::string_view name) const { return lookup(Kind::type, name); }
  size_t size() const { return entries_.size(); }
  bool loaded_from_cache() const { return from_cache_; }

  // Serialization (exposed for tests): the file image and its parser.
  std::vector<uint8_t> serialize(const Vmlinux& vm) const;
  static Result<std::unique_ptr<DwarfIndex>> parse(std::span<const uint8_t> file, const Vmlinux& vm, std::string_view path);

 private:
  struct Entry {
    uint32_t name_off;
    Kind kind;
    uint64_t die;
  };
  std::optional<uint64_t> lookup(Kind k, std::string_view name) const;
  void add(Kind k, std::string_view name, uint64_t die);
  void finish();

  std::string strings_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string_view, uint32_t> by_name_[5];
  bool from_cache_ = false;
};

}  // namespace coroner::symbols
