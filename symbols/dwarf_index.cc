#include "symbols/dwarf_index.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/bytes.h"
#include "base/mapped_file.h"

namespace coroner::symbols {
namespace {

constexpr char kMagic[8] = {'C', 'O', 'R', 'D', 'W', 'I', 'X', '1'};
constexpr uint32_t kVersion = 4;
constexpr uint64_t kMaxEntries = 1u << 26;  // far above any kernel's few million names

struct Found {
  DwarfIndex::Kind kind;
  std::string name;
  uint64_t die;
};

// Scans the top-level DIEs of compile units [first, last) of the CU list.
void scan(const std::string& path, const std::vector<Dwarf_Off>& cus, size_t first, size_t last, std::vector<Found>& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  Dwarf* dw = dwarf_begin(fd, DWARF_C_READ);
  if (!dw) {
    close(fd);
    return;
  }
  for (size_t i = first; i < last; ++i) {
    Dwarf_Die cu, child;
    if (!dwarf_offdie(dw, cus[i], &cu) || dwarf_child(&cu, &child) != 0) continue;
    do {
      int tag = dwarf_tag(&child);
      if (tag == DW_TAG_variable) {
        // A definition: it has a location (declarations and externs do not). The name may
        // live on the declaration it completes (DW_AT_specification): dwarf_diename follows it.
        // A definition has a location; an extern declaration is kept as the fallback.
        auto kind = dwarf_hasattr(&child, DW_AT_location) ? DwarfIndex::Kind::variable : DwarfIndex::Kind::declaration;
        if (kind == DwarfIndex::Kind::declaration && !dwarf_hasattr(&child, DW_AT_declaration)) continue;
        if (const char* n = dwarf_diename(&child)) out.push_back({kind, n, dwarf_dieoffset(&child)});
      } else if (tag == DW_TAG_subprogram) {
        if (const char* n = dwarf_diename(&child)) out.push_back({DwarfIndex::Kind::function, n, dwarf_dieoffset(&child)});
      } else if (tag == DW_TAG_structure_type || tag == DW_TAG_union_type || tag == DW_TAG_enumeration_type ||
                 tag == DW_TAG_typedef || tag == DW_TAG_base_type) {
        if (dwarf_hasattr(&child, DW_AT_declaration)) continue;
        if (const char* n = dwarf_diename(&child)) out.push_back({DwarfIndex::Kind::type, n, dwarf_dieoffset(&child)});
      }
    } while (dwarf_siblingof(&child, &child) == 0);
  }
  dwarf_end(dw);
  close(fd);
}

}  // namespace

std::string DwarfIndex::default_cache_dir() {
  if (const char* c = getenv("CORONER_CACHE"); c && *c) return std::string(c) + "/index";
  if (const char* x = getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/coroner/index";
  const char* home = getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/coroner/index";
}

std::string DwarfIndex::cache_path(const Vmlinux& vm, const std::string& cache_dir) {
  return cache_dir + "/" + (vm.build_id().empty() ? "no-build-id" : vm.build_id()) + ".dwidx";
}

void DwarfIndex::add(Kind k, std::string_view name, uint64_t die) {
  entries_.push_back({static_cast<uint32_t>(strings_.size()), k, die});
  strings_.append(name);
  strings_.push_back('\0');
}

void DwarfIndex::finish() {
  for (auto& m : by_name_) m.clear();
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    std::string_view n(strings_.data() + entries_[i].name_off);
    by_name_[static_cast<int>(entries_[i].kind)].emplace(n, i);  // first definition wins
  }
}

std::optional<uint64_t> DwarfIndex::lookup(Kind k, std::string_view name) const {
  const auto& m = by_name_[static_cast<int>(k)];
  auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  return entries_[it->second].die;
}

Result<std::unique_ptr<DwarfIndex>> DwarfIndex::build(const Vmlinux& vm) {
  if (!vm.has_dwarf()) return Error::make(Errc::no_debug_info, "{}: no DWARF (.debug_info): variable types need a debug vmlinux", vm.path());
  int fd = ::open(vm.path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::make(Errc::os, "{}: {}", vm.path(), std::strerror(errno));
  Dwarf* dw = dwarf_begin(fd, DWARF_C_READ);
  if (!dw) {
    close(fd);
    return Error::make(Errc::bad_data, "{}: cannot read DWARF: {}", vm.path(), dwarf_errmsg(-1));
  }
  std::vector<Dwarf_Off> cus;
  Dwarf_Off off = 0, next;
  size_t hsize;
  while (dwarf_nextcu(dw, off, &next, &hsize, nullptr, nullptr, nullptr) == 0) {
    cus.push_back(off + hsize);
    off = next;
  }
  dwarf_end(dw);
  close(fd);
  // Two halves on two threads, each with its own libdw handle.
  std::vector<Found> a, b;
  size_t mid = cus.size() / 2;
  std::thread t([&] { scan(vm.path(), cus, mid, cus.size(), b); });
  scan(vm.path(), cus, 0, mid, a);
  t.join();
  // Headers repeat the same types and declarations in every compile unit: keep the first
  // of each name and kind (the index points at one representative DIE).
  std::unique_ptr<DwarfIndex> idx(new DwarfIndex());
  std::unordered_map<std::string_view, uint32_t> seen[5];
  for (auto* part : {&a, &b})
    for (auto& f : *part)
      if (seen[static_cast<int>(f.kind)].emplace(f.name, 0).second) idx->add(f.kind, f.name, f.die);
  idx->finish();
  return idx;
}

std::vector<uint8_t> DwarfIndex::serialize(const Vmlinux& vm) const {
  std::vector<uint8_t> out;
  auto put = [&](const void* p, size_t n) { out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n); };
  auto put32 = [&](uint32_t v) { put(&v, 4); };
  auto put64 = [&](uint64_t v) { put(&v, 8); };
  put(kMagic, 8);
  put32(kVersion);
  put32(static_cast<uint32_t>(vm.build_id().size()));
  put(vm.build_id().data(), vm.build_id().size());
  put64(static_cast<uint64_t>(entries_.size()));
  put64(static_cast<uint64_t>(strings_.size()));
  for (auto& e : entries_) {
    put32(e.name_off);
    put32(static_cast<uint32_t>(e.kind));
    put64(e.die);
  }
  put(strings_.data(), strings_.size());
  uint32_t crc = static_cast<uint32_t>(crc32(0, out.data(), static_cast<uInt>(out.size())));
  put32(crc);
  return out;
}

Result<std::unique_ptr<DwarfIndex>> DwarfIndex::parse(std::span<const uint8_t> file, const Vmlinux& vm, std::string_view path) {
  ByteView v(file, path);
  if (file.size() < 8 + 4 + 4 + 8 + 8 + 4 || std::memcmp(file.data(), kMagic, 8) != 0)
    return Error::make(Errc::bad_data, "{}: not a coroner DWARF index", path);
  uint32_t stored_crc = TRY(v.u32(file.size() - 4, "checksum"));
  if (stored_crc != static_cast<uint32_t>(crc32(0, file.data(), static_cast<uInt>(file.size() - 4))))
    return Error::make(Errc::bad_data, "{}: checksum mismatch", path);
  if (TRY(v.u32(8, "version")) != kVersion) return Error::make(Errc::bad_data, "{}: index version differs", path);
  uint32_t bid_len = TRY(v.u32(12, "build ID length"));
  ByteView bid = TRY(v.sub(16, bid_len, "build ID"));
  if (std::string_view(reinterpret_cast<const char*>(bid.data()), bid.size()) != vm.build_id())
    return Error::make(Errc::mismatch, "{}: made for another vmlinux (build ID)", path);
  uint64_t pos = 16 + bid_len;
  uint64_t count = TRY(v.u64(pos, "entry count"));
  uint64_t strsize = TRY(v.u64(pos + 8, "string table size"));
  pos += 16;
  if (count > kMaxEntries) return Error::make(Errc::bad_data, "{}: absurd entry count {}", path, count);
  ByteView table = TRY(v.sub(pos, count * 16, "entries"));
  ByteView strings = TRY(v.sub(pos + count * 16, strsize, "strings"));
  if (pos + count * 16 + strsize + 4 != file.size()) return Error::make(Errc::bad_data, "{}: size does not add up", path);
  if (strsize == 0 || strings.data()[strsize - 1] != 0) return Error::make(Errc::bad_data, "{}: string table not terminated", path);
  std::unique_ptr<DwarfIndex> idx(new DwarfIndex());
  idx->strings_.assign(reinterpret_cast<const char*>(strings.data()), strsize);
  idx->entries_.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t name_off = TRY(table.u32(i * 16));
    uint32_t kind = TRY(table.u32(i * 16 + 4));
    if (name_off >= strsize || kind < 1 || kind > 4) return Error::make(Errc::bad_data, "{}: bad entry {}", path, i);
    idx->entries_[i] = {name_off, static_cast<Kind>(kind), TRY(table.u64(i * 16 + 8))};
  }
  idx->finish();
  idx->from_cache_ = true;
  return idx;
}

Result<std::unique_ptr<DwarfIndex>> DwarfIndex::open(const Vmlinux& vm, const std::string& cache_dir) {
  std::string path = cache_path(vm, cache_dir);
  if (!vm.build_id().empty()) {
    if (auto f = MappedFile::open(path)) {
      if (auto idx = parse((*f)->bytes(), vm, path)) return std::move(*idx);
      // Stale or damaged: fall through and rebuild it.
    }
  }
  auto idx = TRY(build(vm));
  if (!vm.build_id().empty()) {
    // Written atomically: a temporary file renamed into place. A failure to cache is not an
    // error for the caller; the index is still usable.
    std::error_code ec;
    std::filesystem::create_directories(cache_dir, ec);
    std::string tmp = fmt::format("{}.tmp.{}", path, getpid());
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      auto bytes = idx->serialize(vm);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      if (!out) ec = std::make_error_code(std::errc::io_error);
    }
    if (!ec && std::rename(tmp.c_str(), path.c_str()) != 0) ec = std::error_code(errno, std::generic_category());
    if (ec) std::remove(tmp.c_str());
  }
  return idx;
}

}  // namespace coroner::symbols
