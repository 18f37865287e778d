#include "kernel/object_sizes.h"

#include <algorithm>
#include <map>
#include <string>

#include <fmt/format.h>

namespace coroner::kernel {
namespace {

struct DownsizedSizes {
  std::map<std::string, std::optional<uint64_t>, std::less<>> by_name;  // worked out on first use
};

std::optional<uint64_t> allocated_size(Kernel& k, std::string_view name) {
  auto& types = k.types();
  if (name == "task_struct") {
    auto at = k.symbol("arch_task_struct_size");
    if (!at) return std::nullopt;
    auto v = k.read_as<int32_t>(*at);
    if (!v || *v <= 0) return std::nullopt;
    return static_cast<uint64_t>(*v);
  }
  if (name == "kmem_cache") {
    // SLUB's kmem_cache only (cpu_slab); crash sizes SLAB's another way.
    if (!types.has_member("kmem_cache", "cpu_slab")) return std::nullopt;
    auto var = k.symbol("kmem_cache");
    if (!var) return std::nullopt;
    auto cache = k.read_u64(*var);
    if (!cache || !*cache) return std::nullopt;
    const char* member = types.has_member("kmem_cache", "object_size") ? "object_size" : "objsize";
    auto size = k.member_uint(*cache, "kmem_cache", member);
    if (!size || !*size) return std::nullopt;
    return *size;
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> downsized_size(Kernel& k, std::string_view struct_name) {
  auto& cache = k.extension<DownsizedSizes>().by_name;
  if (auto it = cache.find(struct_name); it != cache.end()) return it->second;
  std::optional<uint64_t> result;
  if (auto t = k.types().find(fmt::format("struct {}", struct_name)))
    if (auto full = k.types().size_of(*t))
      if (auto real = allocated_size(k, struct_name); real && *real != *full) result = real;
  cache.emplace(std::string(struct_name), result);
  return result;
}

Result<std::vector<uint8_t>> read_shown_structure(Kernel& k, std::string_view struct_name, uint64_t addr, uint64_t size) {
  std::vector<uint8_t> bytes(size);
  if (!downsized_size(k, struct_name)) {
    TRY(k.read(addr, bytes));
    return bytes;
  }
  // Page by page, as crash's readmem() does, keeping what was read before the first failure.
  uint64_t done = 0;
  while (done < size) {
    uint64_t chunk = std::min<uint64_t>(size - done, 4096 - ((addr + done) & 4095));
    auto r = k.read(addr + done, std::span(bytes).subspan(done, chunk));
    if (!r) {
      if (done == 0) return r.error();
      std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(done), bytes.end(), uint8_t{0});
      break;
    }
    done += chunk;
  }
  return bytes;
}

}  // namespace coroner::kernel
