#include "kernel/pagecache.h"

#include <fmt/format.h>

#include "kernel/mm.h"
#include "kernel/radix_tree.h"
#include "kernel/walkers.h"

namespace coroner::kernel {
namespace {

// log2 of the kernel's page size (12 on x86_64; 12, 14 or 16 on arm64).
uint64_t page_shift(Kernel& k) { return static_cast<uint64_t>(__builtin_ctzll(k.arch().page_size())); }

// crash's mkstring(CENTER|LJUST / CENTER|RJUST): the odd space on the right or the left.
std::string center(std::string_view s, size_t width, bool rjust) {
  if (s.size() >= width) return std::string(s);
  size_t extra = width - s.size();
  size_t left = extra / 2 + ((extra % 2) && rjust ? 1 : 0);
  return std::string(left, ' ') + std::string(s) + std::string(extra - left, ' ');
}

struct Sparsemem {
  uint64_t section_bits, physmem_bits, roots;
};

Result<Sparsemem> sparsemem(Kernel& k) {
  const auto& vi = k.vmcoreinfo();
  auto section_bits = vi.number("NUMBER(SECTION_SIZE_BITS)");
  auto physmem_bits = vi.number("NUMBER(MAX_PHYSMEM_BITS)");
  auto roots = vi.symbol("mem_section");
  if (!section_bits || !physmem_bits || !roots || *section_bits <= 12 || *physmem_bits > 64 ||
      *physmem_bits <= *section_bits)
    return Error::make(Errc::no_debug_info,
                       "VMCOREINFO lacks the sparsemem layout (SECTION_SIZE_BITS, MAX_PHYSMEM_BITS, mem_section)");
  return Sparsemem{static_cast<uint64_t>(*section_bits), static_cast<uint64_t>(*physmem_bits), *roots};
}

// crash's valid_section_nr(): SECTION_MARKED_PRESENT (bit 0 of the encoded section_mem_map).
Result<bool> section_present(Kernel& k, const Sparsemem& sm, uint64_t nr) {
  uint64_t section_size = TRY(k.types().size_of_name("mem_section"));
  if (!section_size) return Error::make(Errc::bad_data, "struct mem_section has size 0");
  uint64_t per_root = k.arch().page_size() / section_size;
  if (!per_root) return Error::make(Errc::bad_data, "struct mem_section is larger than a page");
  uint64_t root = TRY(k.read_u64(sm.roots + (nr / per_root) * 8));
  if (!root) return false;
  uint64_t map = TRY(k.member<uint64_t>(root + (nr % per_root) * section_size, "mem_section", "section_mem_map"));
  return (map & 1) != 0;
}

}  // namespace

Result<std::optional<uint64_t>> page_of_phys(Kernel& k, uint64_t paddr, std::string* warning) {
  uint64_t page_size = k.arch().page_size();
  uint64_t pfn = paddr / page_size;
  auto sm = TRY(sparsemem(k));
  uint64_t nr = pfn >> (sm.section_bits - page_shift(k));
  if (nr >= (1ull << (sm.physmem_bits - sm.section_bits))) {
    if (warning) *warning = fmt::format("WARNING: sparsemem: invalid section number: {}\n", nr);
    return std::optional<uint64_t>{};
  }
  if (!TRY(section_present(k, sm, nr))) return std::optional<uint64_t>{};
  uint64_t vmemmap = TRY(vmemmap_of(k));
  uint64_t struct_size = TRY(k.types().size_of_name("page"));
  return std::optional<uint64_t>{vmemmap + pfn * struct_size};
}

Result<std::optional<uint64_t>> phys_of_page(Kernel& k, uint64_t page) {
  uint64_t vmemmap = TRY(vmemmap_of(k));
  uint64_t struct_size = TRY(k.types().size_of_name("page"));
  auto sm = TRY(sparsemem(k));
  if (!struct_size || page < vmemmap || (page - vmemmap) % struct_size) return std::optional<uint64_t>{};
  uint64_t pfn = (page - vmemmap) / struct_size;
  uint64_t nr = pfn >> (sm.section_bits - page_shift(k));
  if (nr >= (1ull << (sm.physmem_bits - sm.section_bits))) return std::optional<uint64_t>{};
  if (!TRY(section_present(k, sm, nr))) return std::optional<uint64_t>{};
  return std::optional<uint64_t>{pfn * k.arch().page_size()};
}

Result<PageInfo> read_page_info(Kernel& k, uint64_t page, uint64_t phys) {
  PageInfo p;
  p.page = page;
  p.phys = phys & ~(k.arch().page_size() - 1);
  p.flags = TRY(k.member_uint(page, "page", "flags"));
  p.mapping = TRY(k.member<uint64_t>(page, "page", "mapping"));
  p.index = TRY(k.member<uint64_t>(page, "page", "index"));
  p.count = static_cast<int32_t>(TRY(k.member<uint32_t>(page, "page", "_refcount")));
  return p;
}

Result<std::string> format_page_line(Kernel& k, const PageInfo& p) {
  std::string names = p.flags ? format_page_flags(p.flags, TRY(page_flag_names(k))) : "0";
  return fmt::format("{:<16x} {:>8x} {:>16x} {:>8x} {:>2} {}\n", p.page, p.phys, p.mapping, p.index, p.count, names);
}

std::string page_header() {
  return fmt::format("{} {} {} {}CNT FLAGS\n", center("PAGE", 16, false), "PHYSICAL", center("MAPPING", 16, true),
                     center("INDEX", 8, true));
}

Result<PageCache> mapping_pages(Kernel& k, uint64_t mapping, size_t limit) {
  PageCache out;
  // 4.20+: i_pages is a struct xarray; 4.17-4.19: i_pages is a radix_tree_root; before:
  // page_tree.
  auto& types = k.types();
  symbols::TypeRef as = TRY(types.find("struct address_space"));
  auto member = types.member(as, "i_pages");
  if (!member) member = types.member(as, "page_tree");
  if (!member) return Error::make(Errc::no_debug_info, "struct address_space has neither i_pages nor page_tree");
  std::string type = types.name(types.resolve(member->type));
  // crash's test (filesys.c): an xarray, or a radix_tree_root that has xa_head (the XArray
  // behind the radix tree API).
  out.xarray = type.find("xarray") != std::string::npos ||
               (type.find("radix_tree_root") != std::string::npos && types.has_member("radix_tree_root", "xa_head"));
  uint64_t tree = mapping + member->offset();
  if (out.xarray) {
    for (auto& e : TRY(xarray_walk(k, tree, limit))) {
      if (e.entry & 3) continue;  // a value entry (workingset shadow, swap) or internal entry
      out.pages.push_back({e.index, e.entry});
    }
    return out;
  }
  if (type.find("radix_tree_root") == std::string::npos)
    return Error::make(Errc::unsupported, "address_space page cache of type {}: neither an xarray nor a radix tree", type);
  for (auto& e : TRY(radix_tree_walk(k, tree, limit))) {
    if (radix_tree_exceptional(e.entry)) continue;  // shadow or swap entry
    out.pages.push_back({e.index, e.entry});
  }
  return out;
}

}  // namespace coroner::kernel
